//! `sluice check-config` through the real binary: a provider kind's own options are checked at
//! load by the kind's module, and a refusal still names the key's path and line.

mod support;

use std::process::Command;

use support::gateway::gateway_binary;
use support::temp::TempDir;

fn check_config(toml: &str) -> (Option<i32>, String) {
    let dir = TempDir::new("provider-options");
    let file = dir.join("sluice.toml");
    std::fs::write(&file, toml).unwrap();
    let out = Command::new(gateway_binary())
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn check_config_reports_kind_options_with_path_and_line() {
    let bedrock = "[[providers]]\nname = \"aws\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\n";
    let (code, text) = check_config(bedrock);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("bedrock-runtime.us-east-1.amazonaws.com"),
        "{text}"
    );

    let (code, text) = check_config(&format!("{bedrock}project = \"p\"\n"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(
            "providers[0].project: `project` applies only to kind `vertex`, not `bedrock` (line 5)"
        ),
        "{text}"
    );

    let (code, text) =
        check_config("[[providers]]\nname = \"v\"\nkind = \"vertex\"\nproject = \"p\"\n");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("providers[0]: kind `vertex` needs `location`"),
        "{text}"
    );

    let (code, text) = check_config(&format!("{bedrock}aws_profle = \"dev\"\n"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("providers[0].aws_profle: unknown field `aws_profle`"),
        "{text}"
    );
}
