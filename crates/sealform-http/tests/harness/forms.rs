//! Forms for page tests: created and published directly through the core services, and multipart bodies to post.

use sealform_core::audit::AuditScope;
use sealform_core::form_model::Definition;
use sealform_core::forms::{change_form, create_form};
use sealform_core::ids::FormId;
use sealform_core::keys::Keyring;
use sealform_core::submission::{FormChange, FormStatus};

use super::*;

impl<S: Store> Console<S> {
    /// Creates a form in organisation A with `definition`, in `status` (a new form is a draft).
    pub async fn form_with_status(&self, title: &str, definition: &Definition, status: FormStatus) -> FormId {
        let scope = AuditScope::operator();
        let audit = AuditCtx { auditor: &self.auditor, scope: &scope };
        let master = self.masters.current();
        let id =
            create_form(&self.store, master.as_ref(), audit, self.org_a, title, definition.to_json(), self.clock.now())
                .await
                .unwrap();
        if status != FormStatus::Draft {
            let change = FormChange { status: Some(status), ..FormChange::default() };
            change_form(&self.store, audit, self.org_a, id, change, self.clock.now()).await.unwrap();
        }
        id
    }

    /// Creates and publishes a form in organisation A.
    pub async fn published_form(&self, title: &str, definition: &Definition) -> FormId {
        self.form_with_status(title, definition, FormStatus::Published).await
    }

    /// A keyring over the test's store and master keys, to open what was sealed.
    pub fn keyring(&self) -> Keyring<S> {
        Keyring::new(self.store.clone(), self.masters.clone())
    }

    /// Posts a body with a content type, as a browser on this site would (no `Sec-Fetch-Site` unless given).
    pub async fn post_body(&self, path: &str, content_type: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::post(path).header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// Posts a multipart body.
    pub async fn post_multipart(&self, path: &str, body: &MultipartBody) -> Reply {
        self.post_body(path, &body.content_type(), body.bytes(), &[]).await
    }
}

/// A `multipart/form-data` body built part by part.
#[derive(Default, Clone)]
pub struct MultipartBody {
    parts: Vec<(String, Option<String>, Vec<u8>)>,
}

const BOUNDARY: &str = "----sealform-test-boundary-7d3f";

impl MultipartBody {
    pub fn new() -> Self {
        Self::default()
    }

    /// A text part.
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.parts.push((name.to_owned(), None, value.as_bytes().to_vec()));
        self
    }

    /// A text part with arbitrary bytes.
    pub fn raw(mut self, name: &str, value: &[u8]) -> Self {
        self.parts.push((name.to_owned(), None, value.to_vec()));
        self
    }

    /// A file part.
    pub fn file(mut self, name: &str, file_name: &str, bytes: &[u8]) -> Self {
        self.parts.push((name.to_owned(), Some(file_name.to_owned()), bytes.to_vec()));
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file_name, value) in &self.parts {
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match file_name {
                Some(file_name) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => {
                    out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes())
                }
            }
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }
}

/// Every regular file under `dir`, recursively, with its bytes.
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, bytes));
        }
    }
    found
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
