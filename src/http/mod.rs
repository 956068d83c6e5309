//! Our own HTTP/1.1: IO-free parsers (head, chunked body, upstream response head), the encoder,
//! and the server-side connection loop, generic over its transport and its request handler.
//! Nothing here knows the proxy, the runtime or observability (docs/ARCHITECTURE.md).

pub mod chunked;
pub mod conn;
pub mod encode;
pub mod head;
pub mod hop;
pub mod limits;
pub mod read_buffer;
pub mod response_head;
