//! The admin API (JSON over the admin listener, shard 0): virtual keys, usage per entity,
//! budget resets and config reload, all behind `governance.admin_token`. Changes made here are
//! sent to every shard and committed to the ledger before the answer goes out.

use std::rc::Rc;

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::config::{Budget, RateLimit, parse_rfc3339_unix_secs};
use crate::governance::budget_seed::{added_budgets, load_entity_history};
use crate::governance::entity::EntityId;
use crate::governance::window::format_rfc3339;
use crate::governance::{
    AdminError, BudgetUsage, EntityUsage, KeyInfo, KeyOrigin, KeyUpdate, LedgerSnapshot, Level,
    NewKey, RateUsage, ledger_path, parse_budget, parse_rate_limit_counts,
};
use crate::http::head::RequestHead;
use crate::runtime::Shard;
use crate::runtime::io::task::spawn_blocking;

/// An admin answer: status and JSON body.
pub struct AdminReply {
    pub status: u16,
    pub body: Value,
}

fn reply(status: u16, body: Value) -> AdminReply {
    AdminReply { status, body }
}

fn error(status: u16, error_type: &str, message: impl std::fmt::Display) -> AdminReply {
    reply(
        status,
        json!({"type": "error", "error": {"type": error_type, "message": message.to_string()}}),
    )
}

/// Whether `path` belongs to the admin API.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Serves one admin API request.
pub async fn handle(shard: &Rc<Shard>, head: &RequestHead, body: &[u8]) -> AdminReply {
    if let Some(refusal) = check_token(shard, head) {
        return refusal;
    }
    let segments: Vec<&str> = head.path().trim_matches('/').split('/').skip(1).collect();
    let answer = match (head.method(), segments.as_slice()) {
        ("POST", ["keys"]) => create_key(shard, body),
        ("GET", ["keys"]) => Ok(reply(
            200,
            json!({"keys": shard.proxy.gov.list_keys().iter().map(key_json).collect::<Vec<_>>()}),
        )),
        ("PATCH", ["keys", id]) => update_key(shard, id, body).await,
        ("DELETE", ["keys", id]) => shard
            .proxy
            .gov
            .revoke_key(id)
            .map(|key| {
                // Its MCP sessions end on every shard: they were opened with this key.
                shard.mesh.end_mcp_sessions_all(id);
                reply(200, json!({"key": key_json(&key)}))
            })
            .map_err(admin_error),
        ("GET", ["usage", level]) => level_of(level).map(|level| {
            let usage: Vec<Value> = shard
                .proxy
                .gov
                .list_usage(level)
                .iter()
                .map(usage_json)
                .collect();
            reply(200, json!({ "usage": usage }))
        }),
        ("GET", ["teams"]) => Ok(list(shard, Level::Team, "teams")),
        ("GET", ["customers"]) => Ok(list(shard, Level::Customer, "customers")),
        ("GET", ["usage", level, id]) => match level_of(level) {
            Ok(level) => Ok(entity_usage(shard, level, id).await),
            Err(e) => Err(e),
        },
        ("POST", ["budgets", "reset"]) => reset_budget(shard, body),
        ("POST", ["reload"]) => Ok(reload(shard).await),
        (method, _) => Err(error(
            404,
            "not_found_error",
            format!("no admin route for {method} {}", head.path()),
        )),
    };
    let answer = answer.unwrap_or_else(|e| e);
    super::admin_audit::record(shard, head, &segments, body, answer.status);
    shard.proxy.gov_link.flush(&shard.proxy.gov);
    if (200..300).contains(&answer.status) && head.method() != "GET" {
        // Durable before acknowledged: a key created here survives an immediate kill.
        let ledger = shard.proxy.gov_link.ledger().clone();
        let flushed = spawn_blocking(move || ledger.flush()).await;
        if let Err(e) = flushed {
            return error(500, "api_error", format!("the ledger did not commit: {e}"));
        }
    }
    answer
}

