//! The flow's steps for OpenAI-format clients (`/v1/chat/completions`, the OpenAI-shaped model
//! list): the request translated for an Anthropic-dialect provider (or passed as it is to an
//! OpenAI-format one), the response codec chosen by the client's format, and errors written in
//! OpenAI's shape. The request otherwise goes through the same flow as an Anthropic client's
//! (same keys, governance, routing and settlement).

use std::time::{SystemTime, UNIX_EPOCH};

use super::context::{Phase, RequestContext};
use super::openai_codecs::{ChunksCodec, ClientCodec, PassthroughCodec, ReplacedBodyCodec};
use crate::config::{Config, ProviderConfig};
use crate::error::{ErrorKind, GatewayError};
use crate::governance::{PriceTable, UNKNOWN_MAX_OUTPUT_TOKENS};
use crate::http::encode::{
    local_response, reason_phrase, write_content_length, write_header, write_status_line,
};
use crate::http::head::RequestHead;
use crate::http::response_head::ResponseHead;
use crate::inbound::openai::{
    RequestError, anthropic_models_body, ensure_include_usage, gateway_error, openai_models_body,
    translate_request,
};
use crate::json::write_u64;
use crate::providers::anthropic::error_body::error_response;
use crate::providers::{Provider, provider_for};
use crate::routing::{Route, Target};

/// The Anthropic API version sent upstream for a translated request (the OpenAI SDKs send none).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Who owns the configured names in the OpenAI-shaped list.
pub const OWNED_BY: &str = "sluice";

/// What the flow keeps about an OpenAI-format request for its response.
pub struct Inbound {
    /// The upstream speaks OpenAI's format: the response passes as it is.
    passthrough: bool,
    stream: bool,
    include_usage: bool,
    /// The model reported when the response names none (the one the client asked for).
    model: String,
    created: u64,
    /// The `max_tokens` the upstream will see (None: the client's body decides).
    pub max_tokens: Option<u64>,
    /// The body readied for the other dialect, when the route has targets of both.
    other: Option<Vec<u8>>,
}

/// `GET /v1/models` without `anthropic-version` is the OpenAI SDKs' list.
pub fn refine(route: Route, head: &RequestHead) -> Route {
    let bare_list = crate::routing::upstream_path(head.path()) == "/v1/models"
        && !head
            .path()
            .starts_with(crate::routing::route::ANTHROPIC_PREFIX);
    if route == Route::Models && bare_list && head.header("anthropic-version").is_none() {
        Route::OpenAiModels
    } else {
        route
    }
}

/// The names clients may ask for: every `model_map` key and every literal route name, as
/// written, in config order (the list body drops repeats).
pub fn configured_models(config: &Config) -> impl Iterator<Item = &str> {
    let literal = |name: &&str| !name.contains(['*', '?', '[']);
    let mapped = config.providers.iter().flat_map(|p| p.model_map.keys());
    let routed = config.routes.iter().map(|r| r.pattern.as_str());
    mapped.chain(routed).filter(literal)
}

/// Answers a model list from the configuration alone, in the route's shape (OpenAI's for
/// [`Route::OpenAiModels`], Anthropic's otherwise): when no provider speaks Anthropic's API or
/// the first target is not one that does.
pub fn answer_configured_models(
    route: Route,
    config: &Config,
    ctx: &mut RequestContext,
    out: &mut Vec<u8>,
) {
    let body = if route == Route::OpenAiModels {
        openai_models_body(configured_models(config), unix_now(), OWNED_BY)
    } else {
        anthropic_models_body(configured_models(config), &rfc3339_now())
    };
    local_response(out, 200, "application/json", &body, !ctx.keep_alive);
    ctx.status = 200;
    ctx.enter(Phase::Streaming);
}

/// Where the OpenAI-shaped list asks the Anthropic provider: its whole list in one page
/// (OpenAI's list has no pagination; Anthropic's `limit` goes up to 1,000).
pub const OPENAI_MODELS_UPSTREAM_PATH: &str = "/v1/models?limit=1000";

