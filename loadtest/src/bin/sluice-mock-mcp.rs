//! `sluice-mock-mcp`: a fast mock MCP server (Streamable HTTP, JSON or SSE answers) so the cost
//! sluice adds to a `tools/call` can be measured against calling the server directly. Prints
//! `listening ADDR` first; the endpoint is `http://ADDR/mcp` (any path is accepted).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc;

use clap::Parser;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use sluice_loadtest::mock::mcp::answer;
use sluice_loadtest::mock::server::READ_CHUNK_BYTES;
use sluice_loadtest::sys::raise_nofile_limit;
use sluice_loadtest::wire::body::BodyDecoder;
use sluice_loadtest::wire::framing::{MAX_HEAD_BYTES, parse_request_head};
use sluice_loadtest::wire::readbuf::ReadBuf;

/// Mock MCP server for benchmarks.
#[derive(Debug, Parser)]
#[command(name = "sluice-mock-mcp", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// CPU to pin the server thread to.
    #[arg(long)]
    cpu: Option<usize>,
    /// Tools listed (`echo`, then `tool_1`...).
    #[arg(long, default_value_t = 10)]
    tools: usize,
    /// Answer with SSE streams instead of application/json.
    #[arg(long)]
    sse: bool,
}

fn main() {
    let args = Args::parse();
    raise_nofile_limit();
    let placement = args.cpu.map_or(Placement::Unbound, Placement::Fixed);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, String>>();
    let (listen, tools, sse) = (args.listen, args.tools, args.sse);
    let handle = LocalExecutorBuilder::new(placement)
        .name("mock-mcp")
        .spawn(move || async move {
            let listener = match TcpListener::bind(listen) {
                Ok(listener) => listener,
                Err(error) => {
                    let _ = ready_tx.send(Err(format!("bind {listen}: {error}")));
                    return;
                }
            };
            let _ = ready_tx.send(listener.local_addr().map_err(|e| e.to_string()));
            while let Ok(stream) = listener.accept().await {
                glommio::spawn_local(serve(stream, tools, sse)).detach();
            }
        });
    let addr = match handle.map_err(|e| e.to_string()).and_then(|_| {
        ready_rx
            .recv()
            .map_err(|_| "server thread died".to_owned())?
    }) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("sluice-mock-mcp: {message}");
            std::process::exit(2);
        }
    };
    println!("listening {addr}");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// One keep-alive connection: read a request, write its answer, repeat.
async fn serve(mut stream: TcpStream, tools: usize, sse: bool) {
    let _ = stream.set_nodelay(true);
    let mut buf = ReadBuf::new(READ_CHUNK_BYTES, MAX_HEAD_BYTES + READ_CHUNK_BYTES);
    let mut body = Vec::new();
    loop {
        let head = loop {
            match parse_request_head(buf.filled()) {
                Ok(Some(head)) => break head,
                Ok(None) => {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                Err(_) => return,
            }
        };
        buf.consume(head.head_len);
        let Ok(mut decoder) = BodyDecoder::new(head.framing) else {
            return;
        };
        body.clear();
        loop {
            let Ok(used) = decoder.decode(buf.filled(), |data| body.extend_from_slice(data)) else {
                return;
            };
            buf.consume(used);
            if decoder.is_done() {
                break;
            }
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        }
        let response = answer(head.method, &body, tools, sse);
        if stream.write_all(&response).await.is_err() || !head.keep_alive {
            return;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut ReadBuf) -> bool {
    let spare = buf.spare();
    if spare.is_empty() {
        return false;
    }
    match stream.read(spare).await {
        Ok(0) | Err(_) => false,
        Ok(count) => {
            buf.commit(count);
            true
        }
    }
}
