//! What a response consumed, as the provider reported it: the one input of settlement and
//! pricing, filled by each wire format's usage extractor (see docs/ARCHITECTURE.md).

/// Token counts as the provider reported them (the last report wins: Anthropic's are cumulative).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}
