-- Folders of forms, and the per-form settings the Jotform-compatible API keeps: webhook URLs (stored and listed;
-- delivery comes with the webhook outbox) and presentational form properties kept for round-trips. None of it is
-- PHI. Every row carries org_id and references its parent through (org_id, id), so nothing points across tenants.

-- A folder tree per organisation (DESIGN.md §4: organisation → folders → forms). A NULL parent is a top-level
-- folder; deleting a folder deletes its subfolders, and their forms go back to the top level.
CREATE TABLE folders (
    org_id     UUID NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    parent_id  UUID,
    name       TEXT NOT NULL,
    color      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, parent_id) REFERENCES folders (org_id, id) ON DELETE CASCADE
);
CREATE INDEX folders_by_parent ON folders (org_id, parent_id);

-- Which folder a form is in (at most one); a form without a row is at the top level.
CREATE TABLE folder_forms (
    org_id    UUID NOT NULL,
    form_id   UUID NOT NULL,
    folder_id UUID NOT NULL,
    PRIMARY KEY (org_id, form_id),
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, folder_id) REFERENCES folders (org_id, id) ON DELETE CASCADE
);
CREATE INDEX folder_forms_by_folder ON folder_forms (org_id, folder_id);

-- Webhook URLs of a form, numbered per form from 0 in order of creation (Jotform's webhook ids): a new one gets one
-- past the largest number present.
CREATE TABLE form_webhooks (
    org_id     UUID NOT NULL,
    form_id    UUID NOT NULL,
    id         BIGINT NOT NULL,
    url        TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, form_id, id),
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE
);

-- Presentational form properties set through the compatible API (an allow-list of keys; see
-- sealform_core::form_settings), returned as they were set.
CREATE TABLE form_properties (
    org_id  UUID NOT NULL,
    form_id UUID NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (org_id, form_id, key),
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE
);
