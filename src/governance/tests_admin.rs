//! Tests of the admin operations: key creation rules, updates that keep counters, revocation,
//! usage reports and their merge across shards, budget resets, and the parsers.

use std::rc::Rc;

use super::tests_support::*;
use super::*;

const T0: u64 = 1_800_000_000_000;

fn setup() -> Rc<Governor> {
    let clock = Rc::new(ManualClock::new(T0));
    let extra = "[[teams]]\nid = \"solo\"\n[[customers]]\nid = \"other\"\n";
    shard(
        &config(
            "soft",
            &format!(
                "{}{extra}",
                hierarchy(
                    "budgets = [{ max_usd = 1.0, reset = \"1M\", calendar_aligned = true }]",
                    "",
                    ""
                )
            ),
        ),
        0,
        1,
        &clock,
    )
}

fn new_key(id: &str, team: &str, customer: Option<&str>) -> NewKey {
    NewKey {
        id: id.into(),
        team: team.into(),
        customer: customer.map(Into::into),
        budgets: Vec::new(),
        rate_limits: Vec::new(),
        models: Vec::new(),
        mcp_tools: None,
        expires_at_unix_secs: None,
    }
}

#[test]
fn key_creation_checks_ids_teams_and_customers() {
    let g = setup();
    assert_eq!(
        g.create_key(new_key("bad id", "platform", None)).err(),
        Some(AdminError::InvalidId("bad id".into()))
    );
    assert_eq!(
        g.create_key(new_key("alice", "platform", None)).err(),
        Some(AdminError::DuplicateId("alice".into()))
    );
    assert_eq!(
        g.create_key(new_key("k", "nope", None)).err(),
        Some(AdminError::UnknownTeam("nope".into()))
    );
    assert_eq!(
        g.create_key(new_key("k", "platform", Some("other"))).err(),
        Some(AdminError::CustomerMismatch {
            customer: "other".into(),
            team_customer: "acme".into()
        })
    );
    assert_eq!(
        g.create_key(new_key("k", "solo", Some("ghost"))).err(),
        Some(AdminError::UnknownCustomer("ghost".into()))
    );
    let created = g.create_key(new_key("k", "solo", Some("other"))).unwrap();
    assert_eq!(created.key.customer.as_deref(), Some("other"));
    assert_eq!(created.key.origin, KeyOrigin::Runtime);
    assert_eq!(created.key.created_at_ms, T0);
    let listed = g.list_keys();
    assert_eq!(
        listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        vec!["alice", "k"]
    );
    assert!(
        !format!("{listed:?}").contains(&created.secret),
        "secrets are never listed"
    );
    let mut bad_models = new_key("m", "solo", None);
    bad_models.models = vec![String::new()];
    assert!(matches!(
        g.create_key(bad_models),
        Err(AdminError::InvalidModels(_))
    ));
}

#[test]
fn updates_apply_to_created_keys_and_keep_their_counters() {
    let g = setup();
    assert_eq!(
        g.update_key("alice", KeyUpdate::default()).err(),
        Some(AdminError::ConfigKey("alice".into()))
    );
    assert_eq!(
        g.update_key("ghost", KeyUpdate::default()).err(),
        Some(AdminError::NotFound("key `ghost`".into()))
    );
    let created = g.create_key(new_key("k", "platform", None)).unwrap();
    let key = g
        .authenticate(Some(created.secret.as_bytes()), None)
        .unwrap();
    g.admit(key, "p", "m", 0, 0).unwrap().settle(&usage(5, 0));
    let update = KeyUpdate {
        budgets: Some(vec![parse_budget(0.000005, "1d", false).unwrap()]),
        models: Some(vec!["p/other".into()]),
        ..KeyUpdate::default()
    };
    let updated = g.update_key("k", update.clone()).unwrap();
    assert_eq!(updated.models, vec!["p/other".to_owned()]);
    assert!(matches!(
        g.admit(key, "p", "m", 0, 0),
        Err(Rejection::ModelNotAllowed { .. })
    ));
    g.update_key(
        "k",
        KeyUpdate {
            models: Some(Vec::new()),
            ..KeyUpdate::default()
        },
    )
    .unwrap();
    // The new budget started empty (it did not exist before), the request count carried.
    g.admit(key, "p", "m", 0, 0).unwrap().settle(&usage(5, 0));
    assert!(matches!(
        g.admit(key, "p", "m", 0, 0),
        Err(Rejection::BudgetExceeded {
            max_micro_usd: 5,
            ..
        })
    ));
    // Re-applying the same budget keeps its spend.
    g.update_key("k", update).unwrap();
    assert_eq!(
        g.usage(Level::Key, "k").unwrap().budgets[0].spent_pico,
        5_000_000
    );
    assert!(matches!(
        g.update_key(
            "k",
            KeyUpdate {
                models: Some(vec![String::new()]),
                ..KeyUpdate::default()
            }
        ),
        Err(AdminError::InvalidModels(_))
    ));
    // mcp_tools: set, refused when malformed, removed with `Some(None)`.
    let tools = |mcp_tools| KeyUpdate {
        mcp_tools: Some(mcp_tools),
        ..KeyUpdate::default()
    };
    let updated = g
        .update_key("k", tools(Some(vec!["files__*".into()])))
        .unwrap();
    assert_eq!(updated.mcp_tools, Some(vec!["files__*".to_owned()]));
    assert!(matches!(
        g.update_key("k", tools(Some(vec![String::new()]))),
        Err(AdminError::InvalidMcpTools(_))
    ));
    let too_many = vec!["a*".to_owned(); crate::config::MAX_MCP_TOOL_GLOBS + 1];
    assert!(matches!(
        g.update_key("k", tools(Some(too_many))),
        Err(AdminError::InvalidMcpTools(_))
    ));
    let at_limit = vec!["a*".to_owned(); crate::config::MAX_MCP_TOOL_GLOBS];
    assert!(g.update_key("k", tools(Some(at_limit))).is_ok());
    assert_eq!(g.update_key("k", tools(None)).unwrap().mcp_tools, None);
}

