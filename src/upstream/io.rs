//! The byte stream to an upstream: plain TCP or TLS over TCP, behind one type so the rest of
//! the client does not care which (the runtime's plain-or-TLS stream, client side).

use futures_rustls::client::TlsStream;

use crate::runtime::io::net::TcpStream;
use crate::runtime::io::tls::MaybeTls;

/// A connected upstream stream.
pub type UpstreamIo = MaybeTls<TlsStream<TcpStream>>;
