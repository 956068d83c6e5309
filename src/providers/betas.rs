//! Which `anthropic-beta` values a cloud provider accepts: Bedrock and Vertex answer 400 to a
//! beta they do not know, so unknown ones are dropped (and counted) instead of failing the
//! request. A shipped table per provider kind, widened by `betas_allow` and narrowed by
//! `betas_drop`; entries may end in `*` (`computer-use-*`).

use std::fmt;

use crate::config::glob_match;

/// The longest beta name or pattern accepted in config.
pub const MAX_BETA_LEN: usize = 128;
/// The most entries in `betas_allow` or `betas_drop`.
pub const MAX_BETA_ENTRIES: usize = 256;

/// Betas Bedrock's InvokeModel takes in the body's `anthropic_beta` (AWS's Claude Messages
/// parameter page lists these; Claude Code's own Bedrock mode sends the 3P tool-search name).
pub const BEDROCK_DEFAULT_BETAS: &[&str] = &[
    "computer-use-*",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
];

/// Betas Vertex's rawPredict takes in the `anthropic-beta` header (Claude Code enables these
/// on Vertex; the first-party-only ones such as `prompt-caching-scope-*`, `fast-mode-*`,
/// `advanced-tool-use-*` and `structured-outputs-*` are left out).
pub const VERTEX_DEFAULT_BETAS: &[&str] = &[
    "claude-code-20250219",
    "computer-use-*",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "fine-grained-tool-streaming-2025-05-14",
    "output-128k-2025-02-19",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "web-search-2025-03-05",
];

/// A config error in `betas_allow` / `betas_drop` (the caller adds the provider's path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BetaConfigError {
    Empty { key: &'static str },
    TooLong { key: &'static str, len: usize },
    BadCharacter { key: &'static str, entry: String },
    TooMany { key: &'static str, count: usize },
}

impl fmt::Display for BetaConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BetaConfigError::Empty { key } => write!(f, "`{key}` has an empty entry"),
            BetaConfigError::TooLong { key, len } => {
                write!(
                    f,
                    "`{key}` has an entry of {len} bytes (at most {MAX_BETA_LEN})"
                )
            }
            BetaConfigError::BadCharacter { key, entry } => write!(
                f,
                "`{key}` entry `{entry}` may hold only letters, digits, `-`, `_`, `.` and `*`"
            ),
            BetaConfigError::TooMany { key, count } => {
                write!(
                    f,
                    "`{key}` has {count} entries (at most {MAX_BETA_ENTRIES})"
                )
            }
        }
    }
}

/// The accepted betas of one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BetaPolicy {
    allow: Vec<String>,
    drop: Vec<String>,
}

/// The outcome of filtering: values to send and values dropped (one metric increment each).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BetaSplit<'a> {
    pub kept: Vec<&'a str>,
    pub dropped: Vec<&'a str>,
}

impl BetaPolicy {
    /// `defaults` plus `allow`, minus anything matching `drop` (drop wins).
    pub fn new(
        defaults: &[&str],
        allow: &[String],
        drop: &[String],
    ) -> Result<BetaPolicy, BetaConfigError> {
        check_entries("betas_allow", allow)?;
        check_entries("betas_drop", drop)?;
        let allow = defaults
            .iter()
            .map(|s| (*s).to_owned())
            .chain(allow.iter().cloned())
            .collect();
        Ok(BetaPolicy {
            allow,
            drop: drop.to_vec(),
        })
    }

    /// Bedrock's shipped table with the config's overrides.
    pub fn bedrock(allow: &[String], drop: &[String]) -> Result<BetaPolicy, BetaConfigError> {
        BetaPolicy::new(BEDROCK_DEFAULT_BETAS, allow, drop)
    }

    /// Vertex's shipped table with the config's overrides.
    pub fn vertex(allow: &[String], drop: &[String]) -> Result<BetaPolicy, BetaConfigError> {
        BetaPolicy::new(VERTEX_DEFAULT_BETAS, allow, drop)
    }

    /// Whether one beta value goes upstream.
    pub fn accepts(&self, beta: &str) -> bool {
        !self.drop.iter().any(|p| glob_match(p, beta))
            && self.allow.iter().any(|p| glob_match(p, beta))
    }

    /// Splits the values of every `anthropic-beta` header (comma lists, repeated headers) into
    /// kept and dropped, trimmed, empty items skipped, duplicates sent once.
    pub fn filter<'a>(&self, header_values: impl IntoIterator<Item = &'a str>) -> BetaSplit<'a> {
        let mut split = BetaSplit::default();
        for value in header_values {
            for beta in value.split(',').map(str::trim).filter(|b| !b.is_empty()) {
                if split.kept.contains(&beta) || split.dropped.contains(&beta) {
                    continue;
                }
                if self.accepts(beta) {
                    split.kept.push(beta);
                } else {
                    split.dropped.push(beta);
                }
            }
        }
        split
    }
}

