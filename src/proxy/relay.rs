//! Relaying an upstream response to the client as it arrives: the head with hop-by-hop headers
//! stripped, the body re-framed for the client's connection. SSE streams are forwarded event
//! by event (a partial event is held until it completes), watched by the Anthropic observer,
//! kept alive with pings during upstream silences, and ended with an `event: error` frame when
//! the upstream fails mid-stream. A client that goes away closes the upstream at once.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::context::RequestContext;
use super::error::{ErrorKind, GatewayError};
use super::govern;
use super::route::Route;
use crate::http::chunked::{LAST_CHUNK, encode_chunk};
use crate::http::client::Exchange;
use crate::http::client::body::{BodyError, BodyReader};
use crate::http::conn::{ClientConn, Scratch};
use crate::http::encode::{
    SSE_PING_FRAME, sse_error_frame, write_content_length, write_header, write_status_line,
};
use crate::http::head::RequestHead;
use crate::http::hop::{is_hop_by_hop, listed_in_connection};
use crate::http::response_head::{ResponseFraming, ResponseHead};
use crate::runtime::Shard;
use crate::sse::json_body::summarize_message_json;
use crate::sse::observer::AnthropicObserver;
use crate::sse::parser::{MAX_EVENT_BYTES, SseParser};

/// Bytes of one unfinished SSE event held back before the stream is failed. Twice the parser's
/// data limit leaves room for the `data: ` prefixes and line ends of an event at that limit.
pub const MAX_PENDING_EVENT_BYTES: usize = 2 * MAX_EVENT_BYTES;

/// Non-streaming bodies larger than this are relayed but not parsed for usage.
pub const MAX_OBSERVED_JSON_BYTES: usize = 8 * 1024 * 1024;

/// How the body is framed towards the client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientFraming {
    /// No body (HEAD, 204, 304): the upstream's headers pass as they are.
    None,
    Length(u64),
    Chunked,
    /// HTTP/1.0 client and unknown length: the body ends when we close.
    Close,
}

/// What woke the relay while it waited.
enum Wake {
    Upstream(std::io::Result<usize>),
    Client(std::io::Result<usize>),
    Tick,
}

