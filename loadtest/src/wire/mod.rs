//! HTTP/1.1 and SSE byte handling without IO, so every framing rule is tested byte by byte.

pub mod body;
pub mod first_token;
pub mod framing;
pub mod readbuf;
