//! Body limits and timeouts: oversize bodies get 413; stalled clients are cut off without slowing others.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{client, start};

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn oversize_bodies_get_413_with_or_without_a_length() {
    let server = start(&["--max-body-bytes", "2048"]);
    let url = format!("{}/csp-report", server.url);
    let declared = client().post(&url).body(vec![b'{'; 4096]).send().await.unwrap();
    assert_eq!(declared.status(), 413);

    // Chunked, so the server only learns the size while reading.
    let mut chunked = TcpStream::connect(host_port(&server.url)).unwrap();
    chunked
        .write_all(b"POST /csp-report HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .unwrap();
    for _ in 0..8 {
        let _ = chunked.write_all(format!("400\r\n{}\r\n", " ".repeat(1024)).as_bytes());
    }
    let _ = chunked.write_all(b"0\r\n\r\n");
    assert_eq!(status_of(&mut chunked), 413);

    let small = client().post(&url).body(r#"{"csp-report":{"blocked-uri":"eval"}}"#).send().await.unwrap();
    assert_eq!(small.status(), 204, "bodies under the limit still work");
}

/// Reads a raw HTTP/1.1 response head and returns its status code (0 when none arrived).
fn status_of(stream: &mut TcpStream) -> u16 {
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap_or(0);
    let reply = String::from_utf8_lossy(&buf[..n]);
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn stalled_request_head_is_dropped_while_others_are_served() {
    let server = start(&["--header-timeout-secs", "1"]);
    let address = host_port(&server.url);
    let mut stalled = TcpStream::connect(&address).unwrap();
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();

    // While that client stalls, others are served normally.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..20 {
            let ok = client().get(format!("{}/healthz", server.url)).send().await.unwrap();
            assert_eq!(ok.status(), 200);
        }
    });

    stalled.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = stalled.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(14), "the stalled connection was never closed");
    let reply = String::from_utf8_lossy(&buf);
    assert!(!reply.contains("200 OK"), "a half-sent request must not be answered as complete: {reply}");
}

#[test]
fn stalled_request_body_times_out_with_a_client_error() {
    let server = start(&["--body-idle-timeout-secs", "1"]);
    let mut stalled = TcpStream::connect(host_port(&server.url)).unwrap();
    stalled
        .write_all(b"POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"csp")
        .unwrap();
    let status = status_of(&mut stalled);
    assert!((400..500).contains(&status), "expected a 4xx for a stalled body, got {status}");
}
