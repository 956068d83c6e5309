//! Relaying an upstream response to the client as it arrives: the head with hop-by-hop headers
//! stripped, the body re-framed for the client's connection and passed through the response
//! codec the provider chose for it. Event streams are kept alive with pings during upstream
//! silences and ended with the codec's error event when the upstream fails mid-stream. A
//! client that goes away closes the upstream at once. The relay never settles: it tells
//! `finish` how (complete or partial, with the codec's usage), and leaves the response's last
//! bytes for `finish` to write after settling.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Client;
use super::context::{Phase, RequestContext, Settlement};
use super::govern;
use super::phase_clock::Boundary;
use super::state::ProxyState;
use super::upstream_limits::UpstreamHold;
use crate::error::{ErrorKind, GatewayError};
use crate::http::chunked::{LAST_CHUNK, encode_chunk};
use crate::http::conn::Scratch;
use crate::http::encode::{
    SSE_PING_FRAME, reason_phrase, write_content_length, write_header, write_status_line,
};
use crate::http::head::RequestHead;
use crate::http::hop::{is_hop_by_hop, listed_in_connection};
use crate::http::response_head::{ResponseFraming, ResponseHead};
use crate::providers::{CodecError, ResponseCodec, WithCodec};
use crate::runtime::io::time::sleep;
use crate::upstream::Exchange;
use crate::upstream::body::{BodyError, BodyReader};

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

/// One response to relay: everything the relay borrows, run with the codec chosen for it.
pub struct Relay<'a> {
    pub state: &'a Rc<ProxyState>,
    pub client: &'a mut Client,
    pub exchange: Exchange,
    pub request: &'a RequestHead,
    pub ctx: &'a mut RequestContext,
    pub scratch: &'a mut Scratch,
}

impl WithCodec for Relay<'_> {
    type Output = Result<(), GatewayError>;

    async fn run<C: ResponseCodec>(self, codec: C) -> Self::Output {
        let Relay {
            state,
            client,
            exchange,
            request,
            ctx,
            scratch,
        } = self;
        relay(state, client, exchange, request, ctx, scratch, codec).await
    }
}

