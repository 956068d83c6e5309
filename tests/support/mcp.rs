//! The official MCP SDK fixtures the MCP tests start: the Streamable HTTP server on a free port
//! (restartable on the same port), and the paths of the venv's Python and the fixture scripts.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::clients;

pub fn python() -> PathBuf {
    clients::setup().join("venv/bin/python")
}

pub fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
        .display()
        .to_string()
}

/// A fixture HTTP server on a free port; killed on drop.
pub struct HttpServer {
    child: Child,
    pub port: u16,
    json: bool,
}

impl HttpServer {
    pub fn start(port: Option<u16>, json: bool) -> HttpServer {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        });
        let mut command = Command::new(python());
        command
            .arg(script("mcp_server_http.py"))
            .arg(port.to_string())
            .env("MCP_FIXTURE_TOKEN", "sesame")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if json {
            command.arg("json");
        }
        let child = command.spawn().expect("python");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the fixture HTTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpServer { child, port, json }
    }

    pub fn restart(mut self) -> HttpServer {
        let (port, json) = (self.port, self.json);
        let _ = self.child.kill();
        let _ = self.child.wait();
        HttpServer::start(Some(port), json)
    }

    /// A `[[mcp_servers]]` entry named `web` for this server (its token from `env:FIXTURE_TOKEN`).
    pub fn config(&self, timeout_ms: u64) -> String {
        format!(
            "[[mcp_servers]]\nname = \"web\"\nurl = \"http://127.0.0.1:{}/mcp\"\nheaders = {{ Authorization = \"env:FIXTURE_TOKEN\" }}\ncall_timeout_ms = {timeout_ms}\n",
            self.port
        )
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
