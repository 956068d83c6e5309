"""The tools both fixture MCP servers (mcp_server_http.py, mcp_server_stdio.py) offer, built
with the official SDK's MCPServer (FastMCP in mcp 1.x): text and structured results, an
erroring tool, a slow tool, a large result, a tool that kills the server, a tool that adds a
tool and announces list_changed, and enough filler tools that tools/list takes several pages.
"""

import os

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ListToolsResult
from pydantic import BaseModel

PAGE_SIZE = 7
FILLER_TOOLS = 60


class Weather(BaseModel):
    city: str
    celsius: int
    conditions: str


class PagedServer(MCPServer):
    """MCPServer whose tools/list is paginated (the stock one returns everything at once)."""

    async def _handle_list_tools(self, ctx, params):
        tools = sorted(await self.list_tools(), key=lambda t: t.name)
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + PAGE_SIZE
        next_cursor = str(end) if end < len(tools) else None
        return ListToolsResult(tools=tools[start:end], next_cursor=next_cursor)


def build(name: str) -> MCPServer:
    server = PagedServer(name)

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return f"echo: {text}"

    @server.tool(description="A structured weather report.")
    def weather(city: str) -> Weather:
        return Weather(city=city, celsius=21, conditions="sunny")

    @server.tool(description="Always fails.")
    def fail(reason: str) -> str:
        raise ToolError(f"failed on purpose: {reason}")

    @server.tool(description="Sleeps, then answers.")
    async def slow(seconds: float) -> str:
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(description="A text result of `size` bytes.")
    def big(size: int) -> str:
        return "x" * size

    @server.tool(description="The server's process id.")
    def pid() -> int:
        return os.getpid()

    @server.tool(description="Ends the server process at once (mid-call).")
    def crash() -> str:
        os._exit(3)

    @server.tool(description="Adds the tool `added` and announces the change.")
    async def grow(ctx: Context) -> str:
        def added() -> str:
            return "added"

        server.add_tool(added, name="added", description="Added at run time.")
        await ctx.session.send_tool_list_changed()
        return "grown"

    for index in range(FILLER_TOOLS):
        def filler(value: str = "", index=index) -> str:
            return f"filler {index}: {value}"

        server.add_tool(filler, name=f"filler_{index:02d}", description=f"Filler tool {index}.")
    return server
