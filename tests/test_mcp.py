"""``memlane mcp`` through the official SDK's stdio client: a real server process on a real home
(imported chats, OCR'd screenshots, consolidated episodes), checked against the CLI's ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from conftest import Cli, ModelStore, chat_file, memlane_subprocess_env, screenshots
from memlane.core.settings import load_settings, save_settings
from memlane.services.engine import Engine

DAY = date(2024, 5, 1)
Session = Callable[[ClientSession], Awaitable[Any]]


def session(home: Path, body: Session, env: dict[str, str] | None = None) -> Any:
    """Start ``memlane mcp`` on ``home``, initialize, run ``body`` with the client session."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memlane", "--home", str(home), "mcp"],
        env=env or memlane_subprocess_env(home))

    async def main() -> Any:
        with open(home.parent / "mcp-stderr.log", "a") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write) as client:
                await client.initialize()
                return await body(client)

    return anyio.run(main)


def text(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


def payload(result: CallToolResult) -> Any:
    assert not result.is_error, text(result)
    return json.loads(text(result))


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, model_store: ModelStore) -> Path:
    """Two chats and three screens on 1 May 2024 (one a private window), consolidated."""
    tmp = tmp_path_factory.mktemp("mcp")
    home = tmp / "home"
    model_store.seed(home / "models", "small")
    chat = chat_file(tmp / "chat.jsonl", [
        ("2024-05-01T11:00:00", "Ana", "The ferry to Tavira leaves at 18:40 from pier 3.", "trip"),
        ("2024-05-01T11:01:00", "me", "Great, I will bring the bicycles and see you at the pier.",
         "trip"),
        ("2024-05-01T21:00:00", "me", "I live in Porto and I work as a nurse.", "about me"),
    ])
    shots = screenshots(tmp / "shots", {
        "2024-05-01_10-30-00.png": ["Ferry timetable Faro Tavira", "Departure 18:40 pier 3"],
        "2024-05-01_10-45-00.png": ["Invoice 4471 for bicycle rental", "Total EUR 45"]})
    secret = screenshots(tmp / "secret", {
        "2024-05-01_10-50-00.png": ["Zanzibar surprise party planning", "guest list and cake"]})
    run = Cli(home)
    run("import-chat", str(chat))
    run("ingest-image", str(shots), "--app", "firefox", "--title", "Ferries - Mozilla Firefox")
    # Stored before the person excluded private windows by title here: never shown outside.
    run("ingest-image", str(secret), "--app", "firefox",
        "--title", "Party - Private Browsing")
    run("consolidate", "--no-model")
    return home


def test_tools_answer_as_the_cli_does_and_never_show_excluded_windows(memory: Path) -> None:
    run = Cli(memory)

    async def body(client: ClientSession) -> dict[str, Any]:
        tools = await client.list_tools()
        out: dict[str, Any] = {"tools": sorted(t.name for t in tools.tools)}
        out["search"] = payload(await client.call_tool("search", {"query": "ferry timetable",
                                                                  "limit": 5}))
        out["secret"] = payload(await client.call_tool("search", {"query": "Zanzibar party"}))
        out["chat_only"] = payload(await client.call_tool(
            "search", {"query": "ferry", "kind": ["message"], "since": "2024-05-01",
                       "until": "2024-05-01"}))
        out["timeline"] = payload(await client.call_tool("timeline", {"day": "2024-05-01"}))
        out["facts"] = payload(await client.call_tool("facts", {}))
        first = out["search"]["hits"][0]["id"]
        out["frame"] = await client.call_tool("frame", {"id": first, "image": True})
        hidden = [h for h in run.json("search", "Zanzibar party") if h["kind"] == "frame"]
        out["hidden_frame"] = await client.call_tool("frame", {"id": hidden[0]["id"]})
        return out

    got = session(memory, body)
    everything = json.dumps({k: v for k, v in got.items() if k not in ("frame", "hidden_frame")})
    assert "Private" not in everything and "Zanzibar" not in everything  # nowhere, not in digests
    assert got["tools"] == ["ask", "facts", "forget", "frame", "remember", "search", "timeline"]
    # search: the CLI's hits without the private window and what quotes it (the day's digest);
    # the server asks the engine for 2 * limit + 5 to fill the gaps
    cli_hits = run.json("search", "ferry timetable", "--limit", "15")
    assert any("Private" in json.dumps(h) for h in cli_hits)
    assert got["search"]["hits"] == [h for h in cli_hits if "Private" not in json.dumps(h)][:5]
    assert cli_hits[0]["kind"] == "frame" and "Ferry timetable" in cli_hits[0]["snippet"]
    # the private window's text is found by the CLI (the person's own view) but never over MCP
    assert any("Zanzibar" in h["snippet"] for h in run.json("search", "Zanzibar party"))
    assert not any("Zanzibar" in h["snippet"] or "Private" in h["title"]
                   for h in got["secret"]["hits"])
    assert got["chat_only"]["hits"] and all(
        h["kind"] == "message" for h in got["chat_only"]["hits"])
    # timeline: the CLI's day, without the private window's activity
    cli_day = run.json("timeline", "--day", "2024-05-01")
    assert cli_day["days"][0]["frames"] == 3
    mcp_day = got["timeline"]["days"][0]
    assert mcp_day["frames"] == 2
    assert mcp_day["conversations"] == cli_day["days"][0]["conversations"]
    assert [c["title"] for c in mcp_day["conversations"]] == ["trip", "about me"]
    assert not any("Private" in a["title"] for a in mcp_day["activities"])
    assert mcp_day["episodes"] == [e for e in cli_day["days"][0]["episodes"]
                                   if not any("Private" in t for t in e["titles"])]
    assert cli_day["days"][0]["digest"] and "Private" in cli_day["days"][0]["digest"]
    assert mcp_day["digest"] is None  # the day's digest quotes the private window: withheld
    # facts: the CLI's
    assert got["facts"]["facts"] == run.json("facts")
    # frame: its OCR text and the WebP screenshot
    frame = got["frame"]
    assert not frame.is_error
    view = json.loads(frame.content[0].text)
    assert "Departure 18:40" in view["text"] and view["app"] == "firefox"
    image = [c for c in frame.content if c.type == "image"]
    assert image and image[0].mime_type == "image/webp"
    assert got["hidden_frame"].is_error and "no frame" in text(got["hidden_frame"])
    # every call is in the log the app shows, without what was asked
    log = (memory / "logs" / "mcp.jsonl").read_text()
    assert '"tool": "search"' in log and "Zanzibar" not in log and "ferry" not in log


