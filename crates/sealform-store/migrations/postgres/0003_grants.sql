-- Grants on forms and access requests (DESIGN.md §6). A member who is neither owner nor admin acts on a form only
-- through their grant on it; one grant per member and form. Expired grants stay until revoked (for the review) but
-- count for nothing: authorization compares expires_at with the clock.
CREATE TABLE grants (
    org_id     UUID NOT NULL,
    form_id    UUID NOT NULL,
    user_id    UUID NOT NULL,
    rights     TEXT NOT NULL,              -- comma-separated: view, edit, export, manage
    hide_phi   BOOLEAN NOT NULL DEFAULT FALSE, -- answers to PHI questions are masked and never decrypted
    expires_at TIMESTAMPTZ,
    granted_by UUID,                       -- NULL: given by Sealform (a form's creator)
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, form_id, user_id),
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX grants_by_user ON grants (org_id, user_id);

CREATE TABLE access_requests (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL,
    form_id    UUID NOT NULL,
    user_id    UUID NOT NULL,
    reason     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at TIMESTAMPTZ NOT NULL,
    decided_by UUID,
    decided_at TIMESTAMPTZ,
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX access_requests_by_form ON access_requests (org_id, form_id, status);