/// Adds `anthropic-version` before the blank line that ends an upstream `head` (the OpenAI
/// SDKs send none; Anthropic requires it).
pub fn add_anthropic_version(head: &mut Vec<u8>) {
    if !head.ends_with(b"\r\n\r\n") {
        return;
    }
    head.truncate(head.len() - 2);
    write_header(head, "anthropic-version", ANTHROPIC_VERSION.as_bytes());
    head.extend_from_slice(b"\r\n");
}

/// The first target of the other dialect than the first target's, when the route has one:
/// its provider, configuration and upstream model.
pub type OtherDialect<'c> = (&'static dyn Provider, &'c ProviderConfig, &'c str);

/// The codec for the Anthropic provider's model list. [`Route::Models`]: a 200 gains the
/// configured names (None when there are none, or another status: the answer passes as it
/// came). [`Route::OpenAiModels`]: a 200 is re-shaped as OpenAI's list with the configured names
/// added, an error into OpenAI's error shape.
pub fn models_codec(route: Route, config: &Config, response: &ResponseHead) -> Option<ClientCodec> {
    let names: Vec<String> = configured_models(config).map(str::to_owned).collect();
    let ok = response.status() == 200;
    match route {
        Route::OpenAiModels if ok => Some(ClientCodec::Body(ReplacedBodyCodec::openai_models(
            names,
            unix_now(),
        ))),
        Route::OpenAiModels => Some(ClientCodec::Body(ReplacedBodyCodec::error(
            response.status(),
        ))),
        Route::Models if ok && !names.is_empty() => {
            Some(ClientCodec::Body(ReplacedBodyCodec::models(names)))
        }
        _ => None,
    }
}

/// Now, in RFC 3339 (the `created_at` of the configured names in Anthropic's list).
pub fn rfc3339_now() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    crate::date::format_rfc3339(millis)
}

/// Readies `body` (already routed, its model substituted) for `provider`: passed as it is to an
/// OpenAI-format provider (with `stream_options.include_usage` added when `metered`), translated
/// into an Anthropic Messages body for `upstream_model` otherwise. When the route also has
/// targets of the other dialect (`other`), the body is readied for that one too and kept in the
/// [`Inbound`], so an attempt on either dialect has its body.
pub fn prepare(
    config: &Config,
    provider: &dyn Provider,
    target: &ProviderConfig,
    upstream_model: &str,
    body: &mut Vec<u8>,
    metered: bool,
    other: Option<OtherDialect<'_>>,
) -> Result<Inbound, GatewayError> {
    let original = other.map(|_| body.clone());
    let mut inbound = ready(config, provider, target, upstream_model, body, metered)?;
    if let (Some((provider, target, model)), Some(mut original)) = (other, original) {
        let theirs = ready(config, provider, target, model, &mut original, metered)?;
        if !theirs.passthrough {
            // The client's own `include_usage` (the passthrough side asks for usage anyway).
            inbound.include_usage = theirs.include_usage;
        }
        inbound.other = Some(original);
    }
    Ok(inbound)
}

/// The first of `targets` whose provider speaks the other dialect than `first`'s.
pub fn other_dialect<'c>(
    first: &dyn Provider,
    targets: &[Target<'c>],
    requested: Option<&'c str>,
) -> Option<OtherDialect<'c>> {
    targets.iter().find_map(|target| {
        let provider = provider_for(target.provider.kind)?;
        let model = super::attempts::target_model(target, requested);
        (provider.translates() != first.translates()).then_some((provider, target.provider, model))
    })
}

