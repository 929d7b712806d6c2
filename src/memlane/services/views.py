"""What clients show of a memory as JSON-ready dicts: facts, episodes, a frame, a timeline.

The CLI's ``--json`` outputs, the MCP server and the Markdown journal all describe records through
these functions, so a fact or an episode reads the same wherever it is asked for. Every derived
record carries its ``sources`` (the frames and messages it came from, with their external ids and
ISO times); times are local ISO 8601. An optional ``hide(app, title, url)`` predicate drops
records the privacy rules exclude (for clients outside the app, which must never see them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from memlane.memory import facts as fx
from memlane.memory.episodes import EpisodeRow, episodes_between, sources_of
from memlane.memory.records import iso
from memlane.memory.store import Store
from memlane.memory.timeline import (
    conversations_between,
    day_bounds,
    frame_detail,
    frames_between,
    segment,
)


class Hide(Protocol):
    """(app, title, address) -> True when the privacy rules exclude such a record."""

    def __call__(self, app: str, title: str, url: str = "") -> bool: ...


def show_all(app: str, title: str, url: str = "") -> bool:
    """The ``hide`` of clients that see everything (the person's own CLI and app)."""
    return False


def iso_source(source: dict[str, Any]) -> dict[str, Any]:
    out = dict(source)
    if isinstance(out.get("time"), float | int):
        out["time"] = iso(float(out["time"]))
    return out


def hidden_sources(store: Store, ids: Iterable[str], hide: Hide) -> set[str]:
    """Which of these frames and messages ("frame:3", "message:9") the rules exclude: a frame
    by its app, window title and address, a message by its conversation's source and title."""
    if hide is show_all:
        return set()
    wanted: dict[str, list[int]] = {"frame": [], "message": []}
    for value in ids:
        kind, _, rowid = value.partition(":")
        if kind in wanted and rowid.isdigit():
            wanted[kind].append(int(rowid))
    out: set[str] = set()
    queries = {"frame": "SELECT id, app, title, url FROM frames WHERE id IN ({})",
               "message": "SELECT m.id, c.source, c.title, '' FROM messages m JOIN conversations"
                          " c ON c.id = m.conversation_id WHERE m.id IN ({})"}
    for kind, rowids in wanted.items():
        for start in range(0, len(rowids), 500):
            chunk = rowids[start : start + 500]
            for rowid, app, title, url in store.sql(
                    queries[kind].format(",".join("?" * len(chunk))), chunk):
                if hide(app or "", title or "", url or ""):
                    out.add(f"{kind}:{rowid}")
    return out


def hidden_derived(store: Store, kind: str, ids: Sequence[int], hide: Hide) -> set[int]:
    """Which of these episodes or facts were derived (through digests too) from anything the
    rules exclude: such a record may quote it, so it is excluded with it."""
    if hide is show_all or not ids:
        return set()
    sources = sources_of(store, kind, ids)
    hidden = hidden_sources(store, (s["id"] for v in sources.values() for s in v), hide)
    return {i for i, v in sources.items() if any(s["id"] in hidden for s in v)}


def fact_dicts(store: Store, *, include_history: bool = False,
               hide: Hide = show_all) -> list[dict[str, Any]]:
    """Facts (current ones, or every version with ``include_history``) with their sources,
    without those learned from anything the rules exclude."""
    rows = fx.facts(store, include_history=include_history)
    hidden = hidden_derived(store, "fact", [r.id for r in rows], hide)
    rows = [r for r in rows if r.id not in hidden]
    sources = sources_of(store, "fact", [r.id for r in rows])
    out = []
    for row in rows:
        item = fx.as_dict(row)
        for key in ("valid_from", "valid_to", "first_seen", "last_confirmed"):
            item[key] = iso(item[key]) if item[key] is not None else None
        item["sources"] = [iso_source(s) for s in sources[row.id]]
        out.append(item)
    return out


def episode_dict(row: EpisodeRow, sources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"episode:{row.id}", "level": row.level, "kind": row.kind,
        "start": iso(row.start), "end": iso(row.end), "apps": row.apps, "titles": row.titles,
        "key_phrases": [p for p in row.key_phrases.split(", ") if p], "summary": row.summary,
        "summary_by": row.summary_by, "importance": round(row.importance, 2),
        "sources": [iso_source(s) for s in sources],
    }


def episode_dicts(store: Store, since: float | None, until: float | None, *,
                  level: str = "episode", hide: Hide = show_all) -> list[dict[str, Any]]:
    """Episodes (or day digests with ``level="day"``) overlapping a range, with their sources.

    An episode or digest is left out when it names an excluded app or window title, or was
    derived from anything excluded."""
    rows = [r for r in episodes_between(store, since, until, level=level)
            if not any(hide(a, "") for a in r.apps) and not any(hide("", t) for t in r.titles)]
    hidden = hidden_derived(store, "episode", [r.id for r in rows], hide)
    rows = [r for r in rows if r.id not in hidden]
    sources = sources_of(store, "episode", [r.id for r in rows])
    return [episode_dict(r, sources[r.id]) for r in rows]


def frame_dict(store: Store, frame_id: int, *, hide: Hide = show_all) -> dict[str, Any] | None:
    """One frame: time, app, title, size, OCR state and text; None when absent or hidden."""
    detail = frame_detail(store, frame_id)
    if detail is None or hide(detail.row.app, detail.row.title, detail.row.url):
        return None
    row = detail.row
    return {
        "id": f"frame:{row.id}", "time": iso(row.time), "app": row.app, "title": row.title,
        "monitor": row.monitor, "width": detail.width, "height": detail.height,
        "ocr": row.ocr, "text": detail.text, "image": row.image_path,
    }


def _conversations(store: Store, since: float, until: float, hide: Hide) -> list[dict[str, Any]]:
    return [{"conversation": c.conversation, "source": c.source, "title": c.title,
             "messages": c.messages, "first_message": f"message:{c.first_message}",
             "start": iso(c.start), "end": iso(c.end)}
            for c in conversations_between(store, since, until) if not hide(c.source, c.title)]


def timeline(store: Store, first: date, last: date, *, hide: Hide = show_all,
             gap_s: float = 300.0) -> dict[str, Any]:
    """Each day from ``first`` to ``last`` (inclusive) that holds anything: its digest, episodes,
    on-the-fly screen activities (runs of one app and window) and the conversations held."""
    days: list[dict[str, Any]] = []
    day = first
    while day <= last:
        lo, hi = day_bounds(day)
        digest = [d for d in episode_dicts(store, lo, hi, level="day", hide=hide)
                  if d["start"][:10] == day.isoformat()]
        episodes = [e for e in episode_dicts(store, lo, hi, hide=hide)
                    if lo <= datetime.fromisoformat(e["start"]).timestamp() < hi]
        frames = [f for f in frames_between(store, lo, hi) if not hide(f.app, f.title, f.url)]
        activities = [{"start": iso(run.start), "end": iso(run.end), "app": run.app,
                       "title": run.title, "frames": len(run.frames),
                       "first_frame": f"frame:{run.frames[0].id}"}
                      for run in segment(frames, gap_s)]
        conversations = _conversations(store, lo, hi, hide)
        if digest or episodes or activities or conversations:
            days.append({
                "day": day.isoformat(),
                "digest": digest[0]["summary"] if digest else None,
                "digest_by": digest[0]["summary_by"] if digest else None,
                "frames": len(frames),
                "episodes": episodes,
                "activities": activities,
                "conversations": conversations,
            })
        day += timedelta(days=1)
    return {"from": first.isoformat(), "to": last.isoformat(), "days": days}
