//! Claude on Google Vertex AI: the rawPredict envelope (URL, body rewrite) and OAuth access
//! tokens from a service account, Application Default Credentials or the metadata server,
//! refreshed off the shards.

pub mod config;
pub mod envelope;
pub mod oauth;
