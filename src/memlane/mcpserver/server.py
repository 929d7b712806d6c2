"""The MCP server: Memlane's memory as tools for other AI assistants on this machine, over stdio.

It speaks the Model Context Protocol through the official SDK on the process's own stdin and
stdout; it opens no socket. Each tool hands its work to
:class:`~memlane.services.external.ExternalAccess` on one worker thread (the engine is not
thread-safe), so the rules are the service's: excluded apps never appear, writes need
``[mcp] allow_write``, a locked home is refused. A person's mistake (bad argument, locked home,
refused write) comes back as a tool error with the sentence the CLI would print; a bug comes back
as a tool error too, and is logged with its traceback on stderr, never ending the session.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from memlane import __version__
from memlane.core.errors import MemlaneError
from memlane.services.external import ExternalAccess

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTRUCTIONS = """\
Memlane is the person's private memory of their own computer: screenshots read with OCR (what
was on screen, when, in which app), their chats, and episodes and facts built from them. Use
`search` to find moments (it accepts "yesterday", "last week" and ISO dates), `timeline` for what
happened on a day, `frame` to read one screen, `facts` for what is known about the person, and
`ask` for an answer written by Memlane's local model with citations. Results carry ids (frame:12,
message:40) that `frame` and `forget` take."""

Kind = Literal["message", "frame", "episode", "fact"]
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


class Tools:
    """The tools' bodies, bound to one :class:`ExternalAccess` run on one thread."""

    def __init__(self, access: ExternalAccess) -> None:
        self.access = access
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memlane-mcp")

    async def run(self, ctx: Context | None, tool: str, work: Callable[[], T]) -> T:
        client = _client_name(ctx)
        try:
            result = await asyncio.wrap_future(self.pool.submit(self._fresh, work))
        except MemlaneError as exc:
            self.access.log_call(client, tool, exc)
            raise ToolError(str(exc)) from None
        except Exception as exc:
            log.exception("memlane mcp: %s failed", tool)
            self.access.log_call(client, tool, exc)
            raise ToolError(f"internal error in {tool} ({type(exc).__name__}); the details are "
                            "in the server's log") from None
        self.access.log_call(client, tool)
        return result

    def _fresh(self, work: Callable[[], T]) -> T:
        self.access.refresh()  # the settings of now: a rule added in the app applies at once
        return work()

    def close(self) -> None:
        self.pool.submit(self.access.close).result()
        self.pool.shutdown()


def _client_name(ctx: Context | None) -> str:
    try:
        params = ctx.session.client_params if ctx is not None else None
    except (AttributeError, LookupError, RuntimeError):
        params = None
    info = getattr(params, "client_info", None)
    return str(getattr(info, "name", "") or "unknown client")


def build_server(tools: Tools) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        "memlane", title="Memlane", version=__version__, instructions=INSTRUCTIONS,
        log_level="WARNING")
    a = tools.access

    @server.tool(annotations=READ)
    async def search(
        query: Annotated[str, Field(description="Words or a question; time expressions such as "
                                                "'yesterday' become a filter.")],
        since: Annotated[str | None, Field(description="Only after this: ISO date/time or "
                                                       "'last week', '3 days ago'...")] = None,
        until: Annotated[str | None, Field(description="Only before this.")] = None,
        app: Annotated[str | None, Field(description="Only this app (or chat source).")] = None,
        site: Annotated[str | None, Field(
            description="Only screens of browser tabs on this site or its subdomains, e.g. "
                        "github.com.")] = None,
        kind: Annotated[list[Kind] | None, Field(description="Only these record kinds.")] = None,
        limit: Annotated[int | None, Field(ge=1, le=100)] = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Search everything Memlane remembers (keywords and meaning). Returns hits with time,
        app, window title or conversation, a snippet and the record's id."""
        hits = await tools.run(ctx, "search", lambda: a.search(
            query, since=since, until=until, app=app, site=site, kinds=kind, limit=limit))
        return {"hits": hits}

    @server.tool(annotations=READ)
    async def ask(
        question: Annotated[str, Field(description="A question about the person's past.")],
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Answer a question from the memory with Memlane's local model, citing its memories as
        [n]; when nothing relevant is remembered it says so (abstained: true)."""
        return await tools.run(ctx, "ask", lambda: a.ask(question))

    @server.tool(annotations=READ)
    async def timeline(
        day: Annotated[str | None, Field(description="One day: YYYY-MM-DD, 'today', "
                                                     "'yesterday', 'last Monday'...")] = None,
        since: Annotated[str | None, Field(description="First day of a range.")] = None,
        until: Annotated[str | None, Field(description="Last day of a range.")] = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """What happened on a day or a range of days (at most 31; default today): each day's
        digest, episodes and screen activities with apps and times, and the chats held."""
        return await tools.run(ctx, "timeline",
                               lambda: a.timeline(day=day, since=since, until=until))

    @server.tool(annotations=READ, structured_output=False)
    async def frame(
        id: Annotated[str, Field(description="A frame id from search or timeline: frame:12.")],
        image: Annotated[bool, Field(description="Also return the screenshot (WebP).")] = False,
        ctx: Context | None = None,
    ) -> list[Any]:
        """One remembered screen: its OCR text with time, app and window title, and the
        screenshot itself when asked for and still kept."""
        view, data = await tools.run(ctx, "frame", lambda: a.frame(id))
        out: list[Any] = [json.dumps(view, ensure_ascii=False, indent=2)]
        if image and data is not None:
            out.append(Image(data=data, format="webp"))
        elif image:
            out.append("(the screenshot itself is no longer kept; its text is above)")
        return out

    @server.tool(annotations=READ)
    async def facts(
        history: Annotated[bool, Field(description="Include replaced and retired versions.")]
        = False,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """What Memlane knows about the person: current facts, each with the messages and
        screens it was learned from."""
        return {"facts": await tools.run(ctx, "facts",
                                         lambda: a.facts(include_history=history))}

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                             open_world_hint=False))
    async def remember(
        text: Annotated[str, Field(description="The note to keep.")],
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Store a note in the memory, in a conversation of notes from this client (only when
        the person allowed writing: [mcp] allow_write)."""
        client = _client_name(ctx)
        return await tools.run(ctx, "remember", lambda: a.remember(text, client))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                             idempotent_hint=True, open_world_hint=False))
    async def forget(
        ids: Annotated[list[str] | None, Field(description="Record ids: frame:12, "
                                                           "message:40...")] = None,
        query: Annotated[str | None, Field(description="Records containing this text.")] = None,
        since: Annotated[str | None, Field(description="Only records from this time on.")]
        = None,
        until: Annotated[str | None, Field(description="Only records before this time.")]
        = None,
        confirm: Annotated[str | None, Field(description="The token a first call returned.")]
        = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Irrevocably delete memories and everything derived from them. The first call only
        says what would go and returns a confirm token; nothing is deleted until the same call
        is repeated with that token, after the person agreed (needs [mcp] allow_write)."""
        return await tools.run(ctx, "forget", lambda: a.forget(
            ids=ids or (), query=query, since=since, until=until, confirm=confirm))

    return server


def serve(home: Path, unlock: Callable[[], Any]) -> None:
    """Answer MCP requests on stdin/stdout until the client closes the session."""
    tools = Tools(ExternalAccess(home, unlock))
    try:
        build_server(tools).run("stdio")
    finally:
        tools.close()
