//! Claude on AWS Bedrock: the InvokeModel envelope (path, body rewrite, SigV4 or API-key
//! auth), the event-stream response decoder and its translation to Anthropic SSE, and the AWS
//! credential chain. IO-free except the credential fetches, which run on refresh threads.

pub mod codec;
pub mod config;
pub mod credentials;
pub mod envelope;
pub mod errors;
pub mod eventstream;
pub mod first_event;
pub mod profile;
pub mod sigv4;
pub mod stream;
