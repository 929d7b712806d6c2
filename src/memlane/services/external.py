"""What other programs on this machine may ask of a memory, and the rules they are held to.

:class:`ExternalAccess` is the protocol-neutral half of ``memlane mcp``: search, ask, timeline,
frame, facts, remember and forget, each returning the same JSON-ready data as the CLI's ``--json``.
Its rules: what the privacy settings exclude (apps, window titles) never comes back, even when it
was stored before the rule; writing (``remember``, ``forget``) needs ``[mcp] allow_write``; a
forget is done only when the caller repeats it with the confirmation token of the plan it was
shown, so exactly that plan is deleted; an encrypted home is read only with the key remembered in
the system keyring, else every call is refused as locked. Every call is appended to the call log
(when, which client, which tool, whether it worked; never the arguments) that the app shows.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from memlane.capture.privacy import ExclusionRules
from memlane.core.errors import (
    InputError,
    LockedError,
    MemlaneError,
    ModelError,
    SettingsError,
    StorageError,
)
from memlane.core.paths import Paths
from memlane.core.settings import load_settings
from memlane.memory.forget import Plan, Scope
from memlane.memory.records import KINDS, ConversationIn, MessageIn, iso, parse_record_id
from memlane.memory.retrieval import SearchResult
from memlane.memory.timeparse import day_span, parse_when
from memlane.services.engine import Engine
from memlane.services.views import (
    fact_dicts,
    frame_dict,
    hidden_derived,
    hidden_sources,
    timeline,
)

log = logging.getLogger(__name__)

NOTES_SOURCE = "notes"  # conversations of notes stored by other programs
PLAN_TTL_S = 600.0  # how long a forget plan shown to a client can be confirmed
MAX_NOTE_CHARS = 20_000
MAX_TIMELINE_DAYS = 31
MAX_LIMIT = 100


class WriteRefused(MemlaneError):
    """A write from another program while ``[mcp] allow_write`` is off."""

    exit_code = 2


# How a failed call is logged: its kind, never its message (which may quote the arguments).
_FAILURES: dict[type[BaseException], str] = {
    InputError: "bad argument", LockedError: "memory locked", WriteRefused: "writing not allowed",
    SettingsError: "settings unreadable", StorageError: "storage error", ModelError: "model error",
}


@dataclass(frozen=True)
class Call:
    """One line of the call log."""

    time: float
    client: str
    tool: str
    ok: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"time": iso(self.time), "client": self.client, "tool": self.tool,
                               "ok": self.ok}
        if self.error:
            out["error"] = self.error
        return out


def append_call(path: Path, call: Call) -> None:
    """Add one call to the log; a log that cannot be written never fails the call."""
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(call.to_json(), ensure_ascii=False) + "\n")
    except OSError as exc:
        log.warning("cannot write the call log %s: %s", path, exc)


def read_calls(path: Path, limit: int = 500) -> list[dict[str, Any]]:
    """The newest ``limit`` calls of the log, oldest first (unreadable lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-limit:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


class ExternalAccess:
    """One home's memory as other programs see it (see the module docstring).

    Not thread-safe, like the engine it opens on first use: call it from one thread."""

    def __init__(self, home: Path, unlock: Callable[[], Any]) -> None:
        self.paths = Paths(home)
        self._unlock = unlock  # () -> Keys | None; raises LockedError when it cannot
        self._engine: Engine | None = None
        self._settings_stamp: tuple[int, int] | None = None
        self._plans: dict[str, tuple[float, Plan]] = {}  # forget plans shown, by token
        self._rules_for: tuple[tuple[str, ...], ...] | None = None
        self._built_rules = ExclusionRules()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # unlocking is tried again on every call until it works
            try:
                keys = self._unlock()
            except LockedError as exc:
                raise LockedError(
                    f"locked: this memory is encrypted ({exc}). Programs connected over MCP "
                    "can read it only when the key is in the system keyring: run `memlane "
                    "keyring on` once.") from None
            self._settings_stamp = self._stamp()
            self._engine = Engine(self.paths, load_settings(self.paths.settings), keys=keys)
        return self._engine

    def refresh(self) -> None:
        """Before each call: use the settings as they are now, if the app changed them."""
        if self._engine is not None and (stamp := self._stamp()) != self._settings_stamp:
            self._engine.apply_settings(load_settings(self.paths.settings))
            self._settings_stamp = stamp

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.paths.settings.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def log_call(self, client: str, tool: str, error: BaseException | None = None) -> None:
        """Log a call; a failure by its kind only (its message may quote the arguments)."""
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        why = "" if error is None else _FAILURES.get(type(error), "failed")
        append_call(self.paths.mcp_log, Call(time.time(), client[:80], tool, error is None, why))

    # -- privacy ---------------------------------------------------------------------------------

    def _rules(self) -> ExclusionRules:
        """The privacy rules of the settings in use, built once per version of them."""
        priv = self.engine.settings.privacy
        key = (tuple(priv.exclude_apps), tuple(priv.exclude_titles), tuple(priv.exclude_urls))
        if self._rules_for != key:
            self._rules_for, self._built_rules = key, ExclusionRules.of(priv)
        return self._built_rules

    def hide(self, app: str, title: str, url: str = "") -> bool:
        return self._rules().hides(app, title, url)  # per record: the rules are built once

    def _visible(self, result: SearchResult, limit: int) -> SearchResult:
        """The hits the rules do not exclude: screens by app, title and address, chats by
        source and title, episodes and facts also by everything they were derived from."""
        hide = self.hide
        store = self.engine.store
        derived = {kind: hidden_derived(store, kind, [int(h.id.split(":")[1]) for h in
                                                      result.hits if h.kind == kind], hide)
                   for kind in ("episode", "fact")}
        screens = hidden_sources(store, (h.id for h in result.hits if h.kind == "frame"), hide)
        result.hits = [h for h in result.hits if not hide(h.app, h.title) and h.id not in screens
                       and int(h.id.split(":")[1]) not in derived.get(h.kind, ())][:limit]
        return result

    def _search(self, query: str, **kwargs: Any) -> SearchResult:
        limit = kwargs.pop("limit", None) or self.engine.settings.search.limit
        # a few more than asked for, so that what is excluded leaves no gap
        found = self.engine.search(query, limit=min(limit * 2 + 5, 1000), **kwargs)
        return self._visible(found, limit)

    # -- reads -----------------------------------------------------------------------------------

    def search(self, query: str, *, since: str | None = None, until: str | None = None,
               app: str | None = None, site: str | None = None,
               kinds: Sequence[str] | None = None, limit: int | None = None,
               now: datetime | None = None) -> list[dict[str, Any]]:
        """Hits as ``memlane search --json`` prints them, without excluded apps, windows and
        addresses. ``site`` keeps screens of browser tabs on that site, as ``--site`` does."""
        if not query.strip():
            raise InputError("search needs a query")
        for kind in kinds or ():
            if kind not in KINDS:
                raise InputError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit must be from 1 to {MAX_LIMIT}")
        result = self._search(
            query, since=_moment(since, now, end=False, name="since"),
            until=_moment(until, now, end=True, name="until"), app=app,
            kinds=tuple(kinds) if kinds else KINDS, limit=limit, now=now, site=site or None)
        return [h.to_json() for h in result.hits]

    def ask(self, question: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The answer as ``memlane ask --json`` gives it, from visible memories only. The
        question and answer are not stored (the CLI and the app keep theirs)."""
        if not question.strip():
            raise InputError("ask needs a question")
        settings = replace(self.engine.settings.answer, remember=False)
        assistant = self.engine.assistant(search=self._search, settings=settings)
        return assistant.ask(question, now=now).to_json()

    def timeline(self, *, day: str | None = None, since: str | None = None,
                 until: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """As ``memlane timeline --json``: each day's digest, episodes, activities, chats."""
        try:
            first, last = day_span(day, since, until, now)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if (last - first).days >= MAX_TIMELINE_DAYS:
            raise InputError(f"a timeline covers at most {MAX_TIMELINE_DAYS} days; ask for "
                             "a shorter range")
        return timeline(self.engine.store, first, last, hide=self.hide)

    def frame(self, frame_id: str) -> tuple[dict[str, Any], bytes | None]:
        """A frame's text, time and app, and its image (WebP bytes) when it is still kept."""
        try:
            kind, rowid = parse_record_id(frame_id if ":" in frame_id else f"frame:{frame_id}")
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if kind != "frame":
            raise InputError(f"{frame_id!r} is not a frame id (frame:N)")
        view = frame_dict(self.engine.store, rowid, hide=self.hide)
        if view is None:
            raise InputError(f"no frame {frame_id!r}")
        image = None
        if view["image"]:
            try:
                image = self.engine.frame_files.read_bytes(view["image"])
            except (OSError, MemlaneError) as exc:
                log.info("frame %s image unreadable: %s", rowid, exc)
        return view, image

    def facts(self, *, include_history: bool = False) -> list[dict[str, Any]]:
        """As ``memlane facts --json``."""
        return fact_dicts(self.engine.store, include_history=include_history, hide=self.hide)

    # -- writes ----------------------------------------------------------------------------------

    def _require_write(self) -> None:
        if not self.engine.settings.mcp.allow_write:
            raise WriteRefused("writing is off for connected programs: set [mcp] allow_write ="
                               " true in settings.toml to let them store notes and forget")

    def remember(self, text: str, client: str) -> dict[str, Any]:
        """Store a note in the calling client's own notes conversation."""
        self._require_write()
        text = text.strip()
        if not text:
            raise InputError("remember needs some text")
        if len(text) > MAX_NOTE_CHARS:
            raise InputError(f"a note holds at most {MAX_NOTE_CHARS} characters")
        name = " ".join(client.split())[:80] or "unknown client"
        now = time.time()
        conv = ConversationIn(
            NOTES_SOURCE, f"notes-{name}", f"Notes from {name}", now,
            (MessageIn(f"{now:.6f}", name, text, now, "user", {"client": name, "via": "mcp"}),))
        store = self.engine.store
        store.import_conversations([conv])
        self.engine.sync_index()
        rows = store.sql("SELECT id FROM messages WHERE external_id = ? ORDER BY id DESC LIMIT 1",
                         [f"{now:.6f}"])
        return {"id": f"message:{rows[0][0]}" if rows else None, "time": iso(now),
                "conversation": f"Notes from {name}"}

    def forget(self, *, ids: Sequence[str] = (), query: str | None = None,
               since: str | None = None, until: str | None = None, confirm: str | None = None,
               now: datetime | None = None) -> dict[str, Any]:
        """Without ``confirm``: what would be forgotten and a token for exactly that plan
        (kept ten minutes). With the token: forget that plan, with everything derived from it.
        Records the rules exclude are neither counted nor forgotten here."""
        self._require_write()
        cutoff = time.time() - PLAN_TTL_S
        self._plans = {k: v for k, v in self._plans.items() if v[0] >= cutoff}
        if confirm is not None:
            kept = self._plans.pop(confirm, None)
            if kept is None:
                raise InputError("that confirm token is unknown or expired; call forget "
                                 "without it to see what would be forgotten")
            todo = kept[1]
            _, report = self.engine.forget(todo)
            assert report is not None
            return {"forgotten": True, "counts": todo.counts(),
                    "vectors_removed": report.vectors_removed,
                    "files_removed": report.files_removed}
        for value in ids:
            try:
                parse_record_id(value)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        scope = Scope(since=_moment(since, now, end=False, name="since"),
                      until=_moment(until, now, end=True, name="until"),
                      query=query or None, ids=tuple(ids))
        if scope.is_empty():
            raise InputError("say what to forget: ids, a query, or since/until")
        todo = self._visible_plan(self.engine.forget(scope, dry_run=True)[0])
        counts = todo.counts()
        if not counts:
            return {"forgotten": False, "would_forget": {}, "message": "nothing matches"}
        token = secrets.token_hex(8)
        self._plans[token] = (time.time(), todo)
        return {"forgotten": False, "would_forget": counts, "confirm": token,
                "message": "Nothing is deleted yet. Show the person what would be forgotten; "
                           "call forget with this confirm token (within ten minutes) to delete "
                           "exactly that. It cannot be undone."}

    def _visible_plan(self, todo: Plan) -> Plan:
        """The plan without the records the rules exclude (nor what only they led to)."""
        store = self.engine.store
        base = [f"{k}:{i}" for k in ("frame", "message") for i in todo.keys.get(k, ())]
        hidden = hidden_sources(store, base, self.hide)
        for kind in ("episode", "fact"):
            hidden |= {f"{kind}:{i}" for i in hidden_derived(
                store, kind, todo.keys.get(kind, []), self.hide)}
        if not hidden:
            return todo
        keep = tuple(f"{k}:{i}" for k, ids in todo.keys.items() for i in ids
                     if f"{k}:{i}" not in hidden)
        if not keep:
            return Plan(todo.scope)
        return self.engine.forget(Scope(ids=keep), dry_run=True)[0]


def _moment(value: str | None, now: datetime | None, *, end: bool, name: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_when(value, now, end=end).timestamp()
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None