/// Relays `exchange`'s response to `client` through `codec`. Errors are returned only while
/// nothing has been written; later failures are answered in-band and recorded in `ctx`.
async fn relay<C: ResponseCodec>(
    state: &Rc<ProxyState>,
    client: &mut Client,
    exchange: Exchange,
    request: &RequestHead,
    ctx: &mut RequestContext,
    scratch: &mut Scratch,
    mut codec: C,
) -> Result<(), GatewayError> {
    let Exchange { mut conn, head, .. } = exchange;
    let provider_index = ctx.provider.unwrap_or(0);
    let upstream_framing = head.framing(request.method() == "HEAD");
    let is_sse = codec.event_stream();
    let framing = client_framing(upstream_framing, is_sse, request.minor_version());
    if framing == ClientFraming::Close {
        ctx.keep_alive = false;
    }
    let _stream_guard = is_sse.then(|| state.metrics.stream_started());

    ctx.keep_alive = ctx.keep_alive && !state.draining();
    let out = &mut scratch.out;
    // A codec that replaces the whole body answers with a head of its own once it has it; one
    // that holds the head sends it with its first bytes.
    let replaces = codec.replaces_body();
    let mut replaced = Vec::new();
    let mut head_held = replaces || codec.holds_head();
    let mut hold = UpstreamHold::new(&state.config.server.limits, is_sse);
    hold.check_framing(upstream_framing)?;
    if !head_held {
        start_response(state, ctx, out, &head, framing, codec.content_type());
    }

    let mut reader = BodyReader::new(upstream_framing);
    let data = &mut scratch.data;
    let ping_every = state.config.server.stream_ping;
    let read_timeout = state.upstreams.read_timeout();
    let mut last_upstream_bytes = Instant::now();
    let mut last_ping = last_upstream_bytes;

    loop {
        // Move what arrived into `data`, and frame whatever the codec passes on into `out`.
        let fed = data.len();
        let step = reader.decode_buffered(&mut conn, data);
        let finished = match step {
            Ok(finished) => finished,
            Err(e) => {
                return fail_mid_body(
                    client,
                    ctx,
                    codec,
                    out,
                    body_fault(&e),
                    head_held && !replaces,
                )
                .await;
            }
        };
        let read = data.len() - fed;
        let (before, replaced_before) = (out.len(), replaced.len());
        let fed_through = codec.feed(data, fed, finished, |bytes| {
            if replaces {
                replaced.extend_from_slice(bytes);
            } else {
                frame(out, framing, bytes);
            }
        });
        if (out.len() > before || !replaced.is_empty()) && ctx.first_body_at.is_none() {
            ctx.first_body_at = Some(Instant::now());
        }
        let emitted = out.len() > before || replaced.len() > replaced_before;
        if let Err(e) = hold.after_feed(read, emitted, data.len()) {
            return fail_mid_body(client, ctx, codec, out, e, head_held && !replaces).await;
        }
        if let Err(e) = fed_through {
            return fail_mid_body(
                client,
                ctx,
                codec,
                out,
                codec_fault(e),
                head_held && !replaces,
            )
            .await;
        }
        if head_held && !replaces && (!out.is_empty() || finished) {
            let bytes = std::mem::take(out);
            start_response(state, ctx, out, &head, framing, codec.content_type());
            out.extend_from_slice(&bytes);
            head_held = false;
        }
        if finished && replaces {
            let status = codec.replaced_status().unwrap_or(head.status());
            write_replaced_head(out, &head, status, replaced.len(), ctx.keep_alive);
            govern::write_limit_headers(state, ctx, out);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&replaced);
            ctx.status = status;
            ctx.enter(Phase::Streaming);
        }
        if finished {
            ctx.clock.cross(Boundary::ResponseEnded);
            // `finish` settles, then writes these last bytes.
            ctx.settlement = Settlement::Complete(codec.usage().cloned());
            if framing == ClientFraming::Chunked && !replaces {
                out.extend_from_slice(LAST_CHUNK);
            }
            if reader.leaves_connection_reusable() && head.keep_alive() {
                state.upstreams.checkin(provider_index, conn);
            }
            break;
        }
        if !out.is_empty() {
            ctx.clock.cross(Boundary::Relaying);
            let written = client.write_all(out).await;
            out.clear();
            if written.is_err() {
                ctx.client_gone = true;
                ctx.settlement = Settlement::Partial(codec.usage().cloned());
                break;
            }
        }

        // Wait for the upstream, watching the client and the ping clock meanwhile.
        let now = Instant::now();
        let silent_for = now.saturating_duration_since(last_upstream_bytes);
        if silent_for >= read_timeout {
            let e = GatewayError::new(ErrorKind::UpstreamTimeout, "the upstream stopped sending");
            return fail_mid_body(client, ctx, codec, out, e, head_held && !replaces).await;
        }
        let mut wait = read_timeout - silent_for;
        if is_sse {
            let since_quiet = now.saturating_duration_since(last_upstream_bytes.max(last_ping));
            wait = wait.min(
                ping_every
                    .saturating_sub(since_quiet)
                    .max(Duration::from_millis(1)),
            );
        }
        let watch_client = client.may_read_ahead();
        ctx.clock.cross(Boundary::Relaying);
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
                    sleep(wait).await;
                    Wake::Tick
                },
            ),
        )
        .await;
        match wake {
            Wake::Upstream(Ok(n)) if n > 0 => last_upstream_bytes = Instant::now(),
            Wake::Upstream(Ok(_)) => {
                // A close-delimited stream has no framing to tell a cut from an end: a stream
                // that closes before the codec saw its in-band end was cut.
                let cut_stream = !codec.terminated();
                let ended = match reader.on_end_of_stream() {
                    Ok(()) if cut_stream => Err(BodyError::EndedEarly),
                    other => other,
                };
                if let Err(e) = ended {
                    return fail_mid_body(
                        client,
                        ctx,
                        codec,
                        out,
                        body_fault(&e),
                        head_held && !replaces,
                    )
                    .await;
                }
            }
            Wake::Upstream(Err(e)) => {
                let e = GatewayError::new(
                    ErrorKind::UpstreamProtocol,
                    format!("the upstream connection failed mid-response: {e}"),
                );
                return fail_mid_body(client, ctx, codec, out, e, head_held && !replaces).await;
            }
            Wake::Client(Ok(n)) if n > 0 => {} // pipelined bytes, kept for the next request
            Wake::Client(_) => {
                ctx.client_gone = true;
                ctx.settlement = Settlement::Partial(codec.usage().cloned());
                break; // dropping `conn` closes the upstream connection now
            }
            Wake::Tick => {
                let now = Instant::now();
                let quiet = now.saturating_duration_since(last_upstream_bytes.max(last_ping));
                // No ping after the stream's in-band end: the client may stop reading there.
                if is_sse && quiet >= ping_every && !codec.terminated() {
                    frame(out, framing, SSE_PING_FRAME);
                    last_ping = now;
                }
            }
        }
    }
    ctx.summary = codec.into_summary();
    Ok(())
}