/// [`prepare`] for one dialect.
fn ready(
    config: &Config,
    provider: &dyn Provider,
    target: &ProviderConfig,
    upstream_model: &str,
    body: &mut Vec<u8>,
    metered: bool,
) -> Result<Inbound, GatewayError> {
    let created = unix_now();
    if provider.translates() {
        let peek = crate::providers::anthropic::request_peek::peek_request(body).ok();
        let stream = peek.as_ref().is_some_and(|p| p.stream);
        if metered
            && stream
            && let Some(rewritten) = ensure_include_usage(body).map_err(bad_request)?
        {
            *body = rewritten;
        }
        return Ok(Inbound {
            passthrough: true,
            stream,
            include_usage: true,
            model: upstream_model.to_owned(),
            created,
            max_tokens: peek.and_then(|p| p.max_tokens),
            other: None,
        });
    }
    let request = translate_request(body).map_err(bad_request)?;
    let model_max = PriceTable::new(&config.pricing)
        .price_for(&format!("{}/{upstream_model}", target.name), upstream_model)
        .and_then(|p| p.max_output_tokens)
        .unwrap_or(UNKNOWN_MAX_OUTPUT_TOKENS);
    let max_tokens = request.max_tokens.unwrap_or(model_max).max(1);
    let inbound = Inbound {
        passthrough: false,
        stream: request.stream,
        include_usage: request.include_usage,
        model: request.model.clone(),
        created,
        max_tokens: Some(max_tokens),
        other: None,
    };
    *body = request.into_anthropic_body(upstream_model, model_max);
    Ok(inbound)
}

impl Inbound {
    /// Whether the body stayed in OpenAI's format (for an OpenAI-format provider).
    pub fn passthrough(&self) -> bool {
        self.passthrough
    }

    /// The body for a provider that speaks OpenAI's format (`openai_format`) or Anthropic's:
    /// `primary` (the flow's body) when the first target spoke the same, the other dialect's
    /// otherwise; None when the route has no target of that dialect (nothing was readied).
    pub fn body_for<'b>(&'b self, openai_format: bool, primary: &'b [u8]) -> Option<&'b [u8]> {
        if openai_format == self.passthrough {
            Some(primary)
        } else {
            self.other.as_deref()
        }
    }

    /// Whether the client asked for a stream.
    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The upstream path: Messages for a translated request, the provider's own otherwise.
    pub fn upstream_path(&self) -> &'static str {
        "/v1/messages"
    }

    /// Adds what a translated request's upstream head needs (`anthropic-version`) before the
    /// blank line that ends `head`, unless the provider speaks OpenAI's format.
    pub fn complete_head(&self, openai_format: bool, head: &mut Vec<u8>) {
        if !openai_format {
            add_anthropic_version(head);
        }
    }

    /// The codec for the response: by the client's format and the serving upstream's
    /// (`openai_format`: it speaks OpenAI's).
    pub fn codec(self, openai_format: bool, response: &ResponseHead) -> ClientCodec {
        let status = response.status();
        let ok = (200..300).contains(&status);
        let sse = response
            .header("content-type")
            .is_some_and(|v| v.len() >= 17 && v[..17].eq_ignore_ascii_case(b"text/event-stream"));
        if openai_format {
            return ClientCodec::Passthrough(PassthroughCodec::new(ok && sse));
        }
        if !ok {
            return ClientCodec::Body(ReplacedBodyCodec::error(status));
        }
        if sse {
            ClientCodec::Chunks(ChunksCodec::new(
                self.created,
                &self.model,
                self.include_usage,
            ))
        } else {
            ClientCodec::Body(ReplacedBodyCodec::completion(self.created, &self.model))
        }
    }
}

fn bad_request(e: RequestError) -> GatewayError {
    GatewayError::new(ErrorKind::BadRequest, e.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Appends the error response for `err` in the client's format: OpenAI's shape on the
/// OpenAI-format routes, Anthropic's everywhere else.
pub fn error_response_for(
    route: Option<Route>,
    out: &mut Vec<u8>,
    err: &GatewayError,
    request_id: &str,
    extra_headers: &[u8],
    close: bool,
) {
    if !route.is_some_and(Route::openai_client) {
        error_response(out, err, request_id, extra_headers, close);
        return;
    }
    let status = err.status();
    let body = gateway_error(status, err.anthropic_type(), &err.message, None).body;
    write_status_line(out, status, reason_phrase(status));
    write_header(out, "content-type", b"application/json");
    write_header(out, "x-request-id", request_id.as_bytes());
    write_header(out, "x-sluice-error", b"1");
    if let Some(secs) = err.retry_after_secs {
        out.extend_from_slice(b"retry-after: ");
        write_u64(out, secs.max(1));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(extra_headers);
    write_content_length(out, body.len() as u64);
    if close {
        write_header(out, "connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
}
