-- Grants on folders (DESIGN.md §6, issue #9): rights on every form in the folder and in the folders below it. Read
-- expanded per form with the member's form grants; like those, an expired grant stays until revoked but counts for
-- nothing. Deleting the folder or the membership deletes the grant.
CREATE TABLE folder_grants (
    org_id     UUID NOT NULL,
    folder_id  UUID NOT NULL,
    user_id    UUID NOT NULL,
    rights     TEXT NOT NULL,
    hide_phi   BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at TIMESTAMPTZ,
    granted_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, folder_id, user_id),
    FOREIGN KEY (org_id, folder_id) REFERENCES folders (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX folder_grants_by_user ON folder_grants (org_id, user_id);
