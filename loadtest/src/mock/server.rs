//! The mock's connection loop on one glommio executor: read a request, route it, write the
//! pre-rendered response with the scripted delays and faults, keep the connection alive.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::timer::sleep;

use crate::mock::responses::{Responses, StreamResponse};
use crate::mock::route::{Endpoint, route, wants_stream, wants_usage};
use crate::mock::script::{Fault, MockScript};
use crate::rng::Rng;
use crate::sys::set_linger_zero;
use crate::wire::body::{BodyDecoder, LAST_CHUNK};
use crate::wire::framing::{MAX_HEAD_BYTES, parse_request_head};
use crate::wire::readbuf::ReadBuf;

/// Bytes read per receive.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What every executor of the mock shares (read-only).
#[derive(Debug)]
pub struct MockShared {
    pub script: MockScript,
    pub responses: Responses,
    /// Messages and Chat Completions requests answered (faulted ones included).
    pub served: AtomicU64,
}

impl MockShared {
    pub fn new(script: MockScript) -> MockShared {
        MockShared {
            responses: Responses::render(&script),
            script,
            served: AtomicU64::new(0),
        }
    }
}

/// Why a connection ended early.
#[derive(Debug)]
enum ConnEnd {
    Io,
    Framing,
    Closed,
    Reset,
}

impl From<io::Error> for ConnEnd {
    fn from(_: io::Error) -> Self {
        Self::Io
    }
}

/// Accepts connections forever on `listener`, serving each on this executor.
pub async fn serve(listener: TcpListener, shared: Arc<MockShared>, seed: u64) {
    let rng = Rc::new(RefCell::new(Rng::new(seed)));
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shared = shared.clone();
                let rng = rng.clone();
                glommio::spawn_local(async move {
                    let _ = serve_connection(stream, &shared, &rng).await;
                })
                .detach();
            }
            Err(_) => sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut ReadBuf) -> Result<(), ConnEnd> {
    let spare = buf.spare();
    if spare.is_empty() {
        return Err(ConnEnd::Framing);
    }
    match stream.read(spare).await {
        Ok(0) => Err(ConnEnd::Closed),
        Ok(count) => {
            buf.commit(count);
            Ok(())
        }
        Err(_) => Err(ConnEnd::Io),
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    shared: &MockShared,
    rng: &RefCell<Rng>,
) -> Result<(), ConnEnd> {
    stream.set_nodelay(true).map_err(|_| ConnEnd::Io)?;
    let mut buf = ReadBuf::new(READ_CHUNK_BYTES, MAX_HEAD_BYTES + READ_CHUNK_BYTES);
    let mut body: Vec<u8> = Vec::new();
    loop {
        let head = loop {
            match parse_request_head(buf.filled()) {
                Ok(Some(head)) => break head,
                Ok(None) => read_more(&mut stream, &mut buf).await?,
                Err(_) => {
                    stream.write_all(&shared.responses.bad_request).await?;
                    return Err(ConnEnd::Framing);
                }
            }
        };
        let endpoint = route(
            head.method,
            buf.filled().get(head.path.clone()).unwrap_or_default(),
        );
        buf.consume(head.head_len);
        let mut decoder = BodyDecoder::new(head.framing).map_err(|_| ConnEnd::Framing)?;
        body.clear();
        loop {
            let used = decoder
                .decode(buf.filled(), |data| body.extend_from_slice(data))
                .map_err(|_| ConnEnd::Framing)?;
            buf.consume(used);
            if decoder.is_done() {
                break;
            }
            read_more(&mut stream, &mut buf).await?;
        }
        respond(&mut stream, shared, rng, endpoint, &body).await?;
        if !head.keep_alive {
            return Ok(());
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    shared: &MockShared,
    rng: &RefCell<Rng>,
    endpoint: Endpoint,
    body: &[u8],
) -> Result<(), ConnEnd> {
    let script = &shared.script;
    let responses = &shared.responses;
    let openai = endpoint == Endpoint::ChatCompletions;
    if endpoint == Endpoint::Stats {
        let body = format!("{{\"served\":{}}}", shared.served.load(Ordering::Relaxed));
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        return Ok(());
    }
    let (fault, delay) = if matches!(endpoint, Endpoint::Messages | Endpoint::ChatCompletions) {
        shared.served.fetch_add(1, Ordering::Relaxed);
        let mut rng = rng.borrow_mut();
        (script.faults.pick(&mut rng), script.head_delay(&mut rng))
    } else {
        (None, Duration::ZERO)
    };
    if !delay.is_zero() {
        sleep(delay).await;
    }
    let errors = if openai {
        &responses.openai_errors
    } else {
        &responses.anthropic_errors
    };
    let streaming = wants_stream(body);
    let whole: &[u8] = match (endpoint, fault) {
        (_, Some(Fault::RateLimited)) => &errors[0],
        (_, Some(Fault::ServerError)) => &errors[1],
        (_, Some(Fault::Overloaded)) => &errors[2],
        (Endpoint::Messages, _) if streaming => {
            return write_stream(stream, script, &responses.anthropic_stream, fault).await;
        }
        (Endpoint::ChatCompletions, _) if streaming => {
            let events = if wants_usage(body) {
                &responses.openai_stream_with_usage
            } else {
                &responses.openai_stream
            };
            return write_stream(stream, script, events, fault).await;
        }
        (Endpoint::Messages, _) => &responses.anthropic_message,
        (Endpoint::ChatCompletions, _) => &responses.openai_completion,
        (Endpoint::CountTokens, _) => &responses.count_tokens,
        (Endpoint::Models, _) => &responses.models,
        (Endpoint::Health, _) => &responses.health,
        (Endpoint::HeadCheck, _) => &responses.head_ok,
        (Endpoint::NotFound | Endpoint::Stats, _) => &responses.not_found,
    };
    match fault {
        Some(Fault::Stall) => sleep(script.stall).await,
        Some(Fault::Reset) => {
            stream.write_all(&whole[..whole.len() / 2]).await?;
            return reset(stream);
        }
        Some(Fault::Truncate) => {
            stream.write_all(&whole[..whole.len() / 2]).await?;
            return Err(ConnEnd::Closed);
        }
        _ => {}
    }
    stream.write_all(whole).await?;
    Ok(())
}

fn reset(stream: &TcpStream) -> Result<(), ConnEnd> {
    set_linger_zero(stream.as_raw_fd())?;
    Err(ConnEnd::Reset)
}

async fn write_stream(
    stream: &mut TcpStream,
    script: &MockScript,
    response: &StreamResponse,
    fault: Option<Fault>,
) -> Result<(), ConnEnd> {
    if fault.is_none() && script.pace.is_zero() && script.first_event.is_zero() {
        stream.write_all(&response.whole).await?;
        return Ok(());
    }
    stream.write_all(&response.head).await?;
    if !script.first_event.is_zero() {
        sleep(script.first_event).await;
    }
    let halfway = response.events.len() / 2;
    for (n, event) in response.events.iter().enumerate() {
        if n >= response.burst && !script.pace.is_zero() {
            sleep(script.pace).await;
        }
        if n == halfway && fault == Some(Fault::Reset) {
            return reset(stream);
        }
        if n == halfway && fault == Some(Fault::Truncate) {
            return Err(ConnEnd::Closed);
        }
        stream.write_all(event).await?;
        if n == 0 && fault == Some(Fault::Stall) {
            sleep(script.stall).await;
        }
    }
    stream.write_all(LAST_CHUNK).await?;
    Ok(())
}
