"""A stdio MCP server from the official Python SDK, for sluice's upstream-client tests.
Usage: mcp_server_stdio.py   (speaks newline-delimited JSON-RPC on stdin/stdout)
"""

import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))

from mcp_fixture_tools import build  # noqa: E402

if __name__ == "__main__":
    print("fixture stdio server starting", file=sys.stderr, flush=True)
    build("fixture-stdio").run("stdio")