/// Relays `exchange`'s response to `client`. Errors are returned only while nothing has been
/// written; later failures are answered in-band and recorded in `ctx`.
pub async fn relay(
    shard: &Rc<Shard>,
    client: &mut ClientConn,
    exchange: Exchange,
    request: &RequestHead,
    ctx: &mut RequestContext,
    scratch: &mut Scratch,
) -> Result<(), GatewayError> {
    let Exchange { mut conn, head, .. } = exchange;
    let provider_index = ctx.provider.unwrap_or(0);
    let route = ctx.route.unwrap_or(Route::Messages);
    let upstream_framing = head.framing(request.method() == "HEAD");
    let is_sse = (200..300).contains(&head.status()) && is_event_stream(&head);
    let framing = client_framing(upstream_framing, is_sse, request.minor_version());
    if framing == ClientFraming::Close {
        ctx.keep_alive = false;
    }
    let observe_json = route == Route::Messages && head.status() == 200 && !is_sse;
    let _stream_guard = is_sse.then(|| shard.metrics.stream_started());

    ctx.keep_alive = ctx.keep_alive && !shard.draining();
    let out = &mut scratch.out;
    write_client_head(out, &head, framing, ctx.keep_alive);
    govern::write_limit_headers(shard, ctx, out);
    out.extend_from_slice(b"\r\n");
    ctx.status = head.status();

    let mut reader = BodyReader::new(upstream_framing);
    let mut sse = is_sse.then(|| (SseParser::new(), AnthropicObserver::new()));
    let data = &mut scratch.data;
    let mut observed_json = Vec::new();
    let ping_every = shard.config.server.stream_ping;
    let read_timeout = shard.upstreams.read_timeout();
    let mut last_upstream_bytes = Instant::now();
    let mut last_ping = last_upstream_bytes;

    loop {
        // Move what arrived into `data`, and frame whatever may be forwarded now into `out`.
        let fed = data.len();
        let step = reader.decode_buffered(&mut conn, data);
        let finished = match step {
            Ok(finished) => finished,
            Err(e) => {
                return fail_mid_body(shard, client, ctx, sse, out, body_fault(&e)).await;
            }
        };
        if let Some((parser, observer)) = sse.as_mut() {
            let boundary = parser.feed(&data[fed..], |event| observer.on_event(event));
            if let Some(end) = boundary {
                frame(out, framing, &data[..fed + end]);
                data.drain(..fed + end);
            } else if data.len() > MAX_PENDING_EVENT_BYTES {
                let e = GatewayError::new(ErrorKind::UpstreamProtocol, "an SSE event is too large");
                return fail_mid_body(shard, client, ctx, sse, out, e).await;
            }
            if finished && !data.is_empty() {
                // The body ended inside an event: forward the tail as it is.
                frame(out, framing, data);
                data.clear();
            }
        } else {
            if observe_json {
                if finished && observed_json.is_empty() {
                    ctx.summary = summarize_message_json(data);
                } else if observed_json.len() + data.len() <= MAX_OBSERVED_JSON_BYTES {
                    observed_json.extend_from_slice(data);
                }
            }
            frame(out, framing, data);
            data.clear();
        }
        if finished {
            if observe_json && !observed_json.is_empty() {
                ctx.summary = summarize_message_json(&observed_json);
            }
            // Settle before the response's last byte is written: once the client has it, every
            // later admission on any shard sees this cost (DESIGN §4).
            let usage = match &sse {
                Some((_, observer)) => Some(observer.summary().usage.clone()),
                None => ctx.summary.as_ref().map(|s| s.usage.clone()),
            };
            govern::settle(shard, ctx, usage.as_ref(), true);
            if framing == ClientFraming::Chunked {
                out.extend_from_slice(LAST_CHUNK);
            }
        }
        if !out.is_empty() {
            ctx.response_started = true;
            ctx.overhead.pause();
            let written = client.write_all(out).await;
            ctx.overhead.resume();
            out.clear();
            if written.is_err() {
                ctx.client_gone = true;
                settle_so_far(shard, ctx, &sse);
                break;
            }
        }
        if finished {
            if reader.leaves_connection_reusable() && head.keep_alive() {
                shard.upstreams.checkin(provider_index, conn);
            }
            break;
        }

        // Wait for the upstream, watching the client and the ping clock meanwhile.
        let now = Instant::now();
        let silent_for = now.saturating_duration_since(last_upstream_bytes);
        if silent_for >= read_timeout {
            let e = GatewayError::new(ErrorKind::UpstreamTimeout, "the upstream stopped sending");
            return fail_mid_body(shard, client, ctx, sse, out, e).await;
        }
        let mut wait = read_timeout - silent_for;
        if sse.is_some() {
            let since_quiet = now.saturating_duration_since(last_upstream_bytes.max(last_ping));
            wait = wait.min(
                ping_every
                    .saturating_sub(since_quiet)
                    .max(Duration::from_millis(1)),
            );
        }
        let watch_client = client.may_read_ahead();
        ctx.overhead.pause();
        let wake = futures_lite::future::or(
            async { Wake::Upstream(conn.fill().await) },
            futures_lite::future::or(
                async {
                    if watch_client {
                        Wake::Client(client.fill().await)
                    } else {
                        std::future::pending().await
                    }
                },
                async {
                    glommio::timer::Timer::new(wait).await;
                    Wake::Tick
                },
            ),
        )
        .await;
        ctx.overhead.resume();
        match wake {
            Wake::Upstream(Ok(n)) if n > 0 => last_upstream_bytes = Instant::now(),
            Wake::Upstream(Ok(_)) => {
                // A close-delimited stream has no framing to tell a cut from an end: an
                // Anthropic stream that closes before `message_stop` was cut.
                let cut_stream = sse
                    .as_ref()
                    .is_some_and(|(_, observer)| !observer.summary().saw_message_stop);
                let ended = match reader.on_end_of_stream() {
                    Ok(()) if cut_stream => Err(BodyError::EndedEarly),
                    other => other,
                };
                if let Err(e) = ended {
                    return fail_mid_body(shard, client, ctx, sse, out, body_fault(&e)).await;
                }
            }
            Wake::Upstream(Err(e)) => {
                let e = GatewayError::new(
                    ErrorKind::UpstreamProtocol,
                    format!("the upstream connection failed mid-response: {e}"),
                );
                return fail_mid_body(shard, client, ctx, sse, out, e).await;
            }
            Wake::Client(Ok(n)) if n > 0 => {} // pipelined bytes, kept for the next request
            Wake::Client(_) => {
                ctx.client_gone = true;
                settle_so_far(shard, ctx, &sse);
                break; // dropping `conn` closes the upstream connection now
            }
            Wake::Tick => {
                let now = Instant::now();
                let quiet = now.saturating_duration_since(last_upstream_bytes.max(last_ping));
                if sse.is_some() && quiet >= ping_every {
                    frame(out, framing, SSE_PING_FRAME);
                    last_ping = now;
                }
            }
        }
    }
    if let Some((_, observer)) = sse {
        ctx.summary = Some(observer.into_summary());
    }
    Ok(())
}

