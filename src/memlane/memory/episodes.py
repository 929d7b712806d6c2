"""Episodic memory in the store: what is not consolidated yet, episodes and their lineage, and
day digests.

Consolidation reads what is not yet part of an episode - frames whose OCR is finished and
messages, found through ``lineage`` - and cuts it into drafts (:mod:`memlane.memory.segments`).
Each stored episode has an identity key, its apps, titles, key phrases and a summary. An episode
and its lineage rows are written in one transaction, so a killed consolidation leaves either the
episode with all its links or nothing, and a re-run neither duplicates nor skips. Day digests
(``level = 'day'``) summarise a day's episodes and are rebuilt when those change.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from memlane.memory.records import ASSISTANT_SOURCE
from memlane.memory.segments import (
    KEY_PHRASES,
    SCREEN_GAP_S,
    Draft,
    Item,
    chat_sessions,
    clip,
    closed,
    extractive_summary,
    jaccard,
    key_phrases,
    segment_frames,
    source_text,
)
from memlane.memory.store import Store

__all__ = [
    "KEY_PHRASES", "SCREEN_GAP_S", "Draft", "EpisodeRow", "Item", "chat_sessions", "closed",
    "day_digest_draft", "episodes_between", "extractive_summary", "jaccard", "key_phrases",
    "messages_of_episode", "overlapping", "pending_frames", "pending_messages", "segment_frames",
    "source_text", "sources_of", "stale_days", "store_digest", "store_episode",
]


# -- reading what is not consolidated yet ------------------------------------------------------


def pending_frames(store: Store, since: float | None = None,
                   until: float | None = None) -> list[Item]:
    """Frames not yet in any episode, in time order, stopping before the first one still in OCR."""
    cond, params = _range("f.time", since, until)
    rows = store.sql(
        "SELECT f.id, f.time, f.app, f.title, f.ocr,"
        " (SELECT group_concat(text, char(10)) FROM ocr_blocks WHERE frame_id = f.id)"
        " FROM frames f WHERE NOT EXISTS (SELECT 1 FROM lineage l WHERE l.source_kind = 'frame'"
        " AND l.source_id = f.id AND l.derived_kind = 'episode')" + cond + " ORDER BY f.time, f.id",
        params,
    )
    out = []
    for rowid, t, app, title, ocr, text in rows:
        if ocr == "pending":
            break  # later frames wait, so an episode is never cut by a frame still being read
        out.append(Item("frame", int(rowid), float(t), app or "", title or "", text or ""))
    return out


def pending_messages(store: Store, since: float | None = None,
                     until: float | None = None) -> list[Item]:
    """Messages not yet in any episode (Memlane's own chat excluded), by conversation and time."""
    cond, params = _range("m.time", since, until)
    rows = store.sql(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE c.source != ? AND NOT EXISTS (SELECT 1 FROM lineage l"
        " WHERE l.source_kind = 'message' AND l.source_id = m.id AND l.derived_kind = 'episode')"
        + cond + " ORDER BY m.conversation_id, m.time, m.id",
        [ASSISTANT_SOURCE, *params],
    )
    return [_message(r) for r in rows]


def messages_of_episode(store: Store, episode_id: int) -> list[Item]:
    """The messages a chat episode was made from, in time order."""
    rows = store.sql(
        f"SELECT {_MESSAGE_COLUMNS} FROM lineage l JOIN messages m ON m.id = l.source_id"
        " JOIN conversations c ON c.id = m.conversation_id WHERE l.derived_kind = 'episode'"
        " AND l.derived_id = ? AND l.source_kind = 'message' ORDER BY m.time, m.id",
        [episode_id])
    return [_message(r) for r in rows]


_MESSAGE_COLUMNS = ("m.id, m.time, c.source, c.title, m.text, m.speaker, m.conversation_id,"
                    " m.external_id")


def _message(r: Sequence[Any]) -> Item:
    return Item("message", int(r[0]), float(r[1]), r[2] or "", r[3] or "", r[4] or "",
                r[5] or "", int(r[6]), r[7] or "")


def _range(column: str, since: float | None, until: float | None) -> tuple[str, list[Any]]:
    cond, params = "", []
    if since is not None:
        cond += f" AND {column} >= ?"
        params.append(since)
    if until is not None:
        cond += f" AND {column} < ?"
        params.append(until)
    return cond, params


# -- writing -----------------------------------------------------------------------------------


def store_episode(store: Store, draft: Draft, summary: str, summary_by: str,
                  phrases: Sequence[str]) -> int | None:
    """Write an episode and its lineage in one transaction; None if its key is already stored
    or anything it was drafted from was forgotten meanwhile (the next run drafts it again)."""
    now = time.time()
    with store.transaction() as conn:
        if not sources_exist(conn, [(item.kind, item.id) for item in draft.items]):
            return None
        cur = conn.execute(
            "INSERT OR IGNORE INTO episodes (level, kind, key, start, end, apps, titles,"
            " key_phrases, summary, summary_by, importance, created)"
            " VALUES ('episode', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (draft.kind, draft.key, draft.start, draft.end,
             json.dumps(draft.apps, ensure_ascii=False),
             json.dumps(draft.titles, ensure_ascii=False), ", ".join(phrases), summary,
             summary_by, draft.importance(), now),
        )
        if cur.rowcount == 0:
            return None
        episode_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT OR IGNORE INTO lineage (derived_kind, derived_id, source_kind, source_id)"
            " VALUES ('episode', ?, ?, ?)",
            [(episode_id, item.kind, item.id) for item in draft.items],
        )
    return episode_id


