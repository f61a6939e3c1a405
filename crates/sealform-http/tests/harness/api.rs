//! Native API helpers: keys made through the core service and JSON requests with a bearer key.

use sealform_core::api_keys::Scope;
use sealform_core::audit::AuditScope;
use sealform_core::ids::{FormId, OrgId};

use super::*;

/// An answer of the native API, its body parsed as JSON when it is JSON.
pub struct ApiReply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
    pub json: serde_json::Value,
}

impl ApiReply {
    /// The problem document's `code`.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }

    /// Asserts an RFC 9457 problem with this status.
    pub fn assert_problem(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.headers["content-type"], "application/problem+json", "{}", self.body);
        assert_eq!(self.json["status"], status.as_u16(), "{}", self.body);
    }
}

impl<S: Store> Console<S> {
    /// A key of `email` (a member of `org`) with `scopes`, optionally restricted to `form`.
    pub async fn key_in(&self, org: OrgId, email: &str, scopes: &[Scope], form: Option<FormId>) -> String {
        let scope = AuditScope::operator();
        let audit = AuditCtx { auditor: &self.auditor, scope: &scope };
        let (key, _) = sealform_core::api_keys::create(
            &self.store,
            &self.clock,
            audit,
            org,
            email,
            "test",
            scopes.to_vec(),
            form,
            None,
        )
        .await
        .unwrap();
        key.to_string()
    }

    /// A key of organisation A's `email`.
    pub async fn key(&self, email: &str, scopes: &[Scope]) -> String {
        self.key_in(self.org_a, email, scopes, None).await
    }

    /// Sends raw bytes with headers and an optional key.
    pub async fn api_raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> ApiReply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = self.send(request.body(Body::from(body)).unwrap()).await;
        let json = serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null);
        ApiReply { status: reply.status, headers: reply.headers, body: reply.body, json }
    }

    /// Sends a JSON body (or none) with a key.
    pub async fn api(&self, method: &str, path: &str, key: &str, body: Option<serde_json::Value>) -> ApiReply {
        match body {
            Some(body) => {
                let bytes = serde_json::to_vec(&body).unwrap();
                self.api_raw(method, path, Some(key), &[("content-type", "application/json")], bytes).await
            }
            None => self.api_raw(method, path, Some(key), &[], Vec::new()).await,
        }
    }

    /// The audit entries of organisation A with this action, newest first, opened.
    pub async fn audit_of(&self, action: sealform_core::audit::Action) -> Vec<sealform_core::audit::Detail> {
        let query = sealform_core::audit::AuditQuery {
            org: self.org_a,
            action: Some(action),
            actor: None,
            target_hash: None,
            from: None,
            to: None,
            limit: 1000,
        };
        use sealform_core::store::AuditStore as _;
        let rows = self.store.tenant(query.org).audit_search(query).await.unwrap();
        rows.iter().map(|row| self.auditor.open_detail(row).unwrap()).collect()
    }
}
