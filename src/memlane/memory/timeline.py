"""Reads for browsing a day: frames in time order, grouped into activity runs, and one frame's text.

The timeline and the frame viewer (and ``memlane`` clients generally) ask these questions, never
SQL of their own: which days have memories, what was on screen between two times, how busy each
hour was, what one frame shows (its OCR words with their boxes) and which messages surround a
cited one. :func:`segment` groups consecutive frames into runs at app or window-title switches and
time gaps; it is a pure function so it can be tested on scripted sequences (consolidation builds
stored episodes; this is only the on-the-fly grouping a timeline needs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from difflib import SequenceMatcher
from typing import Any

from memlane.memory.records import WordBox
from memlane.memory.store import Store


@dataclass(frozen=True)
class FrameRow:
    id: int
    time: float
    app: str
    title: str
    thumb_path: str | None
    image_path: str | None
    monitor: int
    ocr: str  # pending | done | failed
    origin: str = "capture"  # capture | import (a screenshot file)
    url: str = ""  # the focused browser tab's address, when it was known

    @property
    def where(self) -> str:
        """The app for people: its name, else what the frame is (never a guess)."""
        return self.app or ("imported screenshot" if self.origin == "import" else "unknown app")


@dataclass
class Run:
    """Consecutive frames of one app and window, with no long gap between them."""

    app: str
    title: str
    frames: list[FrameRow] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.frames[0].time

    @property
    def end(self) -> float:
        return self.frames[-1].time


@dataclass(frozen=True)
class FrameDetail:
    row: FrameRow
    width: int
    height: int
    text: str
    words: tuple[WordBox, ...]


@dataclass(frozen=True)
class MessageRow:
    id: int
    time: float
    speaker: str
    role: str
    text: str
    meta: dict[str, Any] | None


def day_bounds(day: date) -> tuple[float, float]:
    """Local midnight to the next local midnight, as epoch seconds."""
    start = datetime.combine(day, time.min).astimezone()
    end = datetime.combine(day + timedelta(days=1), time.min).astimezone()
    return start.timestamp(), end.timestamp()


_FRAME_COLUMNS = "id, time, app, title, thumb_path, image_path, monitor, ocr, origin, url"


def _frame(row: Sequence[Any]) -> FrameRow:
    return FrameRow(int(row[0]), float(row[1]), row[2] or "", row[3] or "", row[4], row[5],
                    int(row[6]), row[7] or "done", row[8] or "capture", row[9] or "")


def frames_between(store: Store, since: float, until: float) -> list[FrameRow]:
    rows = store.sql(
        f"SELECT {_FRAME_COLUMNS} FROM frames WHERE time >= ? AND time < ? ORDER BY time, id",
        [since, until],
    )
    return [_frame(r) for r in rows]


def frame_row(store: Store, frame_id: int) -> FrameRow | None:
    rows = store.sql(f"SELECT {_FRAME_COLUMNS} FROM frames WHERE id = ?", [frame_id])
    return _frame(rows[0]) if rows else None


def days_with_frames(store: Store, since: float, until: float) -> dict[date, int]:
    """Frame counts per local day in a range."""
    return {day: n["frames"] for day, n in days_with_memories(store, since, until).items()
            if n["frames"]}


def days_with_memories(store: Store, since: float, until: float) -> dict[date, dict[str, int]]:
    """Frames and messages per local day in a range (for marking days in a calendar)."""
    out: dict[date, dict[str, int]] = {}
    for table, key in (("frames", "frames"), ("messages", "messages")):
        rows = store.sql(  # grouped in SQLite: a month at 5 s is up to half a million frames
            f"SELECT date(time, 'unixepoch', 'localtime'), count(*) FROM {table}"
            " WHERE time >= ? AND time < ? GROUP BY 1", [since, until])
        for day, n in rows:
            out.setdefault(date.fromisoformat(day), {"frames": 0, "messages": 0})[key] = int(n)
    return out


def nearest_day(store: Store, day: date, step: int) -> date | None:
    """The closest earlier (step -1) or later (step 1) day with frames or messages."""
    start, end = day_bounds(day)
    if step < 0:
        rows = store.sql("SELECT max(t) FROM (SELECT max(time) t FROM frames WHERE time < ?"
                         " UNION ALL SELECT max(time) FROM messages WHERE time < ?)",
                         [start, start])
    else:
        rows = store.sql("SELECT min(t) FROM (SELECT min(time) t FROM frames WHERE time >= ?"
                         " UNION ALL SELECT min(time) FROM messages WHERE time >= ?)", [end, end])
    t = rows[0][0] if rows else None
    return date.fromtimestamp(float(t)) if t is not None else None


def latest_day(store: Store) -> date | None:
    """The last day with a frame or a message."""
    times = [t for t in (store.last_time("frame"), store.last_time("message")) if t is not None]
    return date.fromtimestamp(max(times)) if times else None


@dataclass(frozen=True)
class DayChat:
    """A conversation's messages within a time range."""

    conversation: int
    source: str
    title: str
    messages: int
    first_message: int
    start: float
    end: float


