//! End to end, MCP `tool_calls` rate limits under the Redis backend: two sluice instances (two
//! shards each) share one key's tool-call limit through a real `redis-server`, calling the
//! tests' mock MCP server; exactly the limit is admitted across both, then each refuses with
//! the limit itself (not a busy share).

mod support;

use std::time::Duration;

use support::governance::{key_toml, priced_mock, team_toml, vkey};
use support::mcp::{Outcome, echo_call, initialize};
use support::mcp_mock::McpMock;
use support::redis_gov::instance;
use support::redis_server::RedisServer;
use support::{Gateway, wait_for};

/// The key's tool calls per hour, across the instances.
const LIMIT: u64 = 6;
fn echo(gateway: &Gateway, key: &str, session: &str, id: u64) -> Outcome {
    echo_call(gateway, key, session, id, "web__echo")
}

#[test]
fn a_tool_call_limit_holds_across_two_instances() {
    let redis = RedisServer::start();
    let mock = priced_mock();
    let mcp = McpMock::start();
    let secret = vkey("redis-mcp");
    let hierarchy = format!(
        "{}{}",
        team_toml("t1", None, "mcp_tools = [\"web__*\"]"),
        key_toml(
            "k1",
            &secret,
            "t1",
            &format!("rate_limits = [{{ tool_calls = {LIMIT}, window = \"1h\" }}]")
        )
    );
    let gateways: Vec<(Gateway, _)> = (0..2)
        .map(|i| {
            let config = instance(
                &mock.base_url(),
                &redis.url(),
                "strict",
                "fail_closed",
                &format!("gw{i}"),
                &hierarchy,
            );
            let toml = format!("{}\n{}", config.toml, mcp.config("web", 5_000));
            (Gateway::start_config(&toml), config)
        })
        .collect();
    let sessions: Vec<String> = gateways
        .iter()
        .map(|(g, _)| initialize(g, &secret))
        .collect();

    // Calls alternate between the instances until both refuse with the limit itself.
    let mut admitted = [0u64; 2];
    let mut limited = [false; 2];
    let mut id = 0;
    let done = wait_for(Duration::from_secs(30), || {
        for (i, (gateway, _)) in gateways.iter().enumerate() {
            if limited[i] {
                continue;
            }
            id += 1;
            match echo(gateway, &secret, &sessions[i], id) {
                Outcome::Ok => admitted[i] += 1,
                Outcome::Refused(reason) if reason == "rate_limit_tool_calls" => {
                    limited[i] = true;
                }
                Outcome::Refused(reason) => {
                    assert_eq!(reason, "budget_busy");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        (limited == [true, true]).then_some(())
    });
    assert!(
        done.is_some(),
        "both instances reach the limit: {admitted:?} admitted, {limited:?} limited"
    );
    assert_eq!(
        admitted.iter().sum::<u64>(),
        LIMIT,
        "exactly the limit across both instances: {admitted:?}"
    );
    assert_eq!(mcp.with_method("tools/call").len() as u64, LIMIT);
    // Model requests are not tool calls: the key still has no request limit.
    assert_eq!(
        support::governance::call_key(&gateways[1].0, &secret).status,
        200
    );
}