/// A failure after the response head went out. SSE: an `event: error` frame and a clean end
/// of the chunked body, so the client sees a well-formed stream. Other bodies cannot carry an
/// error: the connection is closed without a terminator, which tells the client it is cut.
/// Either way, what the stream reported so far is charged and kept for the log.
async fn fail_mid_body(
    shard: &Shard,
    client: &mut ClientConn,
    ctx: &mut RequestContext,
    sse: Option<(SseParser, AnthropicObserver)>,
    out: &mut Vec<u8>,
    err: GatewayError,
) -> Result<(), GatewayError> {
    settle_so_far(shard, ctx, &sse);
    let is_sse = sse.is_some();
    if let Some((_, observer)) = sse {
        ctx.summary = Some(observer.into_summary());
    }
    if !is_sse {
        if !out.is_empty() {
            let _ = client.write_all(out).await;
        }
        ctx.response_started = true;
        return Err(err);
    }
    let mut event = Vec::with_capacity(192);
    let error_type = match err.kind {
        ErrorKind::UpstreamTimeout => "timeout_error",
        _ => "api_error",
    };
    sse_error_frame(&mut event, error_type, &err.message);
    encode_chunk(out, &event);
    out.extend_from_slice(LAST_CHUNK);
    ctx.response_started = true;
    if client.write_all(out).await.is_err() {
        ctx.client_gone = true;
    }
    out.clear();
    ctx.late_fault = Some(err);
    Ok(())
}

/// Charges what the stream reported so far (a client that left, an upstream that failed):
/// the provider bills those tokens.
fn settle_so_far(
    shard: &Shard,
    ctx: &mut RequestContext,
    sse: &Option<(SseParser, AnthropicObserver)>,
) {
    let usage = sse
        .as_ref()
        .map(|(_, observer)| observer.summary().usage.clone());
    govern::settle(shard, ctx, usage.as_ref(), false);
}

fn body_fault(e: &BodyError) -> GatewayError {
    match e {
        BodyError::EndedEarly => GatewayError::new(
            ErrorKind::UpstreamProtocol,
            "the upstream connection ended before the response was complete",
        ),
        BodyError::BadChunking(why) => GatewayError::new(
            ErrorKind::UpstreamProtocol,
            format!("the upstream sent a malformed chunked body: {why:?}"),
        ),
    }
}

fn is_event_stream(head: &ResponseHead) -> bool {
    head.header("content-type")
        .is_some_and(|v| v.len() >= 17 && v[..17].eq_ignore_ascii_case(b"text/event-stream"))
}

fn client_framing(upstream: ResponseFraming, is_sse: bool, client_minor: u8) -> ClientFraming {
    match upstream {
        ResponseFraming::Empty => ClientFraming::None,
        _ if client_minor == 0 => match upstream {
            ResponseFraming::Length(n) => ClientFraming::Length(n),
            _ => ClientFraming::Close,
        },
        // SSE is always chunked to the client, so that an error event can end it cleanly.
        _ if is_sse => ClientFraming::Chunked,
        ResponseFraming::Length(n) => ClientFraming::Length(n),
        ResponseFraming::Chunked | ResponseFraming::CloseDelimited => ClientFraming::Chunked,
    }
}

fn frame(out: &mut Vec<u8>, framing: ClientFraming, bytes: &[u8]) {
    match framing {
        ClientFraming::Chunked => encode_chunk(out, bytes),
        ClientFraming::Length(_) | ClientFraming::Close => out.extend_from_slice(bytes),
        ClientFraming::None => {}
    }
}

/// Writes the status line and headers (without the blank line that ends the head).
fn write_client_head(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    framing: ClientFraming,
    keep_alive: bool,
) {
    write_status_line(out, head.status(), head.reason());
    let connection = head.header("connection");
    for (name, value) in head.headers() {
        let framing_header = name.eq_ignore_ascii_case("content-length");
        if is_hop_by_hop(name)
            || listed_in_connection(connection, name)
            || (framing_header && framing != ClientFraming::None)
        {
            continue;
        }
        write_header(out, name, value);
    }
    match framing {
        ClientFraming::Length(n) => write_content_length(out, n),
        ClientFraming::Chunked => write_header(out, "transfer-encoding", b"chunked"),
        ClientFraming::None | ClientFraming::Close => {}
    }
    if !keep_alive || framing == ClientFraming::Close {
        write_header(out, "connection", b"close");
    }
}