/// The bearer token must equal `governance.admin_token` (compared in constant time).
fn check_token(shard: &Shard, head: &RequestHead) -> Option<AdminReply> {
    let Some(expected) = &shard.proxy.config.governance.admin_token else {
        return Some(error(
            403,
            "permission_error",
            "the admin API is disabled: set governance.admin_token",
        ));
    };
    let presented = head
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix(b"Bearer ")
                .or_else(|| v.strip_prefix(b"bearer "))
        })
        .map(<[u8]>::trim_ascii)
        .unwrap_or_default();
    let matches: bool = presented.ct_eq(expected.expose().as_bytes()).into();
    if matches && !presented.is_empty() {
        None
    } else {
        Some(error(
            401,
            "authentication_error",
            "a valid admin token is required",
        ))
    }
}

fn admin_error(e: AdminError) -> AdminReply {
    let status = match e {
        AdminError::NotFound(_) => 404,
        AdminError::DuplicateId(_) => 409,
        AdminError::ConfigKey(_) => 409,
        AdminError::Random(_) => 500,
        AdminError::InvalidId(_)
        | AdminError::UnknownTeam(_)
        | AdminError::UnknownCustomer(_)
        | AdminError::CustomerMismatch { .. }
        | AdminError::InvalidBudget(_)
        | AdminError::InvalidRateLimit(_)
        | AdminError::InvalidModels(_)
        | AdminError::InvalidMcpTools(_) => 400,
    };
    let error_type = match status {
        404 => "not_found_error",
        409 => "conflict_error",
        500 => "api_error",
        _ => "invalid_request_error",
    };
    error(status, error_type, e)
}

fn bad_request(message: impl std::fmt::Display) -> AdminReply {
    error(400, "invalid_request_error", message)
}

fn parse_json(body: &[u8]) -> Result<Value, AdminReply> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("the body is not JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(bad_request("the body must be a JSON object"))
    }
}

fn level_of(word: &str) -> Result<Level, AdminReply> {
    Level::ALL
        .into_iter()
        .find(|l| l.as_str() == word)
        .ok_or_else(|| {
            bad_request(format!(
                "unknown level `{word}`: key, team, customer or provider"
            ))
        })
}

fn create_key(shard: &Shard, body: &[u8]) -> Result<AdminReply, AdminReply> {
    let v = parse_json(body)?;
    let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let new = NewKey {
        id: text("id").ok_or_else(|| bad_request("`id` is required"))?,
        team: text("team").ok_or_else(|| bad_request("`team` is required"))?,
        customer: text("customer"),
        budgets: budgets_of(v.get("budgets"))?.unwrap_or_default(),
        rate_limits: rate_limits_of(v.get("rate_limits"))?.unwrap_or_default(),
        models: models_of(v.get("models"))?.unwrap_or_default(),
        mcp_tools: mcp_tools_of(v.get("mcp_tools"))?.flatten(),
        expires_at_unix_secs: expiry_of(v.get("expires_at"))?.flatten(),
    };
    let created = shard.proxy.gov.create_key(new).map_err(admin_error)?;
    Ok(reply(
        201,
        json!({"key": key_json(&created.key), "secret": created.secret}),
    ))
}

