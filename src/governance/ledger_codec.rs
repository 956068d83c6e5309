//! How created keys' limits and budget-reset targets are spelled in the ledger's text columns
//! (compact, and readable with the `sqlite3` shell).

use super::messages::BudgetKey;
use crate::config::{Budget, RateLimit, ResetPeriod};

/// `max_micro:reset:c|r` per budget, comma-separated.
pub fn encode_budgets(budgets: &[Budget]) -> String {
    let items: Vec<String> = budgets
        .iter()
        .map(|b| {
            format!(
                "{}:{}:{}",
                b.max_micro_usd,
                b.reset.as_str(),
                if b.calendar_aligned { 'c' } else { 'r' }
            )
        })
        .collect();
    items.join(",")
}

pub fn decode_budgets(text: &str) -> Option<Vec<Budget>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let mut parts = item.split(':');
            let max_micro_usd = parts.next()?.parse().ok()?;
            let reset = ResetPeriod::parse(parts.next()?).ok()?;
            let calendar_aligned = match parts.next()? {
                "c" => true,
                "r" => false,
                _ => return None,
            };
            Some(Budget {
                max_micro_usd,
                reset,
                calendar_aligned,
            })
        })
        .collect()
}

/// `requests|-:tokens|-:window_ms[:tool_calls]` per limit, comma-separated (the tool-call
/// count only when set, so older ledgers read the same).
pub fn encode_rate_limits(limits: &[RateLimit]) -> String {
    let count = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let items: Vec<String> = limits
        .iter()
        .map(|l| {
            let mut item = format!(
                "{}:{}:{}",
                count(l.requests),
                count(l.tokens),
                l.window.as_millis()
            );
            if let Some(tool_calls) = l.tool_calls {
                item.push_str(&format!(":{tool_calls}"));
            }
            item
        })
        .collect();
    items.join(",")
}

pub fn decode_rate_limits(text: &str) -> Option<Vec<RateLimit>> {
    let count = |s: &str| {
        if s == "-" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let mut parts = item.split(':');
            let requests = count(parts.next()?)?;
            let tokens = count(parts.next()?)?;
            let window = std::time::Duration::from_millis(parts.next()?.parse().ok()?);
            let tool_calls = match parts.next() {
                None => None,
                Some(n) => Some(n.parse().ok()?),
            };
            Some(RateLimit {
                requests,
                tokens,
                tool_calls,
                window,
            })
        })
        .collect()
}

/// `*` for every budget, else `reset:c|r`.
pub fn encode_budget_key(key: Option<BudgetKey>) -> String {
    key.map_or_else(
        || "*".to_owned(),
        |k| {
            format!(
                "{}:{}",
                k.reset.as_str(),
                if k.calendar_aligned { 'c' } else { 'r' }
            )
        },
    )
}

pub fn decode_budget_key(text: &str) -> Option<Option<BudgetKey>> {
    if text == "*" {
        return Some(None);
    }
    let (reset, aligned) = text.split_once(':')?;
    let calendar_aligned = match aligned {
        "c" => true,
        "r" => false,
        _ => return None,
    };
    Some(Some(BudgetKey {
        reset: ResetPeriod::parse(reset).ok()?,
        calendar_aligned,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_spelling_round_trips_and_garbage_is_refused() {
        let budgets = vec![
            Budget {
                max_micro_usd: 25_000_000,
                reset: ResetPeriod::Day,
                calendar_aligned: false,
            },
            Budget {
                max_micro_usd: 1,
                reset: ResetPeriod::Quarter,
                calendar_aligned: true,
            },
        ];
        assert_eq!(decode_budgets(&encode_budgets(&budgets)), Some(budgets));
        assert_eq!(decode_budgets(""), Some(Vec::new()));
        let limits = vec![
            RateLimit {
                requests: Some(120),
                tokens: None,
                tool_calls: None,
                window: Duration::from_secs(60),
            },
            RateLimit {
                requests: None,
                tokens: Some(2_000_000),
                tool_calls: None,
                window: Duration::from_secs(30),
            },
            RateLimit {
                requests: None,
                tokens: None,
                tool_calls: Some(7),
                window: Duration::from_secs(10),
            },
        ];
        assert_eq!(
            decode_rate_limits(&encode_rate_limits(&limits)),
            Some(limits)
        );
        for key in [
            None,
            Some(BudgetKey {
                reset: ResetPeriod::Month,
                calendar_aligned: true,
            }),
        ] {
            assert_eq!(decode_budget_key(&encode_budget_key(key)), Some(key));
        }
        assert_eq!(decode_budgets("1:1x:c"), None);
        assert_eq!(decode_budgets("1:1d:x"), None);
        assert_eq!(decode_rate_limits("a:-:1"), None);
        assert_eq!(decode_budget_key("1d:q"), None);
    }
}
