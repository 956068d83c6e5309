//! Which providers may serve a request, in failover order (docs/ARCHITECTURE.md, "Request
//! flow"): the first `[[routes]]` entry whose glob matches the model as the client wrote it
//! gives the targets; else a `provider/model` name goes to that provider alone; else, with no
//! routes configured, the first Anthropic provider; else the model is refused with a 400.

use crate::config::{Config, ProviderConfig, glob_match};
use crate::error::{ErrorKind, GatewayError};
use crate::providers::provider_for;

/// One provider that may serve the request.
#[derive(Clone, Copy, Debug)]
pub struct Target<'c> {
    pub index: usize,
    pub provider: &'c ProviderConfig,
    /// When the client wrote `provider/model`: how many leading bytes of its model string to
    /// drop before sending it upstream.
    pub strip_model_prefix: Option<usize>,
    /// The model a `provider/model` route target names instead of the requested one.
    pub model: Option<&'c str>,
}

impl<'c> Target<'c> {
    /// The model name this target is asked for, given the client's `requested` one.
    pub fn upstream_model<'a>(&self, requested: Option<&'a str>) -> Option<&'a str>
    where
        'c: 'a,
    {
        if let Some(model) = self.model {
            return Some(model);
        }
        let skip = self.strip_model_prefix.unwrap_or(0);
        requested.and_then(|m| m.get(skip..))
    }
}

/// Every target for `model`, in failover order; never empty (None for requests without a
/// body, like `GET /v1/models`: the default target).
pub fn plan<'c>(config: &'c Config, model: Option<&str>) -> Result<Vec<Target<'c>>, GatewayError> {
    let Some(model) = model else {
        return default_target(config).map(|t| vec![t]);
    };
    // A `provider/` prefix naming a configured provider.
    let prefix = model
        .split_once('/')
        .and_then(|(p, _)| config.providers.iter().position(|c| c.name == p))
        .map(|index| (index, config.providers[index].name.len() + 1));
    if let Some(route) = config.routes.iter().find(|r| glob_match(&r.pattern, model)) {
        let mut targets = Vec::with_capacity(route.targets.len());
        let mut refusal = None;
        for entry in &route.targets {
            let (name, routed_model) = match entry.split_once('/') {
                Some((name, m)) => (name, Some(m)),
                None => (entry.as_str(), None),
            };
            let Some(index) = config.providers.iter().position(|p| p.name == name) else {
                continue; // validation makes this unreachable
            };
            match servable(config, index, prefix.map(|(_, len)| len)) {
                Ok(mut target) => {
                    target.model = routed_model;
                    targets.push(target);
                }
                Err(e) => refusal = Some(e),
            }
        }
        return match (targets.is_empty(), refusal) {
            (false, _) => Ok(targets),
            (true, Some(e)) => Err(e),
            (true, None) => Err(unknown_model(model)),
        };
    }
    if let Some((index, len)) = prefix {
        return servable(config, index, Some(len)).map(|t| vec![t]);
    }
    if config.routes.is_empty() {
        return default_target(config).map(|t| vec![t]);
    }
    Err(unknown_model(model))
}

fn unknown_model(model: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::BadRequest,
        format!(
            "model `{model}` matches no route; name a configured route's model or write \
             `provider/model`"
        ),
    )
}

fn default_target(config: &Config) -> Result<Target<'_>, GatewayError> {
    match config
        .providers
        .iter()
        .position(|p| p.kind == crate::providers::anthropic::KIND)
    {
        Some(index) => servable(config, index, None),
        None => Err(GatewayError::new(
            ErrorKind::NoProvider,
            "no Anthropic-format provider is configured for this request",
        )),
    }
}

fn servable(
    config: &Config,
    index: usize,
    strip_model_prefix: Option<usize>,
) -> Result<Target<'_>, GatewayError> {
    let provider = &config.providers[index];
    match provider.kind {
        kind if provider_for(kind).is_some() => Ok(Target {
            index,
            provider,
            strip_model_prefix,
            model: None,
        }),
        other => Err(GatewayError::new(
            ErrorKind::NoProvider,
            format!(
                "provider {} is of kind {other:?}, which this gateway build cannot serve yet",
                provider.name
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes: &str) -> Config {
        let text = format!(
            "[[providers]]\nname = \"primary\"\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:1\"\n\
             [[providers]]\nname = \"backup\"\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:2\"\n{routes}"
        );
        Config::from_toml_str(&text).unwrap()
    }

    fn names(targets: &[Target<'_>], requested: &str) -> Vec<String> {
        targets
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    t.provider.name,
                    t.upstream_model(Some(requested)).unwrap_or("")
                )
            })
            .collect()
    }

    #[test]
    fn route_matches_the_name_as_written_and_orders_targets() {
        let c = config(
            "[[routes]]\nmatch = \"claude-*\"\ntargets = [\"primary\", \"backup/claude-x\"]\n\
             [[routes]]\nmatch = \"backup/*\"\ntargets = [\"backup\", \"primary\"]\n",
        );
        let t = plan(&c, Some("claude-a")).unwrap();
        assert_eq!(
            names(&t, "claude-a"),
            ["primary:claude-a", "backup:claude-x"]
        );
        // The prefixed name is matched as written; `provider` entries get the bare model.
        let t = plan(&c, Some("backup/m")).unwrap();
        assert_eq!(names(&t, "backup/m"), ["backup:m", "primary:m"]);
        // A prefixed name no route matches goes to that provider alone.
        let t = plan(&c, Some("primary/m")).unwrap();
        assert_eq!(names(&t, "primary/m"), ["primary:m"]);
        // A bare name no route matches is a 400 naming the model.
        let e = plan(&c, Some("gpt-5")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.contains("gpt-5"), "{}", e.message);
    }

    #[test]
    fn without_routes_the_first_anthropic_provider_serves() {
        let c = config("");
        let t = plan(&c, Some("anything")).unwrap();
        assert_eq!(names(&t, "anything"), ["primary:anything"]);
        assert_eq!(plan(&c, None).unwrap().len(), 1);
    }
}
