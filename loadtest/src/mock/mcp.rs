//! The mock MCP server's answers, IO-free: a Streamable HTTP MCP server reduced to what a
//! benchmark of `tools/call` overhead needs (initialize, initialized, ping, tools/list, an echo
//! tools/call, DELETE), so measurements through sluice show sluice's cost, not a slow server's.

use serde_json::{Value, json};

use crate::wire::framing::Method;

/// The session id the mock hands out (one is enough: it keeps no per-session state).
pub const MOCK_SESSION_ID: &str = "mock-mcp-session-0001";

/// What the mock answers one request with: a whole HTTP/1.1 response.
pub fn answer(method: Method, body: &[u8], tools: usize, sse: bool) -> Vec<u8> {
    match method {
        Method::Post => {}
        Method::Get => return response(405, &[("Allow", "POST, DELETE")], None, b""),
        // DELETE (the framing calls it Other) ends the session, which holds no state.
        Method::Head | Method::Other => return response(200, &[], None, b""),
    }
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        let error = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}});
        return response(
            400,
            &[],
            Some("application/json"),
            error.to_string().as_bytes(),
        );
    };
    let Some(id) = message.get("id").cloned() else {
        return response(202, &[], None, b""); // a notification
    };
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let outcome = match method {
        "initialize" => Ok(json!({
            "protocolVersion": params.get("protocolVersion").cloned().unwrap_or(json!("2025-06-18")),
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "sluice-mock-mcp", "version": env!("CARGO_PKG_VERSION")},
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": (0..tools).map(tool).collect::<Vec<_>>()})),
        "tools/call" => {
            let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
            let text = arguments
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Ok(json!({"content": [{"type": "text", "text": text}],
                      "structuredContent": {"echo": arguments}, "isError": false}))
        }
        _ => Err(json!({"code": -32601, "message": format!("Method not found: {method}")})),
    };
    let reply = match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    };
    let session: &[(&str, &str)] = if method == "initialize" {
        &[("Mcp-Session-Id", MOCK_SESSION_ID)]
    } else {
        &[]
    };
    if sse {
        let event = format!("event: message\ndata: {reply}\n\n");
        response(200, session, Some("text/event-stream"), event.as_bytes())
    } else {
        response(
            200,
            session,
            Some("application/json"),
            reply.to_string().as_bytes(),
        )
    }
}

/// Tool number `n`: `echo` first, then `tool_<n>`.
fn tool(n: usize) -> Value {
    let name = if n == 0 {
        "echo".to_owned()
    } else {
        format!("tool_{n}")
    };
    json!({"name": name, "description": "Echoes `text`.",
           "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}})
}

fn response(
    status: u16,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        _ => "Method Not Allowed",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        out.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: &[u8]) -> Value {
        let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        serde_json::from_slice(&response[at..]).unwrap()
    }

    #[test]
    fn answers_the_methods_a_benchmark_uses() {
        let init = answer(Method::Post, br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#, 3, false);
        assert!(String::from_utf8_lossy(&init).contains("Mcp-Session-Id: mock-mcp-session-0001"));
        assert_eq!(body_of(&init)["result"]["protocolVersion"], "2025-03-26");
        let list = answer(
            Method::Post,
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            3,
            false,
        );
        assert_eq!(
            body_of(&list)["result"]["tools"].as_array().unwrap().len(),
            3
        );
        let call = answer(Method::Post, br#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#, 3, false);
        assert_eq!(body_of(&call)["id"], "c");
        assert_eq!(body_of(&call)["result"]["content"][0]["text"], "hi");
        assert!(
            answer(
                Method::Post,
                br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                3,
                false
            )
            .starts_with(b"HTTP/1.1 202")
        );
        assert!(answer(Method::Post, b"nope", 3, false).starts_with(b"HTTP/1.1 400"));
        assert!(answer(Method::Get, b"", 3, false).starts_with(b"HTTP/1.1 405"));
        let sse = answer(
            Method::Post,
            br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
            3,
            true,
        );
        assert!(String::from_utf8_lossy(&sse).contains("data: {\"id\":4"));
    }
}