def sources_exist(conn: sqlite3.Connection, keys: Sequence[tuple[str, int]]) -> bool:
    """Whether every one of these frames and messages is still stored (not forgotten)."""
    for kind, table in (("frame", "frames"), ("message", "messages")):
        ids = sorted({i for k, i in keys if k == kind})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = conn.execute(f"SELECT count(*) FROM {table} WHERE id IN"
                                 f" ({','.join('?' * len(chunk))})", chunk).fetchone()[0]
            if found != len(chunk):
                return False
    return True


@dataclass(frozen=True)
class EpisodeRow:
    id: int
    level: str
    kind: str
    start: float
    end: float
    apps: list[str]
    titles: list[str]
    key_phrases: str
    summary: str
    summary_by: str
    importance: float


_EPISODE_COLUMNS = ("id, level, kind, start, end, apps, titles, key_phrases, summary, summary_by,"
                    " importance")


def _episode(row: Sequence[Any]) -> EpisodeRow:
    return EpisodeRow(int(row[0]), row[1], row[2], float(row[3]), float(row[4]),
                      json.loads(row[5] or "[]"), json.loads(row[6] or "[]"), row[7] or "",
                      row[8] or "", row[9] or "", float(row[10]))


def overlapping(since: float | None, until: float | None) -> tuple[str, list[Any]]:
    """SQL conditions (`` AND ...``) and parameters for episodes overlapping a time range."""
    cond, params = "", list[Any]()
    if since is not None:
        cond += " AND end >= ?"
        params.append(since)
    if until is not None:
        cond += " AND start < ?"
        params.append(until)
    return cond, params


def episodes_between(store: Store, since: float | None, until: float | None,
                     level: str | None = None) -> list[EpisodeRow]:
    cond, params = overlapping(since, until)
    if level is not None:
        cond += " AND level = ?"
        params.append(level)
    rows = store.sql(f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE 1{cond} ORDER BY start, id",
                     params)
    return [_episode(r) for r in rows]


