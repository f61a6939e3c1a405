-- Break-glass (DESIGN.md §6, issue #9). `emergency_access`: the member holds the emergency right, which lets them open
-- time-boxed access to a form by themselves, with a reason, alerting the owners and admins. Such a grant is marked
-- `break_glass`, so reviews and the console flag it.
ALTER TABLE memberships ADD COLUMN emergency_access INTEGER NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN break_glass BOOLEAN NOT NULL DEFAULT FALSE;
