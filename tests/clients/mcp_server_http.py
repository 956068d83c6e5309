"""A Streamable HTTP MCP server from the official Python SDK, for sluice's upstream-client tests.
Usage: mcp_server_http.py PORT [json]   (serves http://127.0.0.1:PORT/mcp; `json` answers
application/json instead of SSE streams). With env MCP_FIXTURE_TOKEN set, every request must
carry `Authorization: Bearer <token>` (401 otherwise).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from mcp_fixture_tools import build  # noqa: E402


class RequireToken:
    def __init__(self, app, token):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.token:
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode() != f"Bearer {self.token}":
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"missing or wrong token"})
                return
        await self.app(scope, receive, send)


if __name__ == "__main__":
    import uvicorn

    port = int(sys.argv[1])
    json_response = len(sys.argv) > 2 and sys.argv[2] == "json"
    app = build("fixture-http").streamable_http_app(json_response=json_response, host="127.0.0.1")
    uvicorn.run(RequireToken(app, os.environ.get("MCP_FIXTURE_TOKEN", "")),
                host="127.0.0.1", port=port, log_level="warning")