def conversations_between(store: Store, since: float, until: float) -> list[DayChat]:
    """The conversations with messages in a range, in the order they began there."""
    rows = store.sql(
        "SELECT c.id, c.source, c.title, count(m.id), min(m.time), max(m.time),"
        " (SELECT m2.id FROM messages m2 WHERE m2.conversation_id = c.id AND m2.time >= ?"
        "  AND m2.time < ? ORDER BY m2.time, m2.id LIMIT 1)"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.time >= ? AND m.time < ? GROUP BY c.id ORDER BY min(m.time), c.id",
        [since, until, since, until])
    return [DayChat(int(r[0]), r[1] or "", r[2] or r[1] or "", int(r[3]), int(r[6]),
                    float(r[4]), float(r[5])) for r in rows]


def per_hour(frames: Sequence[FrameRow], day_start: float) -> list[int]:
    """How many frames fall in each hour of the day starting at ``day_start`` (24 values)."""
    counts = [0] * 24
    for f in frames:
        hour = int((f.time - day_start) // 3600)
        if 0 <= hour < 24:
            counts[hour] += 1
    return counts


ALIKE_TITLES = 0.6  # difflib ratio above which two read titles are the same window's


def segment(frames: Sequence[FrameRow], gap_s: float = 300.0) -> list[Run]:
    """Group frames (in time order) into runs at app or title switches and gaps over ``gap_s``.

    Imported screenshots of one app (or of none known) stay one run while their titles are alike:
    read from each image, a title differs from shot to shot by what OCR made of it."""
    runs: list[Run] = []
    for f in frames:
        last = runs[-1] if runs else None
        prev = last.frames[-1] if last is not None else None
        loose = (prev is not None and f.origin == "import" and prev.origin == "import"
                 and " " in f.title and " " in prev.title  # read titles, not file names
                 and SequenceMatcher(None, f.title, prev.title).ratio() >= ALIKE_TITLES)
        if (last is None or f.app != last.app or (f.title != last.title and not loose)
                or f.time - last.end > gap_s):
            runs.append(Run(f.app, f.title))
        runs[-1].frames.append(f)
    return runs


def frame_detail(store: Store, frame_id: int) -> FrameDetail | None:
    """A frame with its OCR text and every word's box (in image pixels)."""
    row = frame_row(store, frame_id)
    if row is None:
        return None
    size = store.sql("SELECT width, height FROM frames WHERE id = ?", [frame_id])[0]
    lines: list[str] = []
    words: list[WordBox] = []
    for text, raw in store.sql(
        "SELECT text, words FROM ocr_blocks WHERE frame_id = ? ORDER BY block, id", [frame_id]
    ):
        lines.append(text)
        try:
            parsed = json.loads(raw or "[]")
        except json.JSONDecodeError:
            parsed = []
        for w in parsed:
            if isinstance(w, list) and len(w) >= 5:
                conf = float(w[5]) if len(w) > 5 else 0.0
                words.append((str(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4]), conf))
    return FrameDetail(row, int(size[0] or 0), int(size[1] or 0), "\n".join(lines), tuple(words))


def conversation_of(store: Store, message_id: int) -> tuple[str, list[MessageRow]] | None:
    """The title and messages of the conversation a message belongs to."""
    found = store.sql(
        "SELECT c.id, c.title, c.source FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE m.id = ?", [message_id])
    if not found:
        return None
    conv_id, title, source = found[0]
    return (title or source), messages_of(store, int(conv_id))


def messages_of(store: Store, conversation_id: int) -> list[MessageRow]:
    rows = store.sql(
        "SELECT id, time, speaker, role, text, meta FROM messages WHERE conversation_id = ?"
        " ORDER BY time, id", [conversation_id])
    out = []
    for rowid, t, speaker, role, text, meta in rows:
        try:
            parsed = json.loads(meta) if meta else None
        except json.JSONDecodeError:
            parsed = None
        out.append(MessageRow(int(rowid), float(t), speaker or "", role or "", text,
                              parsed if isinstance(parsed, dict) else None))
    return out


def conversation_id(store: Store, source: str, external_id: str) -> int | None:
    rows = store.sql("SELECT id FROM conversations WHERE source = ? AND external_id = ?",
                     [source, external_id])
    return int(rows[0][0]) if rows else None


def recent_conversations(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Conversations with the newest activity first: id, source, title, messages, last time."""
    rows = store.sql(
        "SELECT c.id, c.source, c.title, count(m.id), max(m.time) FROM conversations c"
        " LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id"
        " ORDER BY max(m.time) DESC LIMIT ?", [limit])
    return [{"id": int(r[0]), "source": r[1], "title": r[2] or r[1], "messages": int(r[3]),
             "last": float(r[4]) if r[4] is not None else None} for r in rows]


def apps(store: Store) -> list[str]:
    """Every app seen on screen or chat source, most used first (for search filters)."""
    rows = store.sql(
        "SELECT app, count(*) n FROM frames WHERE app != '' GROUP BY app"
        " UNION ALL SELECT source, count(*) FROM conversations GROUP BY source ORDER BY n DESC")
    seen: list[str] = []
    for app, _ in rows:
        if app not in seen:
            seen.append(app)
    return seen


def current_facts(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """Semantic memory as it stands: current facts, most important and recent first."""
    rows = store.sql(
        "SELECT id, text, category, first_seen, last_confirmed, confidence FROM facts"
        " WHERE status = 'current' ORDER BY importance DESC, last_confirmed DESC LIMIT ?",
        [limit])
    return [{"id": int(r[0]), "text": r[1], "category": r[2], "first_seen": float(r[3]),
             "last_confirmed": float(r[4]), "confidence": float(r[5])} for r in rows]
