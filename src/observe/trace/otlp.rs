//! Turns finished requests into OTLP protobuf (the `opentelemetry-proto` crate's prost
//! types): one SERVER span `chat {model}` with the GenAI attributes and sluice's own, a
//! CLIENT span per upstream attempt, and the model's tool calls as span events.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::context::IdGenerator;
use super::span::RequestSpan;

/// W3C trace flag "sampled", copied into `Span.flags`.
const FLAG_SAMPLED: u32 = 0x01;
/// `Span.flags` bits saying whether the parent is remote (bit 8 known, bit 9 remote).
const FLAG_PARENT_KNOWN: u32 = 0x100;
const FLAG_PARENT_REMOTE: u32 = 0x200;

/// The resource and scope every export carries.
#[derive(Clone, Debug)]
pub struct ExportIdentity {
    pub service_name: String,
    pub resource_attributes: Vec<(String, String)>,
}

/// Wraps spans into one export request.
pub fn export_request(identity: &ExportIdentity, spans: Vec<Span>) -> ExportTraceServiceRequest {
    let mut attributes = vec![string("service.name", &identity.service_name)];
    for (key, value) in &identity.resource_attributes {
        if key != "service.name" {
            attributes.push(string(key, value));
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "sluice".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// The request span and its attempt spans. Attempts without a span id get one from `ids`.
pub fn request_spans(request: &RequestSpan, capture_content: bool, ids: &IdGenerator) -> Vec<Span> {
    let Some(trace) = &request.trace else {
        return Vec::new();
    };
    let trace_id = trace.trace_id.0.to_vec();
    let span_id = trace.span_id.0.to_vec();
    let model = request.request_model.as_deref().unwrap_or("unknown");
    let operation = if request.operation.is_empty() {
        "chat"
    } else {
        request.operation
    };
    let mut attributes = vec![string("gen_ai.operation.name", operation)];
    push_opt(
        &mut attributes,
        "gen_ai.provider.name",
        request.provider.as_deref(),
    );
    push_opt(
        &mut attributes,
        "gen_ai.request.model",
        request.request_model.as_deref(),
    );
    if let Some(max) = request.max_tokens {
        attributes.push(int("gen_ai.request.max_tokens", max));
    }
    push_opt(
        &mut attributes,
        "gen_ai.response.model",
        request.response_model.as_deref(),
    );
    push_opt(
        &mut attributes,
        "gen_ai.response.id",
        request.response_id.as_deref(),
    );
    if !request.finish_reasons.is_empty() {
        attributes.push(strings(
            "gen_ai.response.finish_reasons",
            &request.finish_reasons,
        ));
    }
    let usage = &request.usage;
    attributes.extend([
        int("gen_ai.usage.input_tokens", usage.input_tokens),
        int("gen_ai.usage.output_tokens", usage.output_tokens),
        int(
            "gen_ai.usage.cache_read.input_tokens",
            usage.cache_read_input_tokens,
        ),
        int(
            "gen_ai.usage.cache_creation.input_tokens",
            usage.cache_creation_input_tokens,
        ),
    ]);
    push_opt(
        &mut attributes,
        "server.address",
        request.server_address.as_deref(),
    );
    attributes.push(int("http.response.status_code", u64::from(request.status)));
    push_opt(&mut attributes, "error.type", request.error_type.as_deref());
    push_opt(
        &mut attributes,
        "sluice.virtual_key.id",
        request.key_id.as_deref(),
    );
    push_opt(&mut attributes, "sluice.team.id", request.team.as_deref());
    push_opt(
        &mut attributes,
        "sluice.customer.id",
        request.customer.as_deref(),
    );
    attributes.push(double(
        "sluice.cost.usd",
        request.cost_pico_usd as f64 / 1e12,
    ));
    attributes.push(int("sluice.attempts", request.attempts.len() as u64));
    if let Some(ttft) = request.ttft_nanos {
        attributes.push(double("sluice.time_to_first_token", ttft as f64 / 1e9));
    }
    attributes.push(double(
        "sluice.gateway.overhead",
        request.overhead_nanos as f64 / 1e9,
    ));

    let events = request
        .tool_calls
        .iter()
        .map(|call| {
            let mut attributes = vec![
                string("gen_ai.tool.name", &call.name),
                string("gen_ai.tool.call.id", &call.id),
            ];
            if capture_content {
                attributes.push(string("gen_ai.tool.call.arguments", &call.input_json));
            }
            Event {
                time_unix_nano: request.end_unix_nanos,
                name: "gen_ai.tool.call".into(),
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect();

    let remote = trace.parent_span_id.is_some();
    let mut spans = Vec::with_capacity(1 + request.attempts.len());
    spans.push(Span {
        trace_id: trace_id.clone(),
        span_id: span_id.clone(),
        trace_state: trace.tracestate.clone().unwrap_or_default(),
        parent_span_id: trace
            .parent_span_id
            .map(|p| p.0.to_vec())
            .unwrap_or_default(),
        flags: FLAG_SAMPLED | FLAG_PARENT_KNOWN | if remote { FLAG_PARENT_REMOTE } else { 0 },
        name: format!("{operation} {model}"),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: request.start_unix_nanos,
        end_time_unix_nano: request.end_unix_nanos,
        attributes,
        events,
        status: Some(status(request.status, request.error_type.as_deref())),
        ..Span::default()
    });
    for attempt in &request.attempts {
        let mut attributes = vec![
            string("gen_ai.operation.name", operation),
            string("gen_ai.provider.name", &attempt.provider),
            string("gen_ai.request.model", &attempt.model),
            string("server.address", &attempt.server_address),
        ];
        if let Some(port) = attempt.server_port {
            attributes.push(int("server.port", u64::from(port)));
        }
        if let Some(code) = attempt.status {
            attributes.push(int("http.response.status_code", u64::from(code)));
        }
        push_opt(&mut attributes, "error.type", attempt.error_type.as_deref());
        let id = attempt.span_id.unwrap_or_else(|| ids.span_id());
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id: id.0.to_vec(),
            trace_state: trace.tracestate.clone().unwrap_or_default(),
            parent_span_id: span_id.clone(),
            flags: FLAG_SAMPLED | FLAG_PARENT_KNOWN,
            name: format!("{operation} {}", attempt.model),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: attempt.start_unix_nanos,
            end_time_unix_nano: attempt.end_unix_nanos,
            attributes,
            status: Some(status(
                attempt.status.unwrap_or(0),
                attempt.error_type.as_deref(),
            )),
            ..Span::default()
        });
    }
    spans
}

/// Error when an error type is set or the status is a server error (GenAI/HTTP conventions).
fn status(code: u16, error_type: Option<&str>) -> Status {
    if error_type.is_some() || code >= 500 || code == 0 {
        Status {
            code: StatusCode::Error as i32,
            message: error_type.unwrap_or_default().to_owned(),
        }
    } else {
        Status::default()
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.to_owned()))
}

fn int(key: &str, value: u64) -> KeyValue {
    kv(
        key,
        Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
    )
}

fn double(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

fn strings(key: &str, values: &[String]) -> KeyValue {
    kv(
        key,
        Value::ArrayValue(ArrayValue {
            values: values
                .iter()
                .map(|v| AnyValue {
                    value: Some(Value::StringValue(v.clone())),
                })
                .collect(),
        }),
    )
}

fn push_opt(attributes: &mut Vec<KeyValue>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        attributes.push(string(key, value));
    }
}
