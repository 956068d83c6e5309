//! OpenAI accepts function names of at most 64 characters from `[A-Za-z0-9_-]`; Anthropic tool
//! names (MCP tools especially) can be longer or use other characters. This shortens such a name
//! deterministically and keeps the map needed to restore it in the response.

use sha2::{Digest, Sha256};

/// The longest function name OpenAI accepts.
pub const MAX_TOOL_NAME_CHARS: usize = 64;

/// Hex digits of the SHA-256 of the original name appended to a shortened name.
const HASH_HEX_CHARS: usize = 8;

/// Characters of the original kept in front of the `_<hash>` suffix.
const KEPT_PREFIX_CHARS: usize = MAX_TOOL_NAME_CHARS - 1 - HASH_HEX_CHARS;

/// True when OpenAI accepts `name` as a function name unchanged.
pub fn is_valid_openai_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The name sent to OpenAI for `name`: itself when valid, else its first
/// [`KEPT_PREFIX_CHARS`] characters with every rejected character replaced by `_`, then `_` and
/// the first 8 hex digits of SHA-256(`name`). Deterministic, so every turn of a conversation
/// maps a tool to the same name.
pub fn shorten(name: &str) -> String {
    if is_valid_openai_name(name) {
        return name.to_owned();
    }
    let mut short: String = name
        .chars()
        .take(KEPT_PREFIX_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    short.push('_');
    let digest = Sha256::digest(name.as_bytes());
    for byte in digest.iter().take(HASH_HEX_CHARS / 2) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        short.push(char::from(HEX[usize::from(byte >> 4)]));
        short.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    short
}

/// The shortened names of one request, to restore the originals in its response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolNameMap {
    /// (sent name, original name), only for names that were changed.
    renamed: Vec<(String, String)>,
}

impl ToolNameMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// The name to send for `original`, remembering the pair when it changed.
    pub fn outbound(&mut self, original: &str) -> String {
        let sent = shorten(original);
        if sent != original && !self.renamed.iter().any(|(s, _)| *s == sent) {
            self.renamed.push((sent.clone(), original.to_owned()));
        }
        sent
    }

    /// The client's name for a name the upstream returned (unchanged when it was not renamed).
    pub fn inbound<'a>(&'a self, sent: &'a str) -> &'a str {
        self.renamed
            .iter()
            .find(|(s, _)| s == sent)
            .map_or(sent, |(_, original)| original.as_str())
    }

    /// True when no name was changed.
    pub fn is_empty(&self) -> bool {
        self.renamed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_name_is_kept() {
        let name = "a".repeat(MAX_TOOL_NAME_CHARS);
        assert_eq!(shorten(&name), name);
        assert_eq!(shorten("Bash"), "Bash");
        assert_eq!(shorten("mcp__git-hub__get_file"), "mcp__git-hub__get_file");
    }

    #[test]
    fn one_past_the_limit_is_shortened_reversibly() {
        let name = "b".repeat(MAX_TOOL_NAME_CHARS + 1);
        let mut map = ToolNameMap::new();
        let sent = map.outbound(&name);
        assert_eq!(sent.len(), MAX_TOOL_NAME_CHARS);
        assert!(is_valid_openai_name(&sent));
        assert_eq!(map.inbound(&sent), name);
        assert_eq!(map.inbound("Bash"), "Bash");
        assert_eq!(sent, shorten(&name), "deterministic");
    }

    #[test]
    fn rejected_characters_are_replaced_and_names_stay_distinct() {
        let mut map = ToolNameMap::new();
        let a = map.outbound("mcp.server/tool");
        let b = map.outbound("mcp_server_tool");
        let c = map.outbound("ツール");
        assert!(is_valid_openai_name(&a) && is_valid_openai_name(&c));
        assert_ne!(a, b);
        assert_eq!(map.inbound(&a), "mcp.server/tool");
        assert_eq!(map.inbound(&c), "ツール");
        assert_eq!(map.inbound(&b), "mcp_server_tool");
    }

    #[test]
    fn the_empty_name_gets_a_valid_one() {
        assert!(is_valid_openai_name(&shorten("")));
    }
}
