//! The options of `kind = "bedrock"`, validated by the provider itself from its raw table:
//! region, base URL, how to authenticate (static keys, a Bedrock API key, or the default AWS
//! chain with an optional profile), the model map and the beta overrides.

use super::credentials::{AwsCredentials, DefaultChain, static_credentials};
use super::envelope::default_base_url;
use crate::config::{OptionError, Secret};
use crate::providers::betas::BetaPolicy;
use crate::providers::options::{KindOptions, safe_value, string_arrays, strings};
use crate::providers::raw_config::{
    ModelMap, model_map, opt_str, reject_unknown, req_str, str_array,
};

/// The kind-specific options this module reads.
pub const BEDROCK_OPTIONS: &[&str] = &[
    "region",
    "base_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_profile",
    "model_map",
    "betas_allow",
    "betas_drop",
];
/// `kind = "bedrock"`'s own `[[providers]]` keys, checked at load (types, `region` required);
/// [`BedrockConfig::from_table`] reads them at start-up.
pub static BEDROCK_KIND_OPTIONS: KindOptions = KindOptions {
    keys: &[
        "region",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_profile",
        "betas_allow",
        "betas_drop",
    ],
    needs_keys: false,
    check: check_at_load,
};

fn check_at_load(
    options: &toml::Table,
    base_url_given: bool,
) -> Result<Option<String>, OptionError> {
    let region = safe_value(options, "region")?;
    strings(
        options,
        &[
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_profile",
        ],
    )?;
    string_arrays(options, &["betas_allow", "betas_drop"])?;
    let region = region.ok_or_else(|| OptionError::entry("kind `bedrock` needs `region`"))?;
    Ok((!base_url_given).then(|| default_base_url(region)))
}

/// The longest AWS region name accepted.
pub const MAX_REGION_LEN: usize = 32;

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub enum BedrockCredentials {
    /// Keys from the config.
    Static(AwsCredentials),
    /// A Bedrock API key from `keys` (`Authorization: Bearer`).
    ApiKey(Secret),
    /// The default chain, refreshed on a background thread.
    Chain(DefaultChain),
}

/// A validated Bedrock provider.
#[derive(Clone, Debug)]
pub struct BedrockConfig {
    pub region: String,
    pub base_url: String,
    pub credentials: BedrockCredentials,
    pub model_map: ModelMap,
    pub betas: BetaPolicy,
}

