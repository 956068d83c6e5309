//! The floor proxy on one glommio executor, set up as a sluice shard is (same io memory, no
//! spinning), using glommio's own sockets: what glommio's socket path costs per request.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

use crate::floor::{
    FloorConfig, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, READ_CHUNK_BYTES, ResponseRelay,
    complete_request,
};
use crate::wire::readbuf::ReadBuf;

/// io_uring-registered memory, as a sluice shard has.
const IO_MEMORY_BYTES: usize = 512 * 1024;

/// Why a connection ended (the floor proxy just closes it).
#[derive(Debug)]
struct Ended;

impl From<std::io::Error> for Ended {
    fn from(_: std::io::Error) -> Self {
        Ended
    }
}

impl From<glommio::GlommioError<()>> for Ended {
    fn from(_: glommio::GlommioError<()>) -> Self {
        Ended
    }
}

impl From<crate::wire::framing::FramingError> for Ended {
    fn from(_: crate::wire::framing::FramingError) -> Self {
        Ended
    }
}

/// Serves forever; `on_listening` gets the bound address once accepting.
pub fn run(config: FloorConfig, on_listening: impl FnOnce(std::net::SocketAddr) + Send + 'static) {
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .name("floor-uring")
        .io_memory(IO_MEMORY_BYTES)
        .spawn(move || async move {
            let listener = match TcpListener::bind(config.listen) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("cannot listen on {}: {e}", config.listen);
                    std::process::exit(1);
                }
            };
            on_listening(listener.local_addr().unwrap_or(config.listen));
            loop {
                if let Ok(client) = listener.accept().await {
                    glommio::spawn_local(async move {
                        let _ = serve_connection(client, config).await;
                    })
                    .detach();
                }
            }
        });
    match executor {
        Ok(handle) => {
            let _ = handle.join();
        }
        Err(e) => {
            eprintln!("cannot start the executor: {e}");
            std::process::exit(1);
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut ReadBuf) -> Result<(), Ended> {
    let spare = buf.spare();
    if spare.is_empty() {
        return Err(Ended);
    }
    match stream.read(spare).await? {
        0 => Err(Ended),
        count => {
            buf.commit(count);
            Ok(())
        }
    }
}

/// One client connection with one upstream connection of its own, opened on the first request
/// and kept while the upstream keeps it alive.
async fn serve_connection(mut client: TcpStream, config: FloorConfig) -> Result<(), Ended> {
    client.set_nodelay(true)?;
    let mut request = ReadBuf::new(READ_CHUNK_BYTES, MAX_REQUEST_BYTES);
    let mut response = ReadBuf::new(READ_CHUNK_BYTES, MAX_RESPONSE_BYTES);
    let mut origin: Option<TcpStream> = None;
    loop {
        let whole = loop {
            match complete_request(request.filled())? {
                Some(whole) => break whole,
                None => read_more(&mut client, &mut request).await?,
            }
        };
        let mut conn = match origin.take() {
            Some(conn) => conn,
            None => {
                let conn = TcpStream::connect(config.upstream).await?;
                conn.set_nodelay(true)?;
                conn
            }
        };
        conn.write_all(&request.filled()[..whole.len]).await?;
        request.consume(whole.len);
        response.clear();
        let mut relay = ResponseRelay::new(whole.is_head);
        loop {
            let ready = relay.advance(response.filled())?;
            if ready > 0 {
                client.write_all(&response.filled()[..ready]).await?;
                response.consume(ready);
            }
            if relay.is_done() {
                break;
            }
            read_more(&mut conn, &mut response).await?;
        }
        if relay.keep_alive() {
            origin = Some(conn);
        }
    }
}
