//! SIGTERM while a request is in flight: the request completes, then the process exits 0.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::start;

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let mut server = start(&[]);
    let address = server.url.trim_start_matches("http://").to_owned();
    let body = br#"{"csp-report":{"violated-directive":"img-src","blocked-uri":"https://x.example/a.png"}}"#;
    let (first, rest) = body.split_at(10);

    // A request whose body is still arriving when the signal comes.
    let mut in_flight = TcpStream::connect(&address).unwrap();
    let head = format!(
        "POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).unwrap();
    in_flight.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    server.terminate();
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.wait_exit(Duration::from_millis(10)).is_none(), "exited with a request still in flight");

    in_flight.write_all(rest).unwrap();
    in_flight.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut reply = Vec::new();
    let _ = in_flight.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 204"), "the in-flight request must complete: {reply:?}");

    let status = server.wait_exit(Duration::from_secs(15)).expect("server did not exit after draining");
    assert!(status.success(), "exit status {status}");
    assert!(server.output().contains("received SIGTERM"), "{}", server.output());
}

#[test]
fn sigterm_on_an_idle_server_exits_zero_promptly() {
    let mut server = start(&[]);
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(15)).expect("server did not exit");
    assert!(status.success(), "exit status {status}");
}