impl BedrockConfig {
    /// `table` holds the kind-specific options (the caller removed the common ones such as
    /// `name`, `kind` and `keys`); `api_key` is the provider's `keys` entry, if any; `env`
    /// resolves `env:` secrets and feeds the default chain.
    pub fn from_table(
        table: &toml::Table,
        api_key: Option<Secret>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BedrockConfig, String> {
        reject_unknown(table, BEDROCK_OPTIONS, "bedrock")?;
        let region = req_str(table, "region")?;
        let region_ok = region.len() <= MAX_REGION_LEN
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(format!(
                "`region` must be an AWS region such as `us-east-1` (lower-case letters, digits, `-`; at most {MAX_REGION_LEN} bytes)"
            ));
        }
        let base_url = opt_str(table, "base_url")?.map(|u| u.trim_end_matches('/').to_owned());
        let id = opt_str(table, "aws_access_key_id")?;
        let secret = opt_str(table, "aws_secret_access_key")?;
        let token = opt_str(table, "aws_session_token")?;
        let profile = opt_str(table, "aws_profile")?;
        let credentials = match (id, secret, api_key) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err("use either `aws_access_key_id`/`aws_secret_access_key` or `keys` (a Bedrock API key), not both".into());
            }
            (Some(id), Some(secret), None) => {
                if profile.is_some() {
                    return Err(
                        "`aws_profile` cannot be combined with static `aws_access_key_id`".into(),
                    );
                }
                BedrockCredentials::Static(static_credentials(id, secret, token, env)?)
            }
            (Some(_), None, None) => {
                return Err("`aws_access_key_id` needs `aws_secret_access_key`".into());
            }
            (None, Some(_), None) => {
                return Err("`aws_secret_access_key` needs `aws_access_key_id`".into());
            }
            (None, None, key) => {
                if token.is_some() {
                    return Err(
                        "`aws_session_token` needs `aws_access_key_id` and `aws_secret_access_key`"
                            .into(),
                    );
                }
                match key {
                    Some(key) => BedrockCredentials::ApiKey(key),
                    None => {
                        BedrockCredentials::Chain(DefaultChain::new(profile, Some(region), env))
                    }
                }
            }
        };
        let betas = BetaPolicy::bedrock(
            &str_array(table, "betas_allow")?,
            &str_array(table, "betas_drop")?,
        )
        .map_err(|e| e.to_string())?;
        Ok(BedrockConfig {
            region: region.to_owned(),
            base_url: base_url.unwrap_or_else(|| default_base_url(region)),
            credentials,
            model_map: model_map(table)?,
            betas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, api_key: Option<&str>) -> Result<BedrockConfig, String> {
        let table: toml::Table = text.parse().expect("toml");
        let env = |name: &str| (name == "AWS_SECRET").then(|| "from-env".to_owned());
        BedrockConfig::from_table(&table, api_key.map(Secret::new), &env)
    }

    #[test]
    fn static_keys_api_key_and_chain() {
        let config = parse(
            "region = \"us-east-1\"\naws_access_key_id = \"AKID\"\naws_secret_access_key = \"env:AWS_SECRET\"\nmodel_map = { \"claude-sonnet-4-5\" = \"us.anthropic.claude-sonnet-4-5-20250929-v1:0\" }",
            None,
        )
        .expect("static");
        assert_eq!(
            config.base_url,
            "https://bedrock-runtime.us-east-1.amazonaws.com"
        );
        let BedrockCredentials::Static(creds) = &config.credentials else {
            panic!("static")
        };
        assert_eq!(creds.secret_access_key.expose(), "from-env");
        assert_eq!(
            config.model_map.resolve("claude-sonnet-4-5"),
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(config.model_map.resolve("other"), "other");

        let config = parse(
            "region = \"eu-west-1\"\nbase_url = \"http://127.0.0.1:9/\"",
            Some("ABSK"),
        )
        .expect("api key");
        assert!(matches!(config.credentials, BedrockCredentials::ApiKey(_)));
        assert_eq!(config.base_url, "http://127.0.0.1:9");

        let config = parse("region = \"us-west-2\"\naws_profile = \"dev\"\nbetas_allow = [\"prompt-caching-scope-*\"]", None).expect("chain");
        assert!(matches!(config.credentials, BedrockCredentials::Chain(_)));
        assert!(config.betas.accepts("prompt-caching-scope-2026-01-05"));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("", "`region` is required"),
            ("region = \"US East\"", "`region` must be"),
            (
                "region = \"us-east-1\"\nflavour = 1",
                "`flavour` is not an option",
            ),
            (
                "region = \"us-east-1\"\naws_access_key_id = \"A\"",
                "needs `aws_secret_access_key`",
            ),
            (
                "region = \"us-east-1\"\naws_secret_access_key = \"S\"",
                "needs `aws_access_key_id`",
            ),
            (
                "region = \"us-east-1\"\naws_session_token = \"T\"",
                "`aws_session_token` needs",
            ),
            (
                "region = \"us-east-1\"\naws_access_key_id = \"A\"\naws_secret_access_key = \"env:NOPE\"",
                "NOPE",
            ),
            (
                "region = \"us-east-1\"\nbetas_drop = [\"a b\"]",
                "betas_drop",
            ),
            (
                "region = \"us-east-1\"\naws_access_key_id = \"A\"\naws_secret_access_key = \"S\"\naws_profile = \"p\"",
                "aws_profile",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text, None).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
        let err = parse(
            "region = \"us-east-1\"\naws_access_key_id = \"A\"\naws_secret_access_key = \"S\"",
            Some("K"),
        )
        .expect_err("both");
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn region_limit() {
        assert!(
            parse(
                &format!("region = \"{}\"", "a".repeat(MAX_REGION_LEN)),
                None
            )
            .is_ok()
        );
        assert!(
            parse(
                &format!("region = \"{}\"", "a".repeat(MAX_REGION_LEN + 1)),
                None
            )
            .is_err()
        );
    }
}
