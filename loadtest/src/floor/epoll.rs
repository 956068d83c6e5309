//! The floor proxy on a plain level-triggered epoll loop in one thread, the way nginx runs a
//! worker: what the kernel's socket path costs per request with nothing in between.
//!
//! A write that would block waits for the socket in `poll(2)`, holding the loop: fine for a
//! measuring tool whose peer (the load generator) reads promptly, not for a gateway.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use crate::floor::{
    CompleteRequest, FloorConfig, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, READ_CHUNK_BYTES,
    ResponseRelay, complete_request,
};
use crate::wire::readbuf::ReadBuf;

/// The epoll token of the listening socket; connections use `slot << 1 | side`.
const LISTENER: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 256;

/// One client connection and the upstream connection it forwards to.
struct Conn {
    client: TcpStream,
    origin: Option<TcpStream>,
    request: ReadBuf,
    response: ReadBuf,
    /// The response being relayed, while one is.
    relay: Option<ResponseRelay>,
}

/// Serves forever; `on_listening` gets the bound address once accepting.
pub fn run(config: FloorConfig, on_listening: impl FnOnce(SocketAddr)) -> io::Result<()> {
    let listener = TcpListener::bind(config.listen)?;
    listener.set_nonblocking(true)?;
    // SAFETY: epoll_create1 takes no pointers.
    let epfd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    watch(epfd, listener.as_raw_fd(), LISTENER)?;
    on_listening(listener.local_addr()?);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
    loop {
        // SAFETY: `events` holds EVENTS_PER_WAIT initialised entries the kernel may fill.
        let ready = unsafe {
            libc::epoll_wait(
                epfd,
                events.as_mut_ptr(),
                EVENTS_PER_WAIT as libc::c_int,
                -1,
            )
        };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for event in &events[..ready as usize] {
            let token = event.u64;
            if token == LISTENER {
                accept_all(epfd, &listener, &mut conns);
                continue;
            }
            let slot = (token >> 1) as usize;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let kept = if token & 1 == 0 {
                on_client_readable(epfd, conn, slot, config.upstream)
            } else {
                on_origin_readable(epfd, conn, slot, config.upstream)
            };
            if kept.is_err() {
                conns[slot] = None; // closing the sockets removes them from the epoll set
            }
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn watch(epfd: RawFd, fd: RawFd, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: epoll_ctl reads one valid epoll_event.
    check(unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event) }).map(|_| ())
}

fn accept_all(epfd: RawFd, listener: &TcpListener, conns: &mut Vec<Option<Conn>>) {
    while let Ok((client, _)) = listener.accept() {
        if client.set_nonblocking(true).is_err() || client.set_nodelay(true).is_err() {
            continue;
        }
        let slot = match conns.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                conns.push(None);
                conns.len() - 1
            }
        };
        if watch(epfd, client.as_raw_fd(), (slot as u64) << 1).is_err() {
            continue;
        }
        conns[slot] = Some(Conn {
            client,
            origin: None,
            request: ReadBuf::new(READ_CHUNK_BYTES, MAX_REQUEST_BYTES),
            response: ReadBuf::new(READ_CHUNK_BYTES, MAX_RESPONSE_BYTES),
            relay: None,
        });
    }
}

/// Reads once into `buf`: `Ok(true)` read something, `Ok(false)` nothing ready yet.
fn read_once(stream: &mut TcpStream, buf: &mut ReadBuf) -> io::Result<bool> {
    let spare = buf.spare();
    if spare.is_empty() {
        return Err(io::ErrorKind::OutOfMemory.into());
    }
    match stream.read(spare) {
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(count) => {
            buf.commit(count);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes all of `data`, waiting in `poll(2)` if the socket is full.
fn write_all(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => data = &data[count..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut wanted = libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: poll reads and writes one valid pollfd.
                check(unsafe { libc::poll(&mut wanted, 1, -1) })?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn on_client_readable(epfd: RawFd, conn: &mut Conn, slot: usize, up: SocketAddr) -> io::Result<()> {
    read_once(&mut conn.client, &mut conn.request)?;
    forward_request(epfd, conn, slot, up)
}

/// Sends the next buffered request upstream, if it is whole and no response is in flight.
fn forward_request(epfd: RawFd, conn: &mut Conn, slot: usize, up: SocketAddr) -> io::Result<()> {
    if conn.relay.is_some() {
        return Ok(());
    }
    let bad = |_| io::Error::from(io::ErrorKind::InvalidData);
    let Some(CompleteRequest { len, is_head }) =
        complete_request(conn.request.filled()).map_err(bad)?
    else {
        return Ok(());
    };
    if conn.origin.is_none() {
        let origin = TcpStream::connect(up)?;
        origin.set_nodelay(true)?;
        origin.set_nonblocking(true)?;
        watch(epfd, origin.as_raw_fd(), (slot as u64) << 1 | 1)?;
        conn.origin = Some(origin);
    }
    let origin = conn.origin.as_mut().ok_or(io::ErrorKind::NotConnected)?;
    write_all(origin, &conn.request.filled()[..len])?;
    conn.request.consume(len);
    conn.response.clear();
    conn.relay = Some(ResponseRelay::new(is_head));
    Ok(())
}

fn on_origin_readable(epfd: RawFd, conn: &mut Conn, slot: usize, up: SocketAddr) -> io::Result<()> {
    let (Some(origin), Some(relay)) = (conn.origin.as_mut(), conn.relay.as_mut()) else {
        return Err(io::ErrorKind::InvalidData.into()); // bytes with no request in flight
    };
    read_once(origin, &mut conn.response)?;
    let ready = relay
        .advance(conn.response.filled())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    if ready > 0 {
        write_all(&mut conn.client, &conn.response.filled()[..ready])?;
        conn.response.consume(ready);
    }
    if relay.is_done() {
        if !relay.keep_alive() {
            conn.origin = None;
        }
        conn.relay = None;
        forward_request(epfd, conn, slot, up)?;
    }
    Ok(())
}
