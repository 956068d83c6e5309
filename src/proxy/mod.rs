//! The request flow of DESIGN §2: routing, target choice, the relay, the request context and
//! the one error type of the request path.

pub mod context;
pub mod error;
pub mod flow;
pub mod govern;
pub mod relay;
pub mod request_id;
pub mod route;
pub mod target;
