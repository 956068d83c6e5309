//! What the generator sends: request profiles rendered to wire bytes once per run.

pub mod claude_code;
pub mod profiles;
