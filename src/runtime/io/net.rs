//! The sockets the rest of the crate sees: listening, connecting with a deadline, and the
//! liveness probe for pooled connections. glommio's types appear here and nowhere else.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recv};
use socket2::{Domain, SockRef, Socket, Type};

pub use glommio::net::{TcpListener, TcpStream};

/// Binds (without listening) a socket in `addr`'s SO_REUSEPORT group and returns it with the
/// real address, so that a configured port 0 becomes one port every shard then binds.
pub fn reserve_port(addr: SocketAddr) -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    let socket: std::net::TcpListener = socket.into();
    let bound = socket.local_addr()?;
    Ok((socket, bound))
}

/// Connects to the first address that answers within `timeout` each.
pub async fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout).await {
            Ok(stream) => {
                stream.set_nodelay(true).ok();
                return Ok(stream);
            }
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

/// Whether a pooled, idle connection is still usable: a non-blocking `MSG_PEEK` sees nothing to
/// read (EAGAIN). End of stream, unexpected bytes (a late response, a TLS alert) or an error
/// all mean the peer closed or broke it while it sat idle.
pub fn idle_connection_is_alive(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
    matches!(
        recv(stream.as_raw_fd(), &mut byte, flags),
        Err(Errno::EAGAIN)
    )
}

/// Sends `bufs` with one `sendmsg` if the socket can take bytes now: `None` when it would block
/// (the caller then waits for writability the usual way). One system call and one TCP segment
/// for a request head and body, where a write per buffer costs a call and a segment each.
pub fn try_send_vectored(
    stream: &TcpStream,
    bufs: &[IoSlice<'_>],
) -> Option<std::io::Result<usize>> {
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
    // SAFETY: the descriptor belongs to `stream`, which stays open for the whole borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    match SockRef::from(&fd).send_vectored_with_flags(bufs, flags.bits()) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        result => Some(result),
    }
}