def sources_of(
    store: Store, derived_kind: str, ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """For each derived record, the frames and messages it came from (through digests too)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for did in ids:
        frontier = [(derived_kind, did)]
        seen: set[tuple[str, int]] = set()
        while frontier:
            kind, rowid = frontier.pop()
            for skind, sid in store.sql(
                "SELECT source_kind, source_id FROM lineage WHERE derived_kind = ?"
                " AND derived_id = ? ORDER BY source_kind, source_id", [kind, rowid],
            ):
                if (skind, sid) in seen:
                    continue
                seen.add((skind, sid))
                if skind in ("episode", "fact"):
                    frontier.append((skind, int(sid)))
                else:
                    out[did].append({"id": f"{skind}:{sid}"})
    keys = [(s["id"].split(":")[0], int(s["id"].split(":")[1])) for v in out.values() for s in v]
    ext = _external_ids(store, keys)
    for values in out.values():
        values.sort(key=lambda s: (s["id"].split(":")[0], int(s["id"].split(":")[1])))
        for s in values:
            s.update(ext.get(s["id"], {}))
    return out


def _external_ids(store: Store, keys: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    messages = sorted({i for k, i in keys if k == "message"})
    frames = sorted({i for k, i in keys if k == "frame"})
    for chunk in _chunks(messages):
        marks = ",".join("?" * len(chunk))
        for rowid, ext, conv, t in store.sql(
            "SELECT m.id, m.external_id, c.external_id, m.time FROM messages m JOIN conversations c"
            f" ON c.id = m.conversation_id WHERE m.id IN ({marks})", chunk,
        ):
            out[f"message:{rowid}"] = {"external_id": ext, "conversation": conv, "time": t}
    for chunk in _chunks(frames):
        marks = ",".join("?" * len(chunk))
        for rowid, t, path in store.sql(
            f"SELECT id, time, image_path FROM frames WHERE id IN ({marks})", chunk,
        ):
            out[f"frame:{rowid}"] = {"time": t, "image": path}
    return out


def _chunks(ids: Sequence[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


# -- day digests -------------------------------------------------------------------------------


def stale_days(store: Store, today: date | None = None) -> list[date]:
    """Days whose episodes changed since their digest was built (or that have none yet)."""
    rows = store.sql(
        "SELECT date(start, 'unixepoch', 'localtime') d, max(created), count(*) FROM episodes"
        " WHERE level = 'episode' GROUP BY d"
    )
    digests = {key[4:]: (created, n) for key, created, n in store.sql(
        "SELECT e.key, e.created, (SELECT count(*) FROM lineage l WHERE l.derived_kind ="
        " 'episode' AND l.derived_id = e.id) FROM episodes e WHERE e.level = 'day'")}
    out = []
    for day, newest, count in rows:
        known = digests.get(day)
        if known is None or known[0] < newest or known[1] != count:
            out.append(date.fromisoformat(day))
    return sorted(out)


def day_digest_draft(episodes: Sequence[EpisodeRow], day: date, max_items: int = 10) -> str:
    """An extractive digest of a day: its longest activities, in time order."""
    longest = sorted(episodes, key=lambda e: -(e.end - e.start))[:max_items]
    parts = []
    for e in sorted(longest, key=lambda e: e.start):
        a, b = datetime.fromtimestamp(e.start), datetime.fromtimestamp(e.end)
        if e.summary_by == "extractive":
            topics = ", ".join(p for p in e.key_phrases.split(", ")[:4] if p)
            what = e.summary.split(":", 1)[0] + (f" ({topics})" if topics else "")
        else:
            what = e.summary
        parts.append(f"{a:%H:%M}-{b:%H:%M} {clip(what, 20)}")
    when = datetime.combine(day, datetime.min.time())
    return f"{when:%A} {day.day} {when:%B %Y}: " + "; ".join(parts)


def store_digest(store: Store, day: date, episodes: Sequence[EpisodeRow], summary: str,
                 summary_by: str) -> int:
    """Create or refresh the digest of ``day`` (re-embedded: ``vec`` is reset)."""
    key = f"day:{day.isoformat()}"
    apps = list(dict.fromkeys(a for e in episodes for a in e.apps))
    titles = [t for t, _ in Counter(t for e in episodes for t in e.titles[:1]).most_common(8)]
    phrases = [w for w, _ in Counter(
        w for e in episodes for w in e.key_phrases.split(", ") if w).most_common(12)]
    start = min(e.start for e in episodes)
    end = max(e.end for e in episodes)
    now = time.time()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO episodes (level, kind, key, start, end, apps, titles, key_phrases,"
            " summary, summary_by, importance, created) VALUES ('day', 'day', ?, ?, ?, ?, ?, ?, ?,"
            " ?, 0.6, ?) ON CONFLICT(key) DO UPDATE SET start = excluded.start,"
            " end = excluded.end, apps = excluded.apps, titles = excluded.titles,"
            " key_phrases = excluded.key_phrases, summary = excluded.summary,"
            " summary_by = excluded.summary_by, created = excluded.created, vec = NULL",
            (key, start, end, json.dumps(apps, ensure_ascii=False),
             json.dumps(titles, ensure_ascii=False), ", ".join(phrases), summary, summary_by, now),
        )
        (digest_id,) = conn.execute("SELECT id FROM episodes WHERE key = ?", (key,)).fetchone()
        conn.execute("DELETE FROM lineage WHERE derived_kind = 'episode' AND derived_id = ?",
                     (digest_id,))
        conn.executemany(
            "INSERT INTO lineage (derived_kind, derived_id, source_kind, source_id)"
            " VALUES ('episode', ?, 'episode', ?)", [(digest_id, e.id) for e in episodes],
        )
    return int(digest_id)