#[test]
fn usage_reports_spend_reservations_and_resets_and_merges_across_shards() {
    let g = setup();
    g.admit(Some(alice(&g)), "p", "m", 0, 0)
        .unwrap()
        .settle(&usage(300_000, 0));
    let customers = g.list_usage(Level::Customer);
    assert_eq!(
        customers.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec!["acme", "other"]
    );
    let acme = &customers[0];
    let budget = &acme.budgets[0];
    assert_eq!(
        (budget.spent_pico, budget.remaining_pico),
        (300_000_000_000, 700_000_000_000)
    );
    assert_eq!(budget.window_start_ms, Some(utc(2027, 1, 1, 0, 0, 0)));
    assert_eq!(budget.resets_at_ms, utc(2027, 2, 1, 0, 0, 0));
    assert_eq!(g.list_usage(Level::Team).len(), 2);
    assert_eq!(g.list_usage(Level::Provider)[0].id, "p");
    let mut merged = acme.clone();
    let mut other_shard = acme.clone();
    other_shard.budgets[0].spent_pico = 100;
    other_shard.budgets[0].reserved_pico = 50_000_000_000;
    other_shard.in_flight = 2;
    merged.merge(&other_shard);
    assert_eq!(merged.budgets[0].spent_pico, 300_000_000_000);
    assert_eq!(merged.budgets[0].reserved_pico, 50_000_000_000);
    assert_eq!(merged.budgets[0].remaining_pico, 650_000_000_000);
    assert_eq!(merged.in_flight, 2);

    assert!(matches!(
        g.reset_budget(Level::Team, "platform", None),
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        g.reset_budget(Level::Customer, "ghost", None),
        Err(AdminError::NotFound(_))
    ));
    let daily = BudgetKey {
        reset: crate::config::ResetPeriod::Day,
        calendar_aligned: false,
    };
    assert!(matches!(
        g.reset_budget(Level::Customer, "acme", Some(daily)),
        Err(AdminError::NotFound(_))
    ));
    g.reset_budget(Level::Customer, "acme", None).unwrap();
    assert_eq!(
        g.usage(Level::Customer, "acme").unwrap().budgets[0].spent_pico,
        0
    );
    assert!(g.usage(Level::Customer, "ghost").is_none());
}

#[test]
fn revocation_needs_a_known_key() {
    let g = setup();
    assert_eq!(
        g.revoke_key("ghost").err(),
        Some(AdminError::NotFound("key `ghost`".into()))
    );
    let revoked = g.revoke_key("alice").unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(T0));
    // Revoking again keeps the first time.
    assert_eq!(g.revoke_key("alice").unwrap().revoked_at_ms, Some(T0));
}

#[test]
fn admin_parsers_take_the_config_spellings() {
    let budget = parse_budget(25.0, "1d", true).unwrap();
    assert_eq!(
        (budget.max_micro_usd, budget.reset, budget.calendar_aligned),
        (25_000_000, crate::config::ResetPeriod::Day, true)
    );
    assert!(matches!(
        parse_budget(0.0, "1d", false),
        Err(AdminError::InvalidBudget(_))
    ));
    assert!(matches!(
        parse_budget(1.0, "1x", false),
        Err(AdminError::InvalidBudget(_))
    ));
    let limit = parse_rate_limit(Some(5), None, "30s").unwrap();
    assert_eq!(
        (limit.requests, limit.tokens, limit.window.as_secs()),
        (Some(5), None, 30)
    );
    assert!(matches!(
        parse_rate_limit(None, None, "1m"),
        Err(AdminError::InvalidRateLimit(_))
    ));
    assert!(matches!(
        parse_rate_limit(Some(0), None, "1m"),
        Err(AdminError::InvalidRateLimit(_))
    ));
    assert!(matches!(
        parse_rate_limit(Some(1), None, "1y"),
        Err(AdminError::InvalidRateLimit(_))
    ));
    assert!(
        AdminError::ConfigKey("a".into())
            .to_string()
            .contains("config")
    );
}
