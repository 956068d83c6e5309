//! Each kind's own options, checked through the loader: unknown keys refused per kind (with
//! path and line), keys of another kind named with their owner, types and values checked by
//! the owning module, defaults of the base URL chosen by the kind.

use crate::config::{Config, ConfigError};

fn entry(kind: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"p\"\nkind = \"{kind}\"\nkeys = [{{ secret = \"s\" }}]\n{extra}\n"
    )
}

fn refused(text: &str) -> ConfigError {
    Config::from_toml_str_with_env(text, &|_| None).expect_err(text)
}

#[test]
fn unknown_keys_are_refused_by_each_kind_with_path_and_line() {
    for kind in [
        "anthropic",
        "openai",
        "azure_openai",
        "openai_compatible",
        "bedrock",
        "vertex",
    ] {
        let error = refused(&entry(kind, "base_url = \"https://x\"\nregoin = \"x\""));
        assert_eq!(error.path, "providers[0].regoin", "{kind}: {error}");
        assert!(
            error.message.starts_with("unknown field `regoin`"),
            "{error}"
        );
        assert!(error.message.contains(&format!("kind `{kind}`")), "{error}");
        assert_eq!(error.line, Some(6), "{error}");
    }
}

#[test]
fn a_key_of_another_kind_names_its_owners() {
    let error = refused(&entry("anthropic", "betas_allow = [\"x\"]"));
    assert_eq!(error.path, "providers[0].betas_allow");
    assert!(
        error
            .message
            .contains("applies only to kind `bedrock` or `vertex`, not `anthropic`"),
        "{error}"
    );
    let error = refused(&entry("vertex", "aws_profile = \"dev\""));
    assert_eq!(error.path, "providers[0].aws_profile");
    assert!(error.message.contains("only to kind `bedrock`"), "{error}");
}

#[test]
fn the_owning_kind_checks_types_and_values() {
    let bedrock = |extra: &str| entry("bedrock", &format!("region = \"us-east-1\"\n{extra}"));
    let error = refused(&bedrock("aws_profile = 1"));
    assert_eq!(error.path, "providers[0].aws_profile");
    assert!(error.message.contains("must be a string"), "{error}");
    let error = refused(&bedrock("betas_drop = \"x\""));
    assert_eq!(error.path, "providers[0].betas_drop");
    assert!(error.message.contains("array of strings"), "{error}");
    let azure = |version: &str| {
        entry(
            "azure_openai",
            &format!("base_url = \"https://r.openai.azure.com\"\napi_version = \"{version}\""),
        )
    };
    let error = refused(&azure("2024-10-21&x=1"));
    assert_eq!(error.path, "providers[0].api_version");
    assert!(error.message.contains("invalid value"), "{error}");
    let config = Config::from_toml_str_with_env(&azure("2024-10-21"), &|_| None).unwrap();
    assert_eq!(
        crate::providers::azure_openai::api_version(&config.providers[0]),
        "2024-10-21"
    );
    let error = refused(&entry("vertex", "project = \"p\"\nlocation = \"us east\""));
    assert_eq!(error.path, "providers[0].location");
}

#[test]
fn each_kind_names_its_default_base_url() {
    let url = |text: &str| {
        Config::from_toml_str_with_env(text, &|_| None)
            .unwrap()
            .providers[0]
            .base_url
            .to_string()
    };
    assert_eq!(url(&entry("anthropic", "")), "https://api.anthropic.com");
    assert_eq!(url(&entry("openai", "")), "https://api.openai.com/v1");
    assert_eq!(
        url(&entry("bedrock", "region = \"eu-west-1\"")),
        "https://bedrock-runtime.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        url(&entry("vertex", "project = \"p\"\nlocation = \"us-east5\"")),
        "https://us-east5-aiplatform.googleapis.com/v1"
    );
    assert_eq!(
        url(&entry(
            "bedrock",
            "region = \"eu-west-1\"\nbase_url = \"https://vpce.example\""
        )),
        "https://vpce.example"
    );
}

#[test]
fn the_shipped_example_has_a_provider_of_every_registered_kind() {
    let text = include_str!("../../examples/sluice.example.toml");
    // Every env: secret the example names resolves to a placeholder.
    let config = Config::from_toml_str_with_env(text, &|name| Some(format!("value-of-{name}")))
        .expect("the example parses");
    for entry in &super::KINDS {
        let kind = entry.kind;
        assert!(
            config.providers.iter().any(|p| p.kind == kind),
            "example lacks a {kind} provider"
        );
    }
}
