//! What the load-test crate's integration tests share: sending one POST on a keep-alive
//! connection and reading its whole response back with the harness's own parsers.

use std::io::{Read, Write};
use std::net::TcpStream;

use sluice_loadtest::wire::body::BodyDecoder;
use sluice_loadtest::wire::framing::parse_response_head;

/// Sends one POST of a JSON `body` to `path` and reads its whole response: (status, head text,
/// body as decoded). Nothing may follow the response on the connection.
pub fn post(stream: &mut TcpStream, path: &str, body: &str) -> (u16, String, Vec<u8>) {
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed early");
        bytes.extend_from_slice(&chunk[..n]);
        let Some(head) = parse_response_head(&bytes, false).unwrap() else {
            continue;
        };
        let mut decoder = BodyDecoder::new(head.framing).unwrap();
        let mut out = Vec::new();
        let used = decoder
            .decode(&bytes[head.head_len..], |d| out.extend_from_slice(d))
            .unwrap();
        if decoder.is_done() {
            assert_eq!(
                head.head_len + used,
                bytes.len(),
                "bytes after the response"
            );
            let text = String::from_utf8_lossy(&bytes[..head.head_len]).into_owned();
            return (head.status, text, out);
        }
    }
}