async fn update_key(shard: &Shard, id: &str, body: &[u8]) -> Result<AdminReply, AdminReply> {
    let v = parse_json(body)?;
    let update = KeyUpdate {
        budgets: budgets_of(v.get("budgets"))?,
        rate_limits: rate_limits_of(v.get("rate_limits"))?,
        models: models_of(v.get("models"))?,
        mcp_tools: mcp_tools_of(v.get("mcp_tools"))?,
        expires_at_unix_secs: expiry_of(v.get("expires_at"))?,
    };
    let gov = &shard.proxy.gov;
    // A budget the key did not have starts from the spend already recorded for its window:
    // read the key's history (after committing what is queued) before the budget exists.
    let added = match (gov.key_budgets(id), &update.budgets) {
        (Some(old), Some(new)) => added_budgets(&old, new),
        _ => Vec::new(),
    };
    let mut history = LedgerSnapshot::default();
    if !added.is_empty() {
        shard.proxy.gov_link.flush(gov);
        let ledger = shard.proxy.gov_link.ledger().clone();
        let path = ledger_path(&shard.proxy.config.governance.state_dir);
        let entity = EntityId::of(Level::Key, id);
        let now_ms = gov.now_unix_millis();
        history = spawn_blocking(move || {
            ledger.flush()?;
            load_entity_history(&path, entity, now_ms)
        })
        .await
        .map_err(|e| {
            error(
                500,
                "api_error",
                format!("the ledger could not be read: {e}"),
            )
        })?;
    }
    // Settlements the other shards sent before the read are in it: apply them before the new
    // budget exists, so they are not counted into it twice.
    shard.proxy.gov_link.sync(gov);
    let key = gov.update_key(id, update).map_err(admin_error)?;
    gov.seed_key_budgets(id, added, history);
    Ok(reply(200, json!({"key": key_json(&key)})))
}

fn reset_budget(shard: &Shard, body: &[u8]) -> Result<AdminReply, AdminReply> {
    let v = parse_json(body)?;
    let level = level_of(v.get("level").and_then(Value::as_str).unwrap_or(""))?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request("`id` is required"))?;
    shard
        .proxy
        .gov
        .reset_budget(level, id, None)
        .map_err(admin_error)?;
    Ok(reply(
        200,
        json!({"reset": true, "level": level.as_str(), "id": id}),
    ))
}

async fn entity_usage(shard: &Shard, level: Level, id: &str) -> AdminReply {
    let mut merged: Option<EntityUsage> = None;
    for usage in shard.mesh.usage_all(level, id).await.into_iter().flatten() {
        match &mut merged {
            Some(m) => m.merge(&usage),
            None => merged = Some(usage),
        }
    }
    match merged {
        Some(usage) => reply(200, usage_json(&usage)),
        None => error(
            404,
            "not_found_error",
            format!("no {} `{id}`", level.as_str()),
        ),
    }
}

fn list(shard: &Shard, level: Level, name: &str) -> AdminReply {
    let usage: Vec<Value> = shard
        .proxy
        .gov
        .list_usage(level)
        .iter()
        .map(usage_json)
        .collect();
    reply(200, json!({ name: usage }))
}

async fn reload(shard: &Shard) -> AdminReply {
    let mesh = shard.mesh.clone();
    match spawn_blocking(move || mesh.reload_blocking()).await {
        Ok(warnings) => reply(200, json!({"reloaded": true, "warnings": warnings})),
        Err(e) => error(400, "invalid_request_error", format!("reload refused: {e}")),
    }
}

