//! The sockets the rest of the crate sees: listening, connecting with a deadline, and the
//! liveness probe for pooled connections. glommio's types appear here and nowhere else.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

pub use glommio::net::{TcpListener, TcpStream};

/// Binds (without listening) a socket in `addr`'s SO_REUSEPORT group and returns it with the
/// real address, so that a configured port 0 becomes one port every shard then binds.
pub fn reserve_port(addr: SocketAddr) -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2); the fd is owned by the TcpListener built from it below.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own; from_raw_fd takes ownership (closes on drop).
    let socket: std::net::TcpListener = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    set_int_option(fd, libc::SO_REUSEPORT, one)?;
    set_int_option(fd, libc::SO_REUSEADDR, one)?;
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: storage holds a valid sockaddr of `len` bytes.
    let rc = unsafe { libc::bind(fd, (&raw const storage).cast(), len) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let bound = socket.local_addr()?;
    Ok((socket, bound))
}

fn set_int_option(fd: i32, option: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: value is a c_int living for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
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
    let mut byte = 0u8;
    // SAFETY: recv into a 1-byte buffer we own; the fd stays open for the call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}
