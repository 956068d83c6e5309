//! The options of `kind = "vertex"`, validated by the provider itself from its raw table:
//! project, location, base URL, where tokens come from (a static token in `keys`, a
//! `credentials_file`, or Application Default Credentials), the model map and beta overrides.

use super::envelope::{VertexTarget, default_base_url};
use super::oauth::{GoogleSource, application_default, source_from_file};
use crate::config::{OptionError, Secret};
use crate::providers::betas::BetaPolicy;
use crate::providers::options::{KindOptions, safe_value, string_arrays, strings};
use crate::providers::raw_config::{
    ModelMap, model_map, opt_str, reject_unknown, req_str, str_array,
};

/// The kind-specific options this module reads.
pub const VERTEX_OPTIONS: &[&str] = &[
    "project",
    "location",
    "base_url",
    "credentials_file",
    "model_map",
    "betas_allow",
    "betas_drop",
];

/// `kind = "vertex"`'s own `[[providers]]` keys, checked at load (types; `project` and
/// `location` required); [`VertexConfig::from_table`] reads them at start-up.
pub static VERTEX_KIND_OPTIONS: KindOptions = KindOptions {
    keys: &[
        "project",
        "location",
        "credentials_file",
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
    let project = safe_value(options, "project")?;
    let location = safe_value(options, "location")?;
    strings(options, &["credentials_file"])?;
    string_arrays(options, &["betas_allow", "betas_drop"])?;
    let needs = |key: &str| OptionError::entry(format!("kind `vertex` needs `{key}`"));
    project.ok_or_else(|| needs("project"))?;
    let location = location.ok_or_else(|| needs("location"))?;
    Ok((!base_url_given).then(|| default_base_url(location)))
}

/// Where access tokens come from.
#[derive(Debug)]
pub enum VertexCredentials {
    /// A token minted by the user (`keys`).
    Static(Secret),
    /// A refreshed source (service account file, ADC file, or metadata server).
    Source(GoogleSource),
}

/// A validated Vertex provider.
#[derive(Debug)]
pub struct VertexConfig {
    pub target: VertexTarget,
    pub credentials: VertexCredentials,
    pub model_map: ModelMap,
    pub betas: BetaPolicy,
}

impl VertexConfig {
    /// `table` holds the kind-specific options (common ones removed by the caller); `token` is
    /// the provider's `keys` entry, if any; `env` feeds Application Default Credentials.
    /// A `credentials_file` is read and its key parsed now, so a bad file fails the load.
    pub fn from_table(
        table: &toml::Table,
        token: Option<Secret>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<VertexConfig, String> {
        reject_unknown(table, VERTEX_OPTIONS, "vertex")?;
        let target = VertexTarget::new(
            req_str(table, "project")?,
            req_str(table, "location")?,
            opt_str(table, "base_url")?,
        )?;
        let credentials = match (opt_str(table, "credentials_file")?, token) {
            (Some(_), Some(_)) => {
                return Err(
                    "use either `credentials_file` or `keys` (a static token), not both".into(),
                );
            }
            (Some(path), None) => VertexCredentials::Source(
                source_from_file(path).map_err(|e| format!("`credentials_file`: {e}"))?,
            ),
            (None, Some(token)) => VertexCredentials::Static(token),
            (None, None) => VertexCredentials::Source(application_default(env)?),
        };
        let betas = BetaPolicy::vertex(
            &str_array(table, "betas_allow")?,
            &str_array(table, "betas_drop")?,
        )
        .map_err(|e| e.to_string())?;
        Ok(VertexConfig {
            target,
            credentials,
            model_map: model_map(table)?,
            betas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        text: &str,
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<VertexConfig, String> {
        let table: toml::Table = text.parse().expect("toml");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        VertexConfig::from_table(&table, token.map(Secret::new), &lookup)
    }

    #[test]
    fn static_token_file_and_adc() {
        let config = parse(
            "project = \"my-proj\"\nlocation = \"global\"\nmodel_map = { \"claude-sonnet-4-5\" = \"claude-sonnet-4-5@20250929\" }",
            Some("ya29.x"),
            &[],
        )
        .expect("static");
        assert!(matches!(config.credentials, VertexCredentials::Static(_)));
        assert_eq!(
            config.target.base_url,
            "https://aiplatform.googleapis.com/v1"
        );
        assert_eq!(
            config.model_map.resolve("claude-sonnet-4-5"),
            "claude-sonnet-4-5@20250929"
        );

        let key = String::from_utf8(
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/vertex/test_sa_key.pem"),
            )
            .expect("key"),
        )
        .expect("utf8");
        let dir = crate::providers::mock_http::temp_dir("vertex-config");
        let file = dir.join("sa.json");
        let json = serde_json::json!({"type":"service_account","client_email":"e@p.iam.gserviceaccount.com","private_key":key,"token_uri":"http://127.0.0.1:9/token"});
        std::fs::write(&file, json.to_string()).expect("write");
        let text = format!(
            "project = \"p\"\nlocation = \"us-east5\"\ncredentials_file = \"{}\"",
            file.display()
        );
        let config = parse(&text, None, &[]).expect("file");
        assert!(matches!(
            config.credentials,
            VertexCredentials::Source(GoogleSource::ServiceAccount(_))
        ));

        let config = parse(
            "project = \"p\"\nlocation = \"us-east5\"",
            None,
            &[("GCE_METADATA_HOST", "127.0.0.1:1")],
        )
        .expect("adc");
        let VertexCredentials::Source(GoogleSource::Metadata(base)) = &config.credentials else {
            panic!("metadata")
        };
        assert_eq!(base, "http://127.0.0.1:1");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("location = \"global\"", "`project` is required"),
            ("project = \"p\"", "`location` is required"),
            (
                "project = \"p\"\nlocation = \"global\"\nregion = \"x\"",
                "`region` is not an option",
            ),
            (
                "project = \"p\"\nlocation = \"global\"\ncredentials_file = \"/nonexistent.json\"",
                "`credentials_file`",
            ),
            (
                "project = \"p\"\nlocation = \"global\"\nbetas_allow = [\"\"]",
                "betas_allow",
            ),
            (
                "project = \"P Q\"\nlocation = \"global\"",
                "`project` must be",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text, None, &[]).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
        let err = parse(
            "project = \"p\"\nlocation = \"global\"\ncredentials_file = \"/x\"",
            Some("t"),
            &[],
        )
        .expect_err("both");
        assert!(err.contains("not both"), "{err}");
    }
}
