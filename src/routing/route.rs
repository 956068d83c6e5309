//! Which endpoint a request is for, decided from its method and path alone (before the body is
//! read). The `/anthropic` prefix is accepted and dropped on the way upstream.

use crate::error::{ErrorKind, GatewayError};

/// The prefix under which the Anthropic endpoints are also served.
pub const ANTHROPIC_PREFIX: &str = "/anthropic";

/// The endpoints sluice answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /health`: answered by sluice itself.
    Health,
    /// `HEAD /` or `GET /`: Claude Code's connectivity check, answered by sluice itself.
    Root,
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// `GET /v1/models` and `GET /v1/models/{id}`.
    Models,
    /// `POST`, `GET`, `DELETE /mcp`: the MCP gateway (answered by the shard's MCP gateway).
    Mcp,
    /// `POST /v1/chat/completions` and `POST /openai/v1/chat/completions`: OpenAI-format
    /// clients, answered in OpenAI's format.
    ChatCompletions,
    /// `GET /openai/v1/models`, and `GET /v1/models` without `anthropic-version`: the model
    /// list in OpenAI's shape (the Anthropic provider's list re-shaped, plus the configured
    /// names).
    OpenAiModels,
}

impl Route {
    /// A bounded label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Route::Health => "/health",
            Route::Root => "/",
            Route::Messages => "/v1/messages",
            Route::CountTokens => "/v1/messages/count_tokens",
            Route::Models => "/v1/models",
            Route::Mcp => "/mcp",
            Route::ChatCompletions => "/v1/chat/completions",
            Route::OpenAiModels => "/openai/v1/models",
        }
    }

    /// Whether the upstream is asked (as opposed to sluice answering itself).
    pub fn is_proxied(self) -> bool {
        match self {
            Route::Health | Route::Root | Route::Mcp => false,
            Route::Messages
            | Route::CountTokens
            | Route::Models
            | Route::ChatCompletions
            | Route::OpenAiModels => true,
        }
    }

    /// Whether this is a model list (or one model), in either shape.
    pub fn is_model_list(self) -> bool {
        matches!(self, Route::Models | Route::OpenAiModels)
    }

    /// Whether the client speaks OpenAI's format (its errors are answered in OpenAI's shape).
    pub fn openai_client(self) -> bool {
        matches!(self, Route::ChatCompletions | Route::OpenAiModels)
    }

    /// Whether the request body must be a JSON object naming a model.
    pub fn has_json_body(self) -> bool {
        match self {
            Route::Messages | Route::CountTokens | Route::ChatCompletions => true,
            Route::Health | Route::Root | Route::Models | Route::Mcp | Route::OpenAiModels => false,
        }
    }
}

/// The path to send upstream: the client's path without the `/anthropic` prefix.
pub fn upstream_path(path: &str) -> &str {
    match path.strip_prefix(ANTHROPIC_PREFIX) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Classifies a request; unknown paths are 404, known paths with the wrong method 405.
pub fn classify(method: &str, path: &str) -> Result<Route, GatewayError> {
    let (route, allowed): (Route, &[&str]) = match upstream_path(path) {
        "/health" => (Route::Health, &["GET", "HEAD"]),
        "/" if path == "/" => (Route::Root, &["GET", "HEAD"]),
        "/v1/messages" => (Route::Messages, &["POST"]),
        "/v1/messages/count_tokens" => (Route::CountTokens, &["POST"]),
        "/v1/models" => (Route::Models, &["GET"]),
        "/mcp" if path == "/mcp" => (Route::Mcp, &["GET", "POST", "DELETE"]),
        "/v1/chat/completions" | "/openai/v1/chat/completions"
            if !path.starts_with(ANTHROPIC_PREFIX) =>
        {
            (Route::ChatCompletions, &["POST"])
        }
        "/openai/v1/models" => (Route::OpenAiModels, &["GET"]),
        p if p.starts_with("/v1/models/") && p.len() > "/v1/models/".len() => {
            (Route::Models, &["GET"])
        }
        _ => {
            return Err(GatewayError::new(
                ErrorKind::NotFound,
                format!("no route for {method} {path}"),
            ));
        }
    };
    if allowed.contains(&method) {
        Ok(route)
    } else {
        Err(GatewayError::new(
            ErrorKind::MethodNotAllowed,
            format!("{method} is not allowed on {path}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_plane_paths_with_and_without_prefix() {
        for prefix in ["", "/anthropic"] {
            let p = |s: &str| format!("{prefix}{s}");
            assert_eq!(classify("POST", &p("/v1/messages")), Ok(Route::Messages));
            assert_eq!(
                classify("POST", &p("/v1/messages/count_tokens")),
                Ok(Route::CountTokens)
            );
            assert_eq!(classify("GET", &p("/v1/models")), Ok(Route::Models));
            assert_eq!(
                classify("GET", &p("/v1/models/claude-x")),
                Ok(Route::Models)
            );
            assert_eq!(classify("GET", &p("/health")), Ok(Route::Health));
        }
        assert_eq!(classify("HEAD", "/"), Ok(Route::Root));
        for method in ["GET", "POST", "DELETE"] {
            assert_eq!(classify(method, "/mcp"), Ok(Route::Mcp));
        }
        assert_eq!(
            classify("PUT", "/mcp").unwrap_err().kind,
            ErrorKind::MethodNotAllowed
        );
        assert_eq!(
            classify("POST", "/anthropic/mcp").unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn openai_paths() {
        for path in ["/v1/chat/completions", "/openai/v1/chat/completions"] {
            assert_eq!(classify("POST", path), Ok(Route::ChatCompletions));
            let e = classify("GET", path).unwrap_err();
            assert_eq!(e.kind, ErrorKind::MethodNotAllowed);
        }
        assert_eq!(
            classify("GET", "/openai/v1/models"),
            Ok(Route::OpenAiModels)
        );
        let e = classify("POST", "/anthropic/v1/chat/completions").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(Route::ChatCompletions.openai_client() && !Route::Messages.openai_client());
    }

    #[test]
    fn unknown_paths_and_methods() {
        for path in [
            "/v2/messages",
            "/anthropic",
            "/anthropicx/v1/messages",
            "/v1/models/",
            "/x",
        ] {
            let e = classify("POST", path).unwrap_err();
            assert_eq!(e.kind, ErrorKind::NotFound, "{path}");
        }
        let e = classify("GET", "/v1/messages").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MethodNotAllowed);
    }

    #[test]
    fn prefix_is_dropped_upstream() {
        assert_eq!(upstream_path("/anthropic/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/anthropicfoo"), "/anthropicfoo");
    }
}