def test_bad_arguments_are_tool_errors_and_the_server_keeps_answering(memory: Path) -> None:
    async def body(client: ClientSession) -> list[CallToolResult]:
        return [
            await client.call_tool("search", {"query": "ferry", "limit": 0}),
            await client.call_tool("search", {"query": "ferry", "kind": ["nope"]}),
            await client.call_tool("search", {"query": "   "}),
            await client.call_tool("timeline", {"since": "the day the music died"}),
            await client.call_tool("timeline", {"since": "2024-01-01", "until": "2024-12-31"}),
            await client.call_tool("frame", {"id": "message:1"}),
            await client.call_tool("frame", {"id": "frame:99999"}),
            await client.call_tool("nonexistent", {}),
            await client.call_tool("search", {"query": "ferry"}),
        ]

    *bad, good = session(memory, body)
    assert all(r.is_error for r in bad), [text(r) for r in bad]
    assert "not a date" in text(bad[3]) and "31 days" in text(bad[4])
    assert "not a frame id" in text(bad[5]) and "no frame" in text(bad[6])
    assert payload(good)["hits"]
    log = (memory / "logs" / "mcp.jsonl").read_text()
    assert '"error": "bad argument"' in log and "music" not in log  # the kind, not the words


def test_writing_is_refused_until_allowed_then_forget_needs_its_confirmation(
        tmp_path: Path, memory: Path) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(memory, home)

    async def refused(client: ClientSession) -> list[CallToolResult]:
        return [await client.call_tool("remember", {"text": "Buy oat milk"}),
                await client.call_tool("forget", {"query": "ferry"})]

    for result in session(home, refused):
        assert result.is_error and "allow_write" in text(result)
    settings = load_settings(home / "settings.toml")
    settings.mcp.allow_write = True
    save_settings(home / "settings.toml", settings)

    async def allowed(client: ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["note"] = payload(await client.call_tool("remember", {"text": "Buy oat milk "
                                                                           "for the ferry trip"}))
        out["found"] = payload(await client.call_tool("search", {"query": "oat milk"}))
        out["hidden"] = payload(await client.call_tool("forget", {"query": "Zanzibar"}))
        out["plan"] = payload(await client.call_tool("forget", {"query": "oat milk"}))
        out["unknown"] = await client.call_tool("forget", {"confirm": "0" * 16})
        out["after_unknown"] = payload(await client.call_tool("search", {"query": "oat milk"}))
        out["done"] = payload(await client.call_tool(
            "forget", {"confirm": out["plan"]["confirm"]}))
        out["after"] = payload(await client.call_tool("search", {"query": "oat milk"}))
        return out

    got = session(home, allowed)
    assert got["hidden"]["would_forget"] == {}  # the private window is not even counted
    assert got["unknown"].is_error and "unknown or expired" in text(got["unknown"])
    assert got["note"]["conversation"] == "Notes from mcp"
    assert got["found"]["hits"][0]["id"] == got["note"]["id"]
    assert got["plan"]["forgotten"] is False and got["plan"]["would_forget"]["message"] == 1
    assert got["after_unknown"]["hits"][0]["id"] == got["note"]["id"]  # nothing was deleted
    assert got["done"]["forgotten"] is True and got["done"]["counts"]["message"] == 1
    assert not any("oat milk" in h["snippet"] for h in got["after"]["hits"])
    with Engine.open(home) as engine:
        assert engine.store.sql("SELECT count(*) FROM messages WHERE text LIKE '%oat milk%'")[0][0] == 0


def test_rules_changed_in_the_settings_apply_to_a_running_session(tmp_path: Path,
                                                                  memory: Path) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(memory, home)

    def exclude_chats() -> None:  # what the person does in the app's Settings meanwhile
        settings = load_settings(home / "settings.toml")
        settings.privacy.exclude_apps = [*settings.privacy.exclude_apps, "jsonl"]
        save_settings(home / "settings.toml", settings)

    async def body(client: ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {"facts": payload(await client.call_tool("facts", {}))}
        out["hits"] = payload(await client.call_tool("search", {"query": "Porto nurse"}))
        exclude_chats()
        out["facts_after"] = payload(await client.call_tool("facts", {}))
        out["hits_after"] = payload(await client.call_tool("search", {"query": "Porto nurse"}))
        out["day_after"] = payload(await client.call_tool("timeline", {"day": "2024-05-01"}))
        return out

    got = session(home, body)
    assert any("Porto" in f["text"] for f in got["facts"]["facts"])
    assert any("Porto" in h["snippet"] for h in got["hits"]["hits"])
    # the chats' source is excluded now: their messages, the facts and episodes taken from them
    after = json.dumps([got["facts_after"], got["hits_after"], got["day_after"]])
    assert "Porto" not in after and "ferry to Tavira" not in after.replace("\\n", " ")
    assert got["day_after"]["days"][0]["conversations"] == []
    assert got["day_after"]["days"][0]["frames"] == 2  # the screens stay


def test_an_address_rule_hides_screens_stored_before_it_and_site_keeps_that_sites(
    tmp_path: Path, memory: Path,
) -> None:
    import shutil
    import sqlite3

    # GIVEN the invoice screen was a browser tab on a site, recorded before any rule named it
    home = tmp_path / "home"
    shutil.copytree(memory, home)
    with sqlite3.connect(home / "memlane.db") as db:
        (invoice,) = db.execute("SELECT DISTINCT frame_id FROM ocr_blocks "
                                "WHERE text LIKE '%Invoice%'").fetchone()
        db.execute("UPDATE frames SET url = 'https://shop.bikes.example/invoices/4471' "
                   "WHERE id = ?", [invoice])

    def exclude_site() -> None:  # what the person does in the app's Settings meanwhile
        settings = load_settings(home / "settings.toml")
        settings.privacy.exclude_urls = ["bikes.example"]
        save_settings(home / "settings.toml", settings)

    async def body(client: ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {
            "site": payload(await client.call_tool("search", {"query": "invoice",
                                                              "site": "bikes.example"})),
            "other_site": payload(await client.call_tool("search", {"query": "invoice",
                                                                    "site": "ferries.example"})),
            "before": payload(await client.call_tool("search", {"query": "invoice rental"}))}
        exclude_site()
        out["after"] = payload(await client.call_tool("search", {"query": "invoice rental"}))
        out["frame"] = await client.call_tool("frame", {"id": f"frame:{invoice}"})
        out["day"] = payload(await client.call_tool("timeline", {"day": "2024-05-01"}))
        out["ferry"] = payload(await client.call_tool("search", {"query": "ferry timetable"}))
        return out

    got = session(home, body)
    # THEN site keeps that site's screens only, as `search --site` does
    assert [h["id"] for h in got["site"]["hits"]] == [f"frame:{invoice}"]
    assert got["other_site"]["hits"] == []
    assert f"frame:{invoice}" in [h["id"] for h in got["before"]["hits"]]
    # and once the address is excluded the screen is gone from every tool, the others stay
    after = json.dumps([got["after"], got["day"]])
    assert f"frame:{invoice}" not in after and "Invoice 4471" not in after
    assert got["frame"].is_error and "no frame" in text(got["frame"])
    assert got["day"]["days"][0]["frames"] == 1  # the ferry timetable (the private one was gone)
    assert any("Ferry timetable" in h["snippet"] for h in got["ferry"]["hits"])


def test_a_locked_encrypted_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = Cli(home)
    run("encrypt", input="correct horse battery\ncorrect horse battery\n")
    env = {**memlane_subprocess_env(home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

    async def body(client: ClientSession) -> list[CallToolResult]:
        return [await client.call_tool("search", {"query": "anything"}),
                await client.call_tool("facts", {})]

    for result in session(home, body, env):
        assert result.is_error and "locked" in text(result) and "keyring" in text(result)


@pytest.mark.model
def test_ask_gives_the_cli_answer_with_the_real_model(memory: Path) -> None:
    run = Cli(memory)
    question = "When does the ferry to Tavira leave?"

    async def body(client: ClientSession) -> Any:
        return payload(await client.call_tool("ask", {"question": question}))

    def stored_questions() -> int:
        with Engine.open(memory) as engine:
            return int(engine.store.sql("SELECT count(*) FROM messages m JOIN conversations c"
                                        " ON c.id = m.conversation_id"
                                        " WHERE c.source = 'assistant'")[0][0])

    before = stored_questions()
    got = session(memory, body)
    assert stored_questions() == before  # what other programs ask is not kept
    want = run.json("ask", question)
    assert got["answer"] == want["answer"] and got["abstained"] == want["abstained"]
    assert [c["id"] for c in got["citations"]] == [c["id"] for c in want["citations"]]
    assert not got["abstained"] and "18:40" in got["answer"]
