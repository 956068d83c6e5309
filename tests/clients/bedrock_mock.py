"""A mock Bedrock Runtime for end-to-end tests: checks every request's SigV4 signature by
recomputing it with botocore's own signer (403 InvalidSignatureException on a mismatch) or its
Bedrock API key, checks the InvokeModel body contract, and answers in Bedrock's wire format —
JSON for /invoke, application/vnd.amazon.eventstream frames for /invoke-with-response-stream.

Usage: bedrock_mock.py --access-key AKID --secret-key S [--session-token T] [--api-key K]
                       [--region us-east-1] [--scenario NAME] [--log requests.jsonl]
Prints "listening PORT" on stdout once ready. Scenarios: thinking_tool_use (default),
throttle_http (429 before the stream), throttle_first_frame (200 whose only frame is a
throttlingException), throttle_after_start (one event, then a throttlingException)."""

import argparse
import base64
import json
import struct
import sys
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ARGS = None


def frame(headers, payload):
    """One event-stream message with string headers."""
    encoded = b"".join(
        struct.pack(">B", len(n)) + n.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for n, v in headers
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk(event):
    data = json.dumps(event, separators=(",", ":")).encode()
    payload = json.dumps({"bytes": base64.b64encode(data).decode()}).encode()
    return frame(
        [(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")],
        payload,
    )


def exception(name, message):
    return frame(
        [(":exception-type", name), (":content-type", "application/json"), (":message-type", "exception")],
        json.dumps({"message": message}).encode(),
    )


def thinking_tool_use_events(model):
    """The same message the Anthropic mock streams: thinking, then two tool_use blocks."""
    tools = [("toolu_bdrk_01", "Bash", {"command": "ls src"}), ("toolu_bdrk_02", "Write", {"path": "héllo.txt", "content": "hi"})]
    events = [
        {"type": "message_start", "message": {"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": model,
                                              "content": [], "stop_reason": None, "stop_sequence": None,
                                              "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0,
                                                        "cache_read_input_tokens": 0, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "I should list «src» first."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCkYIARgCKkBbdrk=="}},
        {"type": "content_block_stop", "index": 0},
    ]
    for offset, (tool_id, name, tool_input) in enumerate(tools, start=1):
        text = json.dumps(tool_input, ensure_ascii=False)
        events += [
            {"type": "content_block_start", "index": offset, "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}},
            {"type": "content_block_delta", "index": offset, "delta": {"type": "input_json_delta", "partial_json": ""}},
            {"type": "content_block_delta", "index": offset, "delta": {"type": "input_json_delta", "partial_json": text[:7]}},
            {"type": "content_block_delta", "index": offset, "delta": {"type": "input_json_delta", "partial_json": text[7:]}},
            {"type": "content_block_stop", "index": offset},
        ]
    events += [
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 87}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 25, "outputTokenCount": 87,
                                                                       "invocationLatency": 812, "firstByteLatency": 201}},
    ]
    return events


def final_message(model):
    return {"id": "msg_bdrk_02", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "Hello from Bedrock."}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}


def signature_ok(handler, body):
    """Recomputes the signature over exactly the headers the client says it signed."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, "no SigV4 Authorization header"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    scope = fields["Credential"].split("/")
    if scope[0] != ARGS.access_key or scope[2] != ARGS.region or scope[3] != "bedrock":
        return False, f"unexpected credential scope {fields['Credential']}"
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return False, "host and x-amz-date must be signed"
    if ARGS.session_token and handler.headers.get("X-Amz-Security-Token") != ARGS.session_token:
        return False, "missing or wrong X-Amz-Security-Token"
    headers = {name: handler.headers.get(name) for name in signed}
    url = f"http://{handler.headers.get('Host')}{handler.path}"
    request = AWSRequest(method=handler.command, url=url, data=body, headers=headers)
    request.context["timestamp"] = handler.headers.get("X-Amz-Date")
    signer = SigV4Auth(Credentials(ARGS.access_key, ARGS.secret_key, ARGS.session_token), "bedrock", ARGS.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != fields["Signature"]:
        return False, f"signature mismatch; canonical request was:\n{canonical}"
    return True, ""


def body_problem(body):
    try:
        parsed = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(parsed, dict):
        return "body is not an object"
    for key in ("model", "stream"):
        if key in parsed:
            return f"`{key}` is not permitted in the InvokeModel body"
    if parsed.get("anthropic_version") != "bedrock-2023-05-31":
        return "anthropic_version must be bedrock-2023-05-31"
    betas = parsed.get("anthropic_beta", [])
    if not isinstance(betas, list) or not all(isinstance(b, str) for b in betas):
        return "anthropic_beta must be an array of strings"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply_json(self, status, payload, error_type=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = urlsplit(self.path).path
        parts = path.split("/")
        record = {"path": self.path, "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
        if self.headers.get("Authorization", "").startswith("Bearer ") and ARGS.api_key:
            ok, why = self.headers["Authorization"] == f"Bearer {ARGS.api_key}", "wrong API key"
        else:
            ok, why = signature_ok(self, body)
        record["auth_ok"] = ok
        if ARGS.log:
            with open(ARGS.log, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        if not ok:
            return self.reply_json(403, {"message": why}, "InvalidSignatureException")
        if len(parts) != 4 or parts[1] != "model" or parts[3] not in ("invoke", "invoke-with-response-stream"):
            return self.reply_json(404, {"message": f"unknown operation {path}"}, "UnknownOperationException")
        problem = body_problem(body)
        if problem:
            return self.reply_json(400, {"message": problem}, "ValidationException")
        model = unquote(parts[2])
        if ARGS.scenario == "throttle_http":
            return self.reply_json(429, {"message": "Too many requests, please wait before trying again."}, "ThrottlingException")
        if parts[3] == "invoke":
            return self.reply_json(200, final_message(model))
        if ARGS.scenario == "throttle_first_frame":
            frames = [exception("throttlingException", "Too many requests, please wait before trying again.")]
        elif ARGS.scenario == "throttle_after_start":
            frames = [chunk(thinking_tool_use_events(model)[0]),
                      exception("throttlingException", "Too many requests, please wait before trying again.")]
        else:
            frames = [chunk(event) for event in thinking_tool_use_events(model)]
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("x-amzn-RequestId", "req-bdrk-01")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for data in frames:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--session-token")
    parser.add_argument("--api-key")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--scenario", default="thinking_tool_use")
    parser.add_argument("--log")
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
