//! Client API formats other than Anthropic's native Messages API, translated at the edge so the
//! rest of the request flow (governance, routing, providers) sees one dialect. Each format is
//! IO-free: request bodies in, Anthropic bodies out; Anthropic streams and bodies in, the
//! client's format out.

pub mod openai;
