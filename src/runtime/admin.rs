//! The admin listener (private port, shard 0 only): `/metrics` merged from every shard at
//! scrape time, `/health`, `/ready` and the admin API, served by the same HTTP server loop as
//! the data port with its own handler.

use std::rc::Rc;

use super::Shard;
use super::admin_api;
use super::io::tls::ClientStream;
use crate::error::{ErrorKind, GatewayError};
use crate::http::conn::{ClientConn, ConnError, Handler, HeadLimits};
use crate::http::encode::local_response;
use crate::http::head::RequestHead;
use crate::observe::{export_metrics, genai_metrics, prometheus};
use crate::providers::anthropic::error_body::error_response;

/// Largest admin request body (JSON documents are small).
const MAX_ADMIN_BODY_BYTES: u64 = 1024 * 1024;

/// The admin API as the HTTP server loop's handler.
pub struct Admin(pub Rc<Shard>);

impl Handler<ClientStream> for Admin {
    fn head_limits(&self) -> HeadLimits {
        let server = &self.0.proxy.config.server;
        HeadLimits {
            max_headers: server.max_headers,
            idle: server.idle_timeout,
            head_timeout: server.header_read_timeout,
        }
    }

    async fn serve(&self, conn: &mut ClientConn<ClientStream>, head: RequestHead) -> bool {
        serve(&self.0, conn, head).await
    }

    async fn refuse(&self, conn: &mut ClientConn<ClientStream>, err: ConnError) -> bool {
        let mut out = Vec::new();
        error_response(&mut out, &GatewayError::from(err), "admin", b"", true);
        let _ = conn.write_all(&out).await;
        false
    }

    fn draining(&self) -> bool {
        false
    }
}

async fn serve(shard: &Rc<Shard>, conn: &mut ClientConn<ClientStream>, head: RequestHead) -> bool {
    let server = &shard.proxy.config.server;
    let mut out = Vec::with_capacity(16 * 1024);
    let keep_alive = head.keep_alive();
    let mut body = Vec::new();
    if let Err(err) = conn
        .read_body(&head, MAX_ADMIN_BODY_BYTES, server.idle_timeout, &mut body)
        .await
    {
        error_response(&mut out, &GatewayError::from(err), "admin", b"", true);
        let _ = conn.write_all(&out).await;
        return false;
    }
    let draining = shard.proxy.draining();
    match (head.method(), head.path()) {
        (_, path) if admin_api::is_admin_path(path) => {
            let answer = admin_api::handle(shard, &head, &body).await;
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
            prometheus::render_governance(&mut text, &shard.proxy.gov);
            let genai: Vec<_> = snapshots.iter().map(|s| s.genai.clone()).collect();
            genai_metrics::render(&mut text, &genai);
            export_metrics::render(
                &mut text,
                shard.proxy.audit.as_ref().map(|a| a.stats()),
                shard.proxy.tracer.as_ref().map(|t| t.stats()),
            );
            crate::observe::mcp_metrics::render(&mut text, snapshots.iter().map(|s| &s.mcp));
            crate::proxy::attempt_metrics::render(&shard.proxy, &snapshots, &mut text);
            shard.proxy.clouds.render_metrics(&mut text);
            crate::governance::backend::render_metrics(&mut text);
            local_response(
                &mut out,
                200,
                prometheus::CONTENT_TYPE,
                text.as_bytes(),
                !keep_alive,
            );
        }
        ("GET" | "HEAD", "/health" | "/ready") => {
            let body: &[u8] = if draining {
                b"{\"status\":\"draining\"}"
            } else {
                b"{\"status\":\"ok\"}"
            };
            let status = if draining && head.path() == "/ready" {
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
    conn.write_all(&out).await.is_ok() && keep_alive
}
