//! A scripted mock upstream on std threads: records every request and connection close, and
//! answers each request with a script of writes, pauses, resets and closes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::tls::TestPki;

use super::wire::read_request;
pub use super::wire::{Recorded, Wire};

#[derive(Clone, Debug)]
pub enum Step {
    Write(Vec<u8>),
    /// Silence; the mock still notices the peer closing meanwhile.
    Sleep(Duration),
    /// Abort the connection with a TCP RST (SO_LINGER 0, then close).
    Reset,
    /// Close the connection (TLS close_notify first, where there is TLS).
    Close,
    /// Silence until the test opens the gate (at most [`GATE_LIMIT`]); the mock still notices
    /// the peer closing meanwhile.
    Gate(Gate),
}

/// The longest a [`Step::Gate`] holds before going on regardless.
pub const GATE_LIMIT: Duration = Duration::from_secs(60);

/// A latch a test opens to let a scripted reply go on.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    pub fn is_open(&self) -> bool {
        *self.0.0.lock().unwrap()
    }
}

/// A scripted answer. Without a final `Reset` or `Close` the connection stays open for the next
/// request.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub steps: Vec<Step>,
}

impl Reply {
    pub fn new() -> Reply {
        Reply::default()
    }

    pub fn write(mut self, bytes: impl AsRef<[u8]>) -> Reply {
        self.steps.push(Step::Write(bytes.as_ref().to_vec()));
        self
    }

    /// Writes `bytes` as separate writes of the given sizes (cycled), each followed by `pause`.
    pub fn write_split(mut self, bytes: &[u8], sizes: &[usize], pause: Duration) -> Reply {
        for piece in split_by_sizes(bytes, sizes) {
            self.steps.push(Step::Write(piece.to_vec()));
            if !pause.is_zero() {
                self.steps.push(Step::Sleep(pause));
            }
        }
        self
    }

    pub fn sleep_ms(mut self, ms: u64) -> Reply {
        self.steps.push(Step::Sleep(Duration::from_millis(ms)));
        self
    }

    pub fn reset(mut self) -> Reply {
        self.steps.push(Step::Reset);
        self
    }

    pub fn close(mut self) -> Reply {
        self.steps.push(Step::Close);
        self
    }

    pub fn gate(mut self, gate: &Gate) -> Reply {
        self.steps.push(Step::Gate(gate.clone()));
        self
    }

    /// A complete response framed by Content-Length.
    pub fn full(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut all: Vec<(&str, String)> =
            headers.iter().map(|(n, v)| (*n, v.to_string())).collect();
        all.push(("content-length", body.len().to_string()));
        let mut bytes = response_head_owned(status, &all);
        bytes.extend_from_slice(body);
        Reply::new().write(bytes)
    }

    /// A JSON response with Anthropic-like headers.
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::full(status, &super::fixtures::json_headers(), body.as_bytes())
    }
}

/// Splits `bytes` into consecutive pieces whose sizes cycle through `sizes`.
pub fn split_by_sizes<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let size = sizes[i % sizes.len()].max(1);
        let end = (at + size).min(bytes.len());
        pieces.push(&bytes[at..end]);
        at = end;
        i += 1;
    }
    pieces
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Site Overloaded",
        _ => "Status",
    }
}

pub fn response_head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let owned: Vec<(&str, String)> = headers.iter().map(|(n, v)| (*n, v.to_string())).collect();
    response_head_owned(status, &owned)
}

fn response_head_owned(status: u16, headers: &[(&str, String)]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (name, value) in headers {
        head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// One chunk of a chunked body.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `body` chunk-encoded with chunk sizes cycling through `sizes` (not the terminator).
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    split_by_sizes(body, sizes)
        .into_iter()
        .flat_map(chunk)
        .collect()
}

/// How a connection ended, from the mock's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The peer closed or reset it.
    ByPeer,
    /// The script closed or reset it.
    ByMock,
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    log: Mutex<Log>,
    changed: Condvar,
    stop: AtomicBool,
    next_conn: AtomicU64,
}

#[derive(Default)]
struct Log {
    requests: Vec<Recorded>,
    closed: Vec<(u64, Closed)>,
    open: Vec<(u64, TcpStream)>,
}

/// The mock upstream server; stops accepting and shuts its connections on drop.
pub struct MockUpstream {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
}

impl MockUpstream {
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> MockUpstream {
        MockUpstream::launch(None, Box::new(handler))
    }

