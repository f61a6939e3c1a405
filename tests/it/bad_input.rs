//! Bad input on every route: malformed and oversized bodies, invalid UTF-8, wrong methods and content types,
//! injection strings, unknown ids. Each gets a 4xx (or a redirect to the login page); never a 5xx, never a hang.

use reqwest::Method;

use crate::support::{admin, client, start};

const ROUTES: &[&str] = &[
    "/",
    "/healthz",
    "/readyz",
    "/static/app.css",
    "/static/favicon.svg",
    "/login",
    "/login/mfa",
    "/logout",
    "/console",
    "/console/audit",
    "/console/password",
    "/console/mfa",
    "/console/sessions",
    "/console/sessions/revoke",
    "/console/users",
    "/console/users/invite",
    "/console/users/deactivate",
    "/console/users/role",
    "/console/reauth",
    "/console/api-keys",
    "/console/api-keys/revoke",
    "/api/v1/me",
    "/invite/not-a-real-token",
    "/reset",
    "/reset/not-a-real-token",
    "/csp-report",
];

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("application/x-www-form-urlencoded", b"email=%FF%FE&password=%00&csrf=\xff\xfe".to_vec()),
        ("application/x-www-form-urlencoded", vec![0xff, 0xfe, 0xfd, b'=', 0x80]),
        ("application/x-www-form-urlencoded", b"email=<script>alert(1)</script>&password=' OR 1=1 --&csrf=x".to_vec()),
        ("application/json", b"{\"csp-report\": [1, 2, {\"a\": null}]".to_vec()),
        ("application/json", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec()),
        ("text/plain", vec![b'x'; 200_000]),
        ("application/octet-stream", Vec::new()),
    ]
}

#[tokio::test]
async fn no_route_answers_bad_input_with_a_server_error() {
    let server = start(&["--max-body-bytes", "65536"]);
    let dir = server.data_dir().to_path_buf();
    let boot = admin(
        &dir,
        &["admin", "bootstrap", "--org", "Clinic", "--email", "o@c.example", "--password-stdin"],
        Some("a long passphrase here\n"),
    );
    assert!(boot.status.success());
    let mut checked = 0;
    for route in ROUTES {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            for (content_type, body) in bodies() {
                let url =
                    format!("{}{route}?action=%3Cscript%3E&target=%27%3B--&from=2026-13-45&actor=%FF", server.url);
                let response = client()
                    .request(method.clone(), &url)
                    .header("content-type", content_type)
                    .header("cookie", "__Host-sealform=forged; __Host-sealform-login=x")
                    .header("authorization", "Bearer sf_0123456789_%%%';--")
                    .body(body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{method} {route}: {e}"));
                let status = response.status().as_u16();
                assert!(status < 500, "{method} {route} with {content_type} answered {status}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ROUTES.len() * 5 * bodies().len());
    let output = server.output();
    assert!(!output.contains("panicked"), "the server panicked: {output}");
    assert!(!output.contains("<script>"), "request content reached the logs");
}
