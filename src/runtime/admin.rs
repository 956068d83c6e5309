//! The admin listener (private port, shard 0 only): `/metrics` merged from every shard at
//! scrape time, `/health` and `/ready`.

use std::net::SocketAddr;
use std::rc::Rc;

use super::{admin_api, prometheus};
use crate::http::conn::{ClientConn, NextHead};
use crate::http::encode::{error_response, local_response};
use crate::proxy::error::{ErrorKind, GatewayError};
use crate::runtime::Shard;
use crate::runtime::net::{TcpListener, TcpStream};

/// Largest admin request body (JSON documents are small).
const MAX_ADMIN_BODY_BYTES: u64 = 1024 * 1024;

/// Binds the admin listener and starts serving it on the current shard.
pub fn start(shard: Rc<Shard>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    glommio::spawn_local(async move {
        loop {
            if shard.draining() {
                return;
            }
            if let Ok(stream) = listener.accept().await {
                glommio::spawn_local(serve(Rc::clone(&shard), stream)).detach();
            }
        }
    })
    .detach();
    Ok(bound)
}

async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let mut conn = ClientConn::new(stream);
    let server = &shard.config.server;
    loop {
        let head = match conn
            .read_head(
                server.max_headers,
                server.idle_timeout,
                server.header_read_timeout,
            )
            .await
        {
            NextHead::Request(head) => head,
            NextHead::Closed => return,
            NextHead::Refused(err) => {
                let mut out = Vec::new();
                error_response(&mut out, &err, "admin", b"", true);
                let _ = conn.write_all(&out).await;
                return;
            }
        };
        let mut out = Vec::with_capacity(16 * 1024);
        let keep_alive = head.keep_alive();
        let mut body = Vec::new();
        if let Err(err) = conn
            .read_body(&head, MAX_ADMIN_BODY_BYTES, server.idle_timeout, &mut body)
            .await
        {
            error_response(&mut out, &err, "admin", b"", true);
            let _ = conn.write_all(&out).await;
            return;
        }
        match (head.method(), head.path()) {
            (_, path) if admin_api::is_admin_path(path) => {
                let answer = admin_api::handle(&shard, &head, &body).await;
                let json = answer.body.to_string();
                local_response(
                    &mut out,
                    answer.status,
                    "application/json",
                    json.as_bytes(),
                    !keep_alive,
                );
            }
            ("GET", "/metrics") => {
                let snapshots = shard.mesh.scrape_all().await;
                let mut text = prometheus::render(&snapshots);
                prometheus::render_governance(&mut text, &shard.gov);
                local_response(
                    &mut out,
                    200,
                    prometheus::CONTENT_TYPE,
                    text.as_bytes(),
                    !keep_alive,
                );
            }
            ("GET" | "HEAD", "/health" | "/ready") => {
                let body: &[u8] = if shard.draining() {
                    b"{\"status\":\"draining\"}"
                } else {
                    b"{\"status\":\"ok\"}"
                };
                let status = if shard.draining() && head.path() == "/ready" {
                    503
                } else {
                    200
                };
                local_response(&mut out, status, "application/json", body, !keep_alive);
            }
            (method, path) => {
                let err = GatewayError::new(
                    ErrorKind::NotFound,
                    format!("no admin route for {method} {path}"),
                );
                error_response(&mut out, &err, "admin", b"", !keep_alive);
            }
        }
        if conn.write_all(&out).await.is_err() || !keep_alive {
            return;
        }
    }
}
