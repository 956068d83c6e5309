"""The official MCP Python SDK as a client, for end-to-end tests through sluice's /mcp.
Usage: mcp_client.py URL TOKEN [CALLS_JSON [MODE]]
Connects with `Authorization: Bearer TOKEN` (MODE: the SDK's connect mode, default "auto": it
probes `server/discover`, then falls back to the initialize handshake; "legacy" skips the probe), lists every tool (following nextCursor), calls each
`{"name": ..., "arguments": {...}}` in CALLS_JSON (optional keys: "signal": a path the client
creates before the call, then waits for PATH.done, so a test can restart an upstream mid-session;
"retries": N more attempts, 0.5 s apart, while the call errors), and prints one JSON object:
{"protocol_version", "server_info", "tools": [names], "pages", "calls": [{"name", "is_error",
"content", "structured", "error"}]}.
"""

import json
import os
import sys

import anyio
import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, calls: list, mode: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            names, pages, cursor = [], 0, None
            while True:
                result = await client.list_tools(cursor=cursor, cache_mode="bypass")
                pages += 1
                names.extend(tool.name for tool in result.tools)
                cursor = result.next_cursor
                if not cursor:
                    break
            outcomes = []
            for call in calls:
                if call.get("signal"):
                    open(call["signal"], "w").close()
                    for _ in range(1200):
                        if os.path.exists(call["signal"] + ".done"):
                            break
                        await anyio.sleep(0.1)
                attempts = 1 + call.get("retries", 0)
                for attempt in range(attempts):
                    outcome = await call_once(client, call)
                    if not outcome["is_error"] or attempt + 1 == attempts:
                        break
                    await anyio.sleep(0.5)
                outcomes.append(outcome)
            info = client.server_info
            return {
                "protocol_version": client.protocol_version,
                "server_info": info.model_dump(mode="json", exclude_none=True) if info else None,
                "tools": names,
                "pages": pages,
                "calls": outcomes,
            }


async def call_once(client, call: dict) -> dict:
    try:
        result = await client.call_tool(call["name"], call.get("arguments", {}))
        return {
            "name": call["name"],
            "is_error": bool(getattr(result, "is_error", False)),
            "content": [c.model_dump(mode="json", exclude_none=True) for c in getattr(result, "content", [])],
            "structured": getattr(result, "structured_content", None),
            "error": None,
        }
    except Exception as exc:  # a JSON-RPC error answer
        return {"name": call["name"], "is_error": True, "content": [],
                "structured": None, "error": str(exc)}


if __name__ == "__main__":
    url, token = sys.argv[1], sys.argv[2]
    calls = json.loads(sys.argv[3]) if len(sys.argv) > 3 else []
    mode = sys.argv[4] if len(sys.argv) > 4 else "auto"
    print(json.dumps(anyio.run(main, url, token, calls, mode)))