/// A failure after the response head went out. Event streams: the codec's error event and a
/// clean end of the chunked body (written by `finish` after it settles), so the client sees a
/// well-formed stream. Other bodies cannot carry an error: the connection is closed without a
/// terminator, which tells the client it is cut. Either way, what the stream reported so far is
/// charged and kept for the log.
async fn fail_mid_body<C: ResponseCodec>(
    client: &mut Client,
    ctx: &mut RequestContext,
    codec: C,
    out: &mut Vec<u8>,
    err: GatewayError,
    head_held: bool,
) -> Result<(), GatewayError> {
    if head_held {
        // Nothing went out yet: the failure is the answer (and may fail over).
        out.clear();
        return Err(codec.upstream_error().unwrap_or(err));
    }
    let is_sse = codec.event_stream();
    ctx.settlement = Settlement::Partial(if is_sse { codec.usage().cloned() } else { None });
    let mut event = Vec::with_capacity(192);
    let error_type = match err.kind {
        ErrorKind::UpstreamTimeout => "timeout_error",
        _ => "api_error",
    };
    if is_sse {
        codec.write_error_event(&mut event, error_type, &err.message);
    }
    let summary = codec.into_summary();
    if is_sse {
        ctx.summary = summary;
    }
    if !is_sse {
        if !out.is_empty() {
            let _ = client.write_all(out).await;
            out.clear();
        }
        return Err(err);
    }
    encode_chunk(out, &event);
    out.extend_from_slice(LAST_CHUNK);
    ctx.late_fault = Some(err);
    Ok(())
}

fn codec_fault(e: CodecError) -> GatewayError {
    match e {
        CodecError::EventTooLarge => {
            GatewayError::new(ErrorKind::UpstreamProtocol, "an SSE event is too large")
        }
        CodecError::Upstream => GatewayError::new(
            ErrorKind::UpstreamProtocol,
            "the upstream reported a failure",
        ),
    }
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

/// Writes the client's response head (its status, headers and the limit headers) and enters
/// the streaming phase.
fn start_response(
    state: &ProxyState,
    ctx: &mut RequestContext,
    out: &mut Vec<u8>,
    head: &ResponseHead,
    framing: ClientFraming,
    content_type: Option<&[u8]>,
) {
    write_client_head(out, head, framing, ctx.keep_alive, content_type);
    govern::write_limit_headers(state, ctx, out);
    out.extend_from_slice(b"\r\n");
    ctx.status = head.status();
    ctx.enter(Phase::Streaming);
}

/// Writes the status line and headers (without the blank line that ends the head).
/// `content_type`: the codec's, replacing the upstream's.
fn write_client_head(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    framing: ClientFraming,
    keep_alive: bool,
    content_type: Option<&[u8]>,
) {
    write_status_line(out, head.status(), head.reason());
    let connection = head.header("connection");
    for (name, value) in head.headers() {
        let framing_header = name.eq_ignore_ascii_case("content-length");
        let replaced_type = content_type.is_some() && name.eq_ignore_ascii_case("content-type");
        if is_hop_by_hop(name)
            || listed_in_connection(connection, name)
            || (framing_header && framing != ClientFraming::None)
            || replaced_type
        {
            continue;
        }
        write_header(out, name, value);
    }
    if let Some(content_type) = content_type {
        write_header(out, "content-type", content_type);
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

/// The head of a body the codec replaced: its status, `application/json`, its length; the
/// upstream's other end-to-end headers (`retry-after`, request ids) kept.
fn write_replaced_head(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    status: u16,
    body_len: usize,
    keep_alive: bool,
) {
    write_status_line(out, status, reason_phrase(status));
    let connection = head.header("connection");
    for (name, value) in head.headers() {
        let replaced = ["content-length", "content-type", "content-encoding"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
        if replaced || is_hop_by_hop(name) || listed_in_connection(connection, name) {
            continue;
        }
        write_header(out, name, value);
    }
    write_header(out, "content-type", b"application/json");
    write_content_length(out, body_len as u64);
    if !keep_alive {
        write_header(out, "connection", b"close");
    }
}
