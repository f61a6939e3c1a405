//! The native API's operations as data: method, path, scope, parameters, body and answer of each. The router
//! registers a handler for each (a test checks the two lists are the same) and [`super::openapi`] turns this table
//! and the types' derived schemas into the OpenAPI 3.1 document.

/// What a query parameter holds.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Any text.
    Text,
    /// An integer in a range.
    Integer(u32, u32),
    /// A UUID.
    Uuid,
    /// An RFC 3339 time.
    DateTime,
    /// A `YYYY-MM-DD` day.
    Date,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

/// A query parameter.
#[derive(Clone, Copy)]
pub(crate) struct Query {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) doc: &'static str,
}

/// The body of a successful answer.
#[derive(Clone, Copy)]
pub(crate) enum Reply {
    /// JSON of this component schema.
    One(u16, &'static str),
    /// A JSON array of this component schema.
    List(&'static str),
    /// A cursor page of this component schema.
    Page(&'static str),
    /// No body.
    Empty(u16),
    /// Bytes of these media types, streamed.
    Stream(&'static [&'static str]),
    /// The OpenAPI document itself.
    Document,
    /// An HTML page.
    Html,
}

/// One operation.
pub(crate) struct Operation {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) id: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) summary: &'static str,
    /// The key scope it needs; `None` for the public document and reference page.
    pub(crate) scope: Option<&'static str>,
    pub(crate) query: &'static [Query],
    /// The component schema of the JSON body, if it takes one.
    pub(crate) body: Option<&'static str>,
    pub(crate) reply: Reply,
    /// Takes an `Idempotency-Key` header.
    pub(crate) idempotent: bool,
}

const PAGING: [Query; 2] = [
    Query { name: "cursor", kind: Kind::Text, doc: "The `next_cursor` of the previous page." },
    Query { name: "limit", kind: Kind::Integer(1, 200), doc: "Items per page (default 50)." },
];

const SUBMISSION_LIST: &[Query] = &[
    PAGING[0],
    PAGING[1],
    Query { name: "status", kind: Kind::OneOf(&["new", "read", "flagged", "archived"]), doc: "Only this status." },
    Query { name: "from", kind: Kind::DateTime, doc: "Submitted at or after." },
    Query { name: "to", kind: Kind::DateTime, doc: "Submitted before." },
    Query { name: "order", kind: Kind::OneOf(&["newest", "oldest"]), doc: "Newest first (default) or oldest first." },
];

const EXPORT: &[Query] = &[
    Query { name: "format", kind: Kind::OneOf(&["csv", "jsonl"]), doc: "CSV (default) or JSON Lines." },
    Query { name: "field", kind: Kind::Text, doc: "An answer path to export (repeat it; default every field)." },
    Query { name: "from", kind: Kind::Date, doc: "Submitted on or after this day." },
    Query { name: "to", kind: Kind::Date, doc: "Submitted on or before this day." },
];

const AUDIT: &[Query] = &[
    Query { name: "action", kind: Kind::Text, doc: "Only this action, e.g. `submission.read`." },
    Query { name: "actor", kind: Kind::Uuid, doc: "Only this user's or key's id." },
    Query { name: "target", kind: Kind::Text, doc: "Only entries about this id (a form, submission, user…)." },
    Query { name: "from", kind: Kind::DateTime, doc: "At or after." },
    Query { name: "to", kind: Kind::DateTime, doc: "Before." },
    Query { name: "limit", kind: Kind::Integer(1, 500), doc: "Entries per page (default 100), newest first." },
    Query { name: "cursor", kind: Kind::Text, doc: "The `next_cursor` of the previous page." },
];

macro_rules! op {
    ($method:literal $path:literal, $id:literal, $tag:literal, $summary:literal, $scope:expr, $query:expr, $body:expr, $reply:expr $(, $idem:literal)?) => {
        Operation {
            method: $method,
            path: $path,
            id: $id,
            tag: $tag,
            summary: $summary,
            scope: $scope,
            query: $query,
            body: $body,
            reply: $reply,
            idempotent: false $(|| $idem)?,
        }
    };
}

const NONE: &[Query] = &[];
const READ: Option<&str> = Some("read");
const WRITE: Option<&str> = Some("write");
const ADMIN: Option<&str> = Some("admin");

