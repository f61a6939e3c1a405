//! HTTPS with rustls: TLS 1.3 and 1.2 are negotiated, TLS 1.1 is refused, HSTS is sent.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::server;

struct TlsServer {
    server: sealform_testkit::server::TestServer,
    cert: CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

fn start_tls() -> TlsServer {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, generated.cert.pem()).unwrap();
    std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
    let server = server()
        .args(["--tls-cert", cert_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(server.url.starts_with("https://"), "{}", server.url);
    TlsServer { server, cert: generated.cert.der().clone(), _dir: dir }
}

/// Connects with only `version` enabled, fetches /healthz, and returns the negotiated version and the response.
async fn fetch_with(
    tls: &TlsServer,
    version: &'static rustls::SupportedProtocolVersion,
) -> (rustls::ProtocolVersion, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let address = tls.server.url.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut stream = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let negotiated = stream.get_ref().1.protocol_version().unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    (negotiated, String::from_utf8_lossy(&response).into_owned())
}

#[tokio::test]
async fn tls13_and_tls12_are_negotiated_and_hsts_is_sent() {
    let tls = start_tls();
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let (negotiated, response) = fetch_with(&tls, version).await;
        assert_eq!(negotiated, expected);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(lower.contains("strict-transport-security: max-age=31536000"), "{response}");
    }
}

#[test]
fn tls11_client_hello_is_refused() {
    let tls = start_tls();
    let address = tls.server.url.trim_start_matches("https://").to_owned();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(&tls11_client_hello()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 0x15, "expected an alert record, got {reply:02x?}");
    assert_eq!(reply[5], 2, "fatal alert expected: {reply:02x?}");
    // rustls answers handshake_failure (40); protocol_version (70) would do as well. What matters: no ServerHello.
    assert!([40, 70].contains(&reply[6]), "a refusal alert expected: {reply:02x?}");
}

/// A ClientHello that offers TLS 1.1 at most: legacy version 3.2 and no supported_versions extension.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x11; 32]); // client random
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x06, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x2f]); // ECDHE-ECDSA/RSA, RSA AES-128-CBC-SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}
