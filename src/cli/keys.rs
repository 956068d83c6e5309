//! `sluice keys create|list|revoke`: manage virtual keys of a running gateway through its admin
//! API (so every shard sees the change at once and the ledger persists it).

use serde_json::{Value, json};

use super::admin_client::AdminTarget;

/// What `keys create` sends.
pub struct CreateKey {
    pub id: String,
    pub team: String,
    pub customer: Option<String>,
    /// `USD:RESET` pairs, e.g. `25:1d`.
    pub budgets: Vec<String>,
    /// `REQUESTS:TOKENS:WINDOW[:TOOL_CALLS]`, any count may be empty, e.g. `120:2000000:1m`.
    pub rate_limits: Vec<String>,
    pub models: Vec<String>,
    /// MCP tool globs (`server__tool`); `None`: no list on the key.
    pub mcp_tools: Option<Vec<String>>,
    pub expires_at: Option<String>,
}

/// Builds the JSON body of a create request from the CLI's compact flags.
pub fn create_body(key: &CreateKey) -> Result<Value, String> {
    let budgets = key
        .budgets
        .iter()
        .map(|b| {
            let (usd, reset) = b
                .split_once(':')
                .ok_or_else(|| format!("--budget {b}: expected USD:RESET, e.g. 25:1d"))?;
            let max_usd: f64 = usd
                .parse()
                .map_err(|_| format!("--budget {b}: {usd} is not a number"))?;
            Ok(json!({ "max_usd": max_usd, "reset": reset }))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let rate_limits = key
        .rate_limits
        .iter()
        .map(|r| {
            let parts: Vec<&str> = r.split(':').collect();
            let (requests, tokens, window, tool_calls) = match parts[..] {
                [requests, tokens, window] => (requests, tokens, window, ""),
                [requests, tokens, window, tool_calls] => (requests, tokens, window, tool_calls),
                _ => {
                    return Err(format!(
                        "--rate-limit {r}: expected REQUESTS:TOKENS:WINDOW[:TOOL_CALLS], e.g. 120:2000000:1m"
                    ));
                }
            };
            let count = |s: &str| -> Result<Option<u64>, String> {
                if s.is_empty() {
                    Ok(None)
                } else {
                    s.parse()
                        .map(Some)
                        .map_err(|_| format!("--rate-limit {r}: {s} is not a count"))
                }
            };
            Ok(json!({
                "requests": count(requests)?,
                "tokens": count(tokens)?,
                "tool_calls": count(tool_calls)?,
                "window": window,
            }))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(json!({
        "id": key.id,
        "team": key.team,
        "customer": key.customer,
        "budgets": budgets,
        "rate_limits": rate_limits,
        "models": key.models,
        "mcp_tools": key.mcp_tools,
        "expires_at": key.expires_at,
    }))
}

/// Runs one admin call and prints its JSON answer; an error status is an error.
pub fn call_and_print(
    target: &AdminTarget,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(), String> {
    let bytes = body.map(|b| b.to_string().into_bytes());
    let (status, answer) = target.call(method, path, bytes.as_deref())?;
    let text = String::from_utf8_lossy(&answer);
    let pretty = serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.into_owned());
    if (200..300).contains(&status) {
        println!("{pretty}");
        Ok(())
    } else {
        Err(format!("the admin API answered {status}: {pretty}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_flags_become_the_admin_json() {
        let key = CreateKey {
            id: "bob".into(),
            team: "platform".into(),
            customer: None,
            budgets: vec!["25:1d".into(), "500:1M".into()],
            rate_limits: vec!["120::1m".into(), "::1h:30".into()],
            models: vec!["anthropic/*".into()],
            mcp_tools: Some(vec!["github__*".into(), "jira__get_*".into()]),
            expires_at: None,
        };
        let body = create_body(&key).unwrap();
        assert_eq!(body["budgets"][0]["max_usd"], 25.0);
        assert_eq!(body["budgets"][1]["reset"], "1M");
        assert_eq!(body["rate_limits"][0]["requests"], 120);
        assert_eq!(body["rate_limits"][0]["tokens"], Value::Null);
        assert_eq!(body["models"][0], "anthropic/*");
        assert_eq!(body["rate_limits"][0]["tool_calls"], Value::Null);
        assert_eq!(body["rate_limits"][1]["tool_calls"], 30);
        assert_eq!(body["rate_limits"][1]["requests"], Value::Null);
        assert_eq!(body["mcp_tools"], json!(["github__*", "jira__get_*"]));
    }

    #[test]
    fn malformed_flags_are_explained() {
        let mut key = CreateKey {
            id: "bob".into(),
            team: "t".into(),
            customer: None,
            budgets: vec!["lots".into()],
            rate_limits: vec![],
            models: vec![],
            mcp_tools: None,
            expires_at: None,
        };
        assert!(create_body(&key).unwrap_err().contains("USD:RESET"));
        key.budgets.clear();
        key.rate_limits = vec!["1:2".into()];
        assert!(
            create_body(&key)
                .unwrap_err()
                .contains("REQUESTS:TOKENS:WINDOW")
        );
    }
}
