//! One file per provider kind, the same shape in each: how to address it, how to authenticate,
//! how to build the upstream request. Only the Anthropic passthrough exists so far.

pub mod anthropic;
pub mod bedrock;
pub mod betas;
pub mod blocking_http;
#[cfg(test)]
pub mod mock_http;
pub mod raw_config;
pub mod refresh;
pub mod top_level;
pub mod vertex;
