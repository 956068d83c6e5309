//! Our own HTTP/1.1: IO-free parsers (head, chunked body, upstream response head), the encoder,
//! the server-side connection loop, and the upstream client.

pub mod chunked;
pub mod client;
pub mod conn;
pub mod encode;
pub mod head;
pub mod hop;
pub mod limits;
pub mod read_buffer;
pub mod response_head;