/// Every operation of the native API.
pub(crate) const OPERATIONS: &[Operation] = &[
    op!("GET" "/api/v1/openapi.json", "openapi", "Reference", "This document (OpenAPI 3.1).", None, NONE, None, Reply::Document),
    op!("GET" "/api/v1/docs", "reference", "Reference", "A reference page generated from this document.", None, NONE, None, Reply::Html),
    op!("GET" "/api/v1/me", "me", "Keys", "Who the key acts for and what it may do.", Some("any"), NONE, None, Reply::One(200, "Me")),
    op!("GET" "/api/v1/forms", "listForms", "Forms", "The forms the key may see, newest first.", READ, &PAGING, None, Reply::Page("Form")),
    op!("POST" "/api/v1/forms", "createForm", "Forms", "Create a draft form (form managers get a manage grant on it).", WRITE, NONE, Some("NewForm"), Reply::One(201, "Form")),
    op!("GET" "/api/v1/forms/{form}", "getForm", "Forms", "One form.", READ, NONE, None, Reply::One(200, "Form")),
    op!("PATCH" "/api/v1/forms/{form}", "updateForm", "Forms", "Change a form's title or status (publish, unpublish, archive).", WRITE, NONE, Some("FormPatch"), Reply::One(200, "Form")),
    op!("DELETE" "/api/v1/forms/{form}", "archiveForm", "Forms", "Archive a form (its submissions stay until deleted one by one).", WRITE, NONE, None, Reply::One(200, "Form")),
    op!("GET" "/api/v1/forms/{form}/questions", "getQuestions", "Forms", "A form's questions, in order.", READ, NONE, None, Reply::One(200, "Questions")),
    op!("PUT" "/api/v1/forms/{form}/questions", "replaceQuestions", "Forms", "Replace the questions (the form's next version).", WRITE, NONE, Some("Questions"), Reply::One(200, "Questions")),
    op!("GET" "/api/v1/forms/{form}/submissions", "listSubmissions", "Submissions", "A form's submissions (metadata), by cursor pages.", READ, SUBMISSION_LIST, None, Reply::Page("Submission")),
    op!("POST" "/api/v1/forms/{form}/submissions", "createSubmission", "Submissions", "Submit answers to a published form (the key's user needs a grant on it; owners and admins have every form by role). Send an `Idempotency-Key` to make retries safe.", Some("submit"), NONE, Some("NewSubmission"), Reply::One(201, "Submission"), true),
    op!("GET" "/api/v1/forms/{form}/export", "exportSubmissions", "Submissions", "Export a form's submissions as CSV or JSON Lines, streamed.", Some("export"), EXPORT, None, Reply::Stream(&["text/csv", "application/x-ndjson"])),
    op!("GET" "/api/v1/submissions/{submission}", "getSubmission", "Submissions", "A submission with its answers (audited; PHI hidden by the grant is masked).", READ, NONE, None, Reply::One(200, "SubmissionDetail")),
    op!("PUT" "/api/v1/submissions/{submission}", "editSubmission", "Submissions", "New answers, stored as the next revision.", WRITE, NONE, Some("SubmissionEdit"), Reply::One(200, "Submission")),
    op!("PATCH" "/api/v1/submissions/{submission}", "setSubmissionStatus", "Submissions", "Set a submission's status.", WRITE, NONE, Some("StatusChange"), Reply::One(200, "Submission")),
    op!("DELETE" "/api/v1/submissions/{submission}", "deleteSubmission", "Submissions", "Delete a submission for good (its keys are destroyed).", ADMIN, NONE, None, Reply::Empty(204)),
    op!("GET" "/api/v1/submissions/{submission}/revisions", "listRevisions", "Submissions", "Every revision, oldest first (audited).", READ, NONE, None, Reply::List("Revision")),
    op!("GET" "/api/v1/submissions/{submission}/files", "listFiles", "Files", "A submission's uploaded files.", READ, NONE, None, Reply::List("File")),
    op!("GET" "/api/v1/files/{file}", "downloadFile", "Files", "A file's bytes (audited).", READ, NONE, None, Reply::Stream(&["application/octet-stream"])),
    op!("GET" "/api/v1/forms/{form}/grants", "listGrants", "Access", "Who holds a grant on a form.", ADMIN, NONE, None, Reply::List("GrantOut")),
    op!("PUT" "/api/v1/forms/{form}/grants/{user}", "putGrant", "Access", "Give or replace a member's grant.", ADMIN, NONE, Some("Terms"), Reply::One(200, "GrantOut")),
    op!("DELETE" "/api/v1/forms/{form}/grants/{user}", "revokeGrant", "Access", "Revoke a member's grant.", ADMIN, NONE, None, Reply::Empty(204)),
    op!("GET" "/api/v1/forms/{form}/access-requests", "listAccessRequests", "Access", "Pending access requests, oldest first.", ADMIN, NONE, None, Reply::List("AccessRequestOut")),
    op!("POST" "/api/v1/forms/{form}/access-requests", "requestAccess", "Access", "Ask for access for the key's user.", READ, NONE, Some("NewAccessRequest"), Reply::One(201, "AccessRequestOut")),
    op!("POST" "/api/v1/forms/{form}/access-requests/{request}", "decideAccessRequest", "Access", "Approve (with terms) or deny a pending request.", ADMIN, NONE, Some("Decision"), Reply::One(200, "AccessRequestOut")),
    op!("GET" "/api/v1/api-keys", "listApiKeys", "Keys", "The organisation's API keys (prefixes, never secrets).", ADMIN, NONE, None, Reply::List("ApiKey")),
    op!("POST" "/api/v1/api-keys", "createApiKey", "Keys", "Create a key; its text is in this answer only.", ADMIN, NONE, Some("NewApiKey"), Reply::One(201, "CreatedApiKey")),
    op!("DELETE" "/api/v1/api-keys/{prefix}", "revokeApiKey", "Keys", "Revoke a key.", ADMIN, NONE, None, Reply::Empty(204)),
    op!("GET" "/api/v1/users", "listUsers", "Users", "The organisation's members.", ADMIN, NONE, None, Reply::List("User")),
    op!("POST" "/api/v1/users", "inviteUser", "Users", "Invite someone by e-mail.", ADMIN, NONE, Some("Invitation"), Reply::One(202, "Invited")),
    op!("PATCH" "/api/v1/users/{user}", "setUserRole", "Users", "Change a member's role.", ADMIN, NONE, Some("RoleChange"), Reply::One(200, "User")),
    op!("POST" "/api/v1/users/{user}/deactivate", "deactivateUser", "Users", "Deactivate a member (their sessions end).", ADMIN, NONE, None, Reply::Empty(204)),
    op!("GET" "/api/v1/audit", "searchAudit", "Audit", "Search the audit trail, newest first (owners, admins, auditors).", READ, AUDIT, None, Reply::Page("AuditEntry")),
];

/// The (method, path) of every native API operation, as the document lists them: for the test that compares the
/// document with the router's table.
#[must_use]
pub fn native_routes() -> Vec<(&'static str, &'static str)> {
    OPERATIONS.iter().map(|op| (op.method, op.path)).collect()
}