    pub fn start_tls(
        pki: &TestPki,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> MockUpstream {
        MockUpstream::launch(Some(pki.server_config()), Box::new(handler))
    }

    fn launch(tls: Option<Arc<rustls::ServerConfig>>, handler: Box<Handler>) -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            handler,
            log: Mutex::new(Log::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
        });
        let is_tls = tls.is_some();
        let accept_shared = shared.clone();
        std::thread::spawn(move || accept_loop(listener, tls, accept_shared));
        MockUpstream {
            addr,
            tls: is_tls,
            shared,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` for a TLS mock.
    pub fn base_url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://127.0.0.1:{}", self.addr.port())
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().requests.clone()
    }

    /// Waits (bounded) until at least `count` requests arrived; returns them all.
    pub fn wait_requests(&self, count: usize, limit: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + limit;
        let mut log = self.shared.log.lock().unwrap();
        while log.requests.len() < count {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            log = self
                .shared
                .changed
                .wait_timeout(log, deadline - now)
                .unwrap()
                .0;
        }
        log.requests.clone()
    }

    /// How many connections the mock has accepted.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.next_conn.load(Ordering::SeqCst) - 1
    }

    pub fn closes(&self) -> Vec<(u64, Closed)> {
        self.shared.log.lock().unwrap().closed.clone()
    }

    /// Waits (bounded) until connection `conn` has ended; returns how.
    pub fn wait_closed(&self, conn: u64, limit: Duration) -> Option<Closed> {
        let deadline = Instant::now() + limit;
        let mut log = self.shared.log.lock().unwrap();
        loop {
            if let Some((_, how)) = log.closed.iter().find(|(c, _)| *c == conn) {
                return Some(*how);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            log = self
                .shared
                .changed
                .wait_timeout(log, deadline - now)
                .unwrap()
                .0;
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Ok(log) = self.shared.log.lock() {
            for (_, stream) in &log.open {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

fn accept_loop(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let conn = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        if let Ok(clone) = stream.try_clone() {
            shared.log.lock().unwrap().open.push((conn, clone));
        }
        let shared = shared.clone();
        let tls = tls.clone();
        std::thread::spawn(move || {
            let wire: Box<dyn Wire> = match tls {
                Some(config) => match rustls::ServerConnection::new(config) {
                    Ok(server) => Box::new(rustls::StreamOwned::new(server, stream)),
                    Err(_) => return,
                },
                None => Box::new(stream),
            };
            let how = serve_connection(wire, conn, &shared);
            let mut log = shared.log.lock().unwrap();
            log.closed.push((conn, how));
            log.open.retain(|(c, _)| *c != conn);
            shared.changed.notify_all();
        });
    }
}

fn serve_connection(mut wire: Box<dyn Wire>, conn: u64, shared: &Shared) -> Closed {
    let mut buf = Vec::new();
    loop {
        let _ = wire.tcp().set_read_timeout(None);
        let request = match read_request(&mut *wire, &mut buf, conn) {
            Ok(Some(request)) => request,
            _ => return Closed::ByPeer,
        };
        let reply = (shared.handler)(&request);
        {
            let mut log = shared.log.lock().unwrap();
            log.requests.push(request);
            shared.changed.notify_all();
        }
        for step in reply.steps {
            match step {
                Step::Write(bytes) => {
                    if wire.write_all(&bytes).and_then(|_| wire.flush()).is_err() {
                        return Closed::ByPeer;
                    }
                }
                Step::Sleep(pause) => {
                    if !sleep_watching(&mut *wire, &mut buf, pause) {
                        return Closed::ByPeer;
                    }
                }
                Step::Gate(gate) => {
                    let deadline = Instant::now() + GATE_LIMIT;
                    while !gate.is_open() && Instant::now() < deadline {
                        if !sleep_watching(&mut *wire, &mut buf, Duration::from_millis(20)) {
                            return Closed::ByPeer;
                        }
                    }
                }
                Step::Reset => {
                    let _ = socket_linger_zero(wire.tcp());
                    drop(wire);
                    return Closed::ByMock;
                }
                Step::Close => {
                    wire.close_notify();
                    let _ = wire.tcp().shutdown(Shutdown::Both);
                    return Closed::ByMock;
                }
            }
        }
    }
}

/// Sleeps for `pause` while reading whatever arrives; false when the peer closed meanwhile.
fn sleep_watching(wire: &mut dyn Wire, buf: &mut Vec<u8>, pause: Duration) -> bool {
    let deadline = Instant::now() + pause;
    let mut scratch = [0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= deadline {
            let _ = wire.tcp().set_read_timeout(None);
            return true;
        }
        let wait = (deadline - now).min(Duration::from_millis(20));
        let _ = wire
            .tcp()
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        match wire.read(&mut scratch) {
            Ok(0) => return false,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn socket_linger_zero(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a valid fd and a correctly sized linger struct.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets SO_LINGER 0 so the next close sends a RST (used by tests that abort as a client).
pub fn abort_on_close(stream: &TcpStream) {
    socket_linger_zero(stream).unwrap();
}