fn budgets_of(v: Option<&Value>) -> Result<Option<Vec<Budget>>, AdminReply> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| bad_request("`budgets` must be an array"))?;
    items
        .iter()
        .map(|b| {
            let max_usd = b
                .get("max_usd")
                .and_then(Value::as_f64)
                .ok_or_else(|| bad_request("a budget needs `max_usd`"))?;
            let reset = b.get("reset").and_then(Value::as_str).unwrap_or("");
            let calendar = b
                .get("calendar_aligned")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            parse_budget(max_usd, reset, calendar).map_err(admin_error)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn rate_limits_of(v: Option<&Value>) -> Result<Option<Vec<RateLimit>>, AdminReply> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| bad_request("`rate_limits` must be an array"))?;
    items
        .iter()
        .map(|r| {
            let count = |name: &str| r.get(name).and_then(Value::as_u64);
            let window = r.get("window").and_then(Value::as_str).unwrap_or("");
            let counts = RateLimit {
                requests: count("requests"),
                tokens: count("tokens"),
                tool_calls: count("tool_calls"),
                window: std::time::Duration::ZERO,
            };
            parse_rate_limit_counts(counts, window).map_err(admin_error)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `mcp_tools`: absent → `None` (unchanged), `null` → `Some(None)` (no list), an array of
/// globs → `Some(Some(..))`.
fn mcp_tools_of(v: Option<&Value>) -> Result<Option<Option<Vec<String>>>, AdminReply> {
    let wrong = || bad_request("`mcp_tools` must be an array of globs or null");
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Array(items)) => items
            .iter()
            .map(|g| g.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(|globs| Some(Some(globs))),
        Some(_) => Err(wrong()),
    }
}

fn models_of(v: Option<&Value>) -> Result<Option<Vec<String>>, AdminReply> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| bad_request("`models` must be an array of globs"))?;
    items
        .iter()
        .map(|m| {
            m.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad_request("`models` must be an array of globs"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `None`: not given; `Some(None)`: explicitly null (no expiry); `Some(Some(t))`: expires at t.
fn expiry_of(v: Option<&Value>) -> Result<Option<Option<u64>>, AdminReply> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => parse_rfc3339_unix_secs(s)
            .map(|t| Some(Some(t)))
            .map_err(|e| bad_request(format!("`expires_at`: {e}"))),
        Some(_) => Err(bad_request(
            "`expires_at` must be an RFC 3339 string or null",
        )),
    }
}

fn key_json(key: &KeyInfo) -> Value {
    json!({
        "id": key.id,
        "team": key.team,
        "customer": key.customer,
        "origin": match key.origin { KeyOrigin::Config => "config", KeyOrigin::Runtime => "created" },
        "budgets": key.budgets.iter().map(budget_spec_json).collect::<Vec<_>>(),
        "rate_limits": key.rate_limits.iter().map(|r| json!({
            "requests": r.requests,
            "tokens": r.tokens,
            "tool_calls": r.tool_calls,
            "window_secs": r.window.as_secs(),
        })).collect::<Vec<_>>(),
        "models": key.models,
        "mcp_tools": key.mcp_tools,
        "expires_at": key.expires_at_unix_secs.map(|t| format_rfc3339(t * 1000)),
        "created_at": format_rfc3339(key.created_at_ms),
        "revoked": key.revoked_at_ms.is_some(),
        "revoked_at": key.revoked_at_ms.map(format_rfc3339),
    })
}

fn usage_json(usage: &EntityUsage) -> Value {
    json!({
        "level": usage.level.as_str(),
        "id": usage.id,
        "in_flight": usage.in_flight,
        "budgets": usage.budgets.iter().map(budget_json).collect::<Vec<_>>(),
        "rate_limits": usage.rate_limits.iter().map(rate_json).collect::<Vec<_>>(),
    })
}

/// A budget as configured: `{max_usd, reset, calendar_aligned}`.
fn budget_spec_json(b: &Budget) -> Value {
    json!({
        "max_usd": b.max_micro_usd as f64 / 1e6,
        "reset": b.reset.as_str(),
        "calendar_aligned": b.calendar_aligned,
    })
}

/// A budget with its state in the current window.
fn budget_json(b: &BudgetUsage) -> Value {
    let mut v = budget_spec_json(&b.budget);
    if let Value::Object(fields) = &mut v {
        for (name, value) in [
            ("spent_usd", json!(usd(b.spent_pico))),
            ("reserved_usd", json!(usd(b.reserved_pico))),
            ("remaining_usd", json!(usd(b.remaining_pico))),
            ("spent_pico_usd", json!(b.spent_pico)),
            ("resets_at", json!(format_rfc3339(b.resets_at_ms))),
        ] {
            fields.insert(name.to_owned(), value);
        }
    }
    v
}

/// Pico-dollars as a JSON number of dollars (exact counts are in the `*_pico_usd` fields).
fn usd(pico: u64) -> f64 {
    pico as f64 / 1e12
}

fn rate_json(r: &RateUsage) -> Value {
    json!({
        "window_secs": r.window_secs,
        "requests_limit": r.requests_limit,
        "requests": r.requests,
        "tokens_limit": r.tokens_limit,
        "tokens": r.tokens,
        "tool_calls_limit": r.tool_calls_limit,
        "tool_calls": r.tool_calls,
    })
}
