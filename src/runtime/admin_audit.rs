//! Why this exists: every state-changing admin call (key created, changed, revoked, budget
//! reset, config reloaded) and every SIGHUP reload leaves an audit record naming the caller,
//! kept apart from the admin API's handlers so they stay about the API.

use serde_json::Value;

use super::Shard;
use crate::http::head::RequestHead;
use crate::observe::audit::{AdminAction, AdminRecord, AuditSender, UnixMillis};

/// Who calls the admin API: the holder of `governance.admin_token` (there is one token).
pub const ADMIN_CALLER: &str = "admin_token";
/// Who reloads on SIGHUP: the operator, through a signal.
pub const SIGNAL_CALLER: &str = "signal";

/// The audited action of an admin route, and its target (None: the route changes nothing).
pub fn action_of<'a>(method: &str, segments: &[&'a str]) -> Option<(AdminAction, Option<&'a str>)> {
    match (method, segments) {
        ("POST", ["keys"]) => Some((AdminAction::KeyCreated, None)),
        ("PATCH", ["keys", id]) => Some((AdminAction::KeyChanged, Some(id))),
        ("DELETE", ["keys", id]) => Some((AdminAction::KeyRevoked, Some(id))),
        ("POST", ["budgets", "reset"]) => Some((AdminAction::BudgetReset, None)),
        ("POST", ["reload"]) => Some((AdminAction::ConfigReloaded, None)),
        _ => None,
    }
}

/// Records one admin call that changed (or tried to change) state. The target of a created
/// key or a reset budget is read from the request (`id`, `level`); never a secret: the
/// answer, which holds a new key's secret, is not read.
pub fn record(shard: &Shard, head: &RequestHead, segments: &[&str], body: &[u8], status: u16) {
    let Some(audit) = &shard.proxy.audit else {
        return;
    };
    let Some((action, target)) = action_of(head.method(), segments) else {
        return;
    };
    let request: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        request
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (target, detail) = match action {
        AdminAction::KeyCreated => (field("id"), field("team").map(|t| format!("team {t}"))),
        AdminAction::BudgetReset => (field("id"), field("level").map(|l| format!("level {l}"))),
        AdminAction::KeyChanged => (target.map(str::to_owned), changed_fields(request.as_ref())),
        AdminAction::KeyRevoked | AdminAction::ConfigReloaded => (target.map(str::to_owned), None),
    };
    audit.record_admin(AdminRecord {
        time: UnixMillis::now(),
        action,
        target,
        caller: ADMIN_CALLER.to_owned(),
        detail,
        status: Some(status),
    });
}

/// Records a SIGHUP reload, applied or refused. The refusal's reason stays in the process log:
/// a config error may quote a value from the file, and the audit log never holds secrets.
pub fn record_signal_reload(audit: Option<&AuditSender>, result: &Result<Vec<String>, String>) {
    let Some(audit) = audit else {
        return;
    };
    let detail = match result {
        Ok(warnings) if warnings.is_empty() => "SIGHUP: applied".to_owned(),
        Ok(warnings) => format!("SIGHUP: applied with {} warnings", warnings.len()),
        Err(_) => "SIGHUP: refused, the running configuration stays".to_owned(),
    };
    audit.record_admin(AdminRecord {
        time: UnixMillis::now(),
        action: AdminAction::ConfigReloaded,
        target: None,
        caller: SIGNAL_CALLER.to_owned(),
        detail: Some(detail),
        status: None,
    });
}

/// The names of the fields a key update sets, e.g. `budgets, models`.
fn changed_fields(request: Option<&Value>) -> Option<String> {
    let object = request?.as_object()?;
    let names: Vec<&str> = object.keys().map(String::as_str).collect();
    (!names.is_empty()).then(|| names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_state_changing_routes_are_audited() {
        assert_eq!(
            action_of("DELETE", &["keys", "k1"]),
            Some((AdminAction::KeyRevoked, Some("k1")))
        );
        assert_eq!(
            action_of("POST", &["keys"]).map(|a| a.0),
            Some(AdminAction::KeyCreated)
        );
        assert_eq!(action_of("GET", &["keys"]), None);
        assert_eq!(action_of("GET", &["usage", "key"]), None);
        assert_eq!(
            action_of("POST", &["reload"]).map(|a| a.0),
            Some(AdminAction::ConfigReloaded)
        );
    }
}
