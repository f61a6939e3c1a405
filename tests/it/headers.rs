//! Security headers on every response: pages, JSON, static assets, errors, 404s, 405s, 413s.

use reqwest::{Method, Response};

use crate::support::{client, start};

fn assert_security_headers(what: &str, response: &Response) {
    let h = response.headers();
    let get =
        |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_else(|| panic!("{what}: no {name}"));
    let csp = get("content-security-policy");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'self'") && csp.contains("object-src 'none'"), "{what}: {csp}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert!(!get("x-request-id").is_empty(), "{what}");
    // Plain HTTP on loopback: no HSTS (it would be ignored, and would pin localhost for other apps).
    assert!(h.get("strict-transport-security").is_none(), "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let server = start(&["--max-body-bytes", "1024"]);
    let url = |path: &str| format!("{}{path}", server.url);
    type Case = (&'static str, Method, String, Option<Vec<u8>>, u16);
    let cases: Vec<Case> = vec![
        ("home page", Method::GET, url("/"), None, 200),
        ("health", Method::GET, url("/healthz"), None, 200),
        ("readiness", Method::GET, url("/readyz"), None, 200),
        ("static asset", Method::GET, url("/static/app.css"), None, 200),
        ("login page", Method::GET, url("/login"), None, 200),
        ("console redirect", Method::GET, url("/console"), None, 303),
        ("malformed login", Method::POST, url("/login"), Some(b"email=x&password=y&csrf=z".to_vec()), 400),
        ("unknown path", Method::GET, url("/no/such/page"), None, 404),
        ("wrong method", Method::DELETE, url("/healthz"), None, 405),
        ("bad report", Method::POST, url("/csp-report"), Some(b"not json".to_vec()), 400),
        ("too large", Method::POST, url("/csp-report"), Some(vec![b'x'; 4096]), 413),
        (
            "good report",
            Method::POST,
            url("/csp-report"),
            Some(br#"{"csp-report":{"violated-directive":"script-src","blocked-uri":"inline"}}"#.to_vec()),
            204,
        ),
    ];
    for (what, method, target, body, status) in cases {
        let mut request = client().request(method, &target);
        if let Some(body) = body {
            request = request.header("content-type", "application/csp-report").body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_security_headers(what, &response);
        let cache = response.headers()["cache-control"].to_str().unwrap();
        if what == "static asset" {
            assert!(cache.starts_with("public"), "{what}: {cache}");
        } else {
            assert_eq!(cache, "no-store", "{what}");
        }
    }
}

#[tokio::test]
async fn client_supplied_request_ids_are_replaced() {
    let server = start(&[]);
    let response = client()
        .get(format!("{}/healthz", server.url))
        .header("x-request-id", "<script>x</script>")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid_like(id), "{id}");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
