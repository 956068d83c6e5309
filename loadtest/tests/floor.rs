//! The floor proxy binary over loopback, on glommio and on epoll: in front of the mock it relays
//! non-streaming and streaming responses byte for byte, several requests per keep-alive
//! connection, from many connections at once.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// A child process that is killed when the test ends, and the address it printed.
struct Running(Child, String);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` and reads its `listening ADDR ...` line.
fn start(mut command: Command) -> Running {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.split_whitespace().nth(1).unwrap().to_owned();
    Running(child, addr)
}

fn mock() -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice-mock"));
    command.args(["--exit-after", "120"]);
    start(command)
}

fn floor(reactor: &str, upstream: &str, dir: &std::path::Path) -> Running {
    let config = dir.join(format!("{reactor}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[[providers]]\nname = \"anthropic\"\n\
             base_url = \"http://{upstream}\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice-floor-proxy"));
    command
        .env("SLUICE_FLOOR_REACTOR", reactor)
        .arg("serve")
        .arg("--config")
        .arg(&config);
    start(command)
}

/// Sends one Messages request and reads its whole response: (status, body as sent).
fn post(stream: &mut TcpStream, stream_response: bool) -> (u16, Vec<u8>) {
    let body = format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":64,"stream":{stream_response},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let (status, _, body) = support::post(stream, "/v1/messages", &body);
    (status, body)
}

fn relays_like_direct(reactor: &str) {
    let dir = std::env::temp_dir().join(format!("floor-test-{}-{reactor}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let upstream = mock();
    let proxy = floor(reactor, &upstream.1, &dir);
    let mut direct = TcpStream::connect(&upstream.1).unwrap();
    let expected = [post(&mut direct, false), post(&mut direct, true)];
    assert_eq!(expected[0].0, 200);
    assert!(String::from_utf8_lossy(&expected[1].1).contains("message_stop"));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (addr, expected) = (proxy.1.clone(), expected.clone());
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(&addr).unwrap();
                for round in 0..10 {
                    let streamed = round % 2 == 1;
                    assert_eq!(post(&mut conn, streamed), expected[usize::from(streamed)]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_glommio_floor_relays_responses_as_the_mock_sends_them() {
    relays_like_direct("uring");
}

#[test]
fn the_epoll_floor_relays_responses_as_the_mock_sends_them() {
    relays_like_direct("epoll");
}
