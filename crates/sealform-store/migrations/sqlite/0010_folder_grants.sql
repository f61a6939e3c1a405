-- Grants on folders (DESIGN.md §6, issue #9): rights on every form in the folder and in the folders below it. Read
-- expanded per form with the member's form grants; like those, an expired grant stays until revoked but counts for
-- nothing. Deleting the folder or the membership deletes the grant.
CREATE TABLE folder_grants (
    org_id     BLOB NOT NULL,
    folder_id  BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    rights     TEXT NOT NULL,
    hide_phi   INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT,
    granted_by BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, folder_id, user_id),
    FOREIGN KEY (org_id, folder_id) REFERENCES folders (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX folder_grants_by_user ON folder_grants (org_id, user_id);