fn check_entries(key: &'static str, entries: &[String]) -> Result<(), BetaConfigError> {
    if entries.len() > MAX_BETA_ENTRIES {
        return Err(BetaConfigError::TooMany {
            key,
            count: entries.len(),
        });
    }
    for entry in entries {
        if entry.is_empty() {
            return Err(BetaConfigError::Empty { key });
        }
        if entry.len() > MAX_BETA_LEN {
            return Err(BetaConfigError::TooLong {
                key,
                len: entry.len(),
            });
        }
        if !entry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'))
        {
            return Err(BetaConfigError::BadCharacter {
                key,
                entry: entry.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE_CODE: &str = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05,effort-2025-11-24,fine-grained-tool-streaming-2025-05-14,advanced-tool-use-2025-11-20";

    #[test]
    fn bedrock_keeps_what_it_knows_and_drops_the_rest() {
        let policy = BetaPolicy::bedrock(&[], &[]).expect("ok");
        let split = policy.filter([CLAUDE_CODE]);
        assert_eq!(
            split.kept,
            [
                "interleaved-thinking-2025-05-14",
                "context-management-2025-06-27",
                "effort-2025-11-24"
            ]
        );
        assert_eq!(
            split.dropped,
            [
                "claude-code-20250219",
                "prompt-caching-scope-2026-01-05",
                "fine-grained-tool-streaming-2025-05-14",
                "advanced-tool-use-2025-11-20"
            ]
        );
    }

    #[test]
    fn vertex_keeps_claude_code_and_drops_first_party_only() {
        let policy = BetaPolicy::vertex(&[], &[]).expect("ok");
        let split = policy.filter([CLAUDE_CODE]);
        assert!(split.kept.contains(&"claude-code-20250219"));
        assert!(
            split
                .kept
                .contains(&"fine-grained-tool-streaming-2025-05-14")
        );
        assert_eq!(
            split.dropped,
            [
                "prompt-caching-scope-2026-01-05",
                "advanced-tool-use-2025-11-20"
            ]
        );
    }

    #[test]
    fn allow_widens_drop_narrows_and_drop_wins() {
        let allow = vec!["prompt-caching-scope-*".to_owned(), "x-1".to_owned()];
        let drop = vec!["interleaved-*".to_owned(), "x-1".to_owned()];
        let policy = BetaPolicy::bedrock(&allow, &drop).expect("ok");
        assert!(policy.accepts("prompt-caching-scope-2026-01-05"));
        assert!(!policy.accepts("interleaved-thinking-2025-05-14"));
        assert!(!policy.accepts("x-1"));
        assert!(policy.accepts("computer-use-2025-01-24"));
    }

    #[test]
    fn repeated_headers_spaces_empties_and_duplicates() {
        let policy = BetaPolicy::bedrock(&[], &[]).expect("ok");
        let split = policy.filter([" effort-2025-11-24 ,, nope", "effort-2025-11-24,nope"]);
        assert_eq!(split.kept, ["effort-2025-11-24"]);
        assert_eq!(split.dropped, ["nope"]);
        assert_eq!(policy.filter([""]), BetaSplit::default());
    }

    #[test]
    fn config_limits() {
        let at = vec!["a".repeat(MAX_BETA_LEN)];
        assert!(BetaPolicy::bedrock(&at, &[]).is_ok());
        let over = vec!["a".repeat(MAX_BETA_LEN + 1)];
        assert_eq!(
            BetaPolicy::bedrock(&over, &[]),
            Err(BetaConfigError::TooLong {
                key: "betas_allow",
                len: MAX_BETA_LEN + 1
            })
        );
        let many = vec!["a".to_owned(); MAX_BETA_ENTRIES];
        assert!(BetaPolicy::vertex(&[], &many).is_ok());
        let too_many = vec!["a".to_owned(); MAX_BETA_ENTRIES + 1];
        assert!(matches!(
            BetaPolicy::vertex(&[], &too_many),
            Err(BetaConfigError::TooMany { .. })
        ));
        assert!(matches!(
            BetaPolicy::vertex(&[String::new()], &[]),
            Err(BetaConfigError::Empty { .. })
        ));
        let bad = vec!["a,b".to_owned()];
        assert!(matches!(
            BetaPolicy::vertex(&bad, &[]),
            Err(BetaConfigError::BadCharacter { .. })
        ));
    }
}
