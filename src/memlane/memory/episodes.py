"""Episodic memory: screen activity and chat sessions cut into episodes, and day digests over them.

Consolidation reads what is not yet part of an episode - frames whose OCR is finished and
messages, found through ``lineage`` - and :func:`segment_frames` / :func:`chat_sessions` cut them
into :class:`Draft` episodes: a screen episode ends at an app or window-title switch, a gap in
time or a jump in the text on screen (a short switch away and back is folded into the episode
around it); a chat episode is a run of messages of one conversation without a long pause. A
draft that may still grow (its last record is recent) is left for the next run. Each stored
episode has an identity key, its apps, titles, key phrases and a summary; the extractive summary
here is always available, and the caller may replace it with the local model's. An episode and
its lineage rows are written in one transaction, so a killed consolidation leaves either the
episode with all its links or nothing, and a re-run neither duplicates nor skips. Day digests
(``level = 'day'``) summarise a day's episodes and are rebuilt when those change.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from memlane.core.text import SUMMARY_STOP_WORDS, phrase_words, summary_content
from memlane.memory.store import Store

SCREEN_GAP_S = 300.0      # a pause this long ends a screen episode
CHAT_GAP_S = 1800.0       # and a chat session
BLIP_S = 30.0             # a switch away shorter than this, and back, stays one episode
MIN_SIMILARITY = 0.12     # word-set overlap below this between frames of one window = new topic
MIN_WORDS_FOR_JUMP = 12   # only frames with this much text can show a jump
SUMMARY_WORDS = 45
KEY_PHRASES = 8
ASSISTANT_SOURCE = "assistant"  # Memlane's own chat: answers must never become memories



def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Item:
    """A frame or a message as consolidation reads it."""

    kind: str    # frame | message
    id: int
    time: float
    app: str     # the frame's app, or the chat's source
    title: str   # the window title, or the conversation's title
    text: str    # OCR text, or the message text
    speaker: str = ""
    group: int = 0  # the conversation id of a message
    external_id: str = ""


@dataclass
class Draft:
    """An episode before it is stored."""

    kind: str  # screen | chat
    items: list[Item] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.items[0].time

    @property
    def end(self) -> float:
        return self.items[-1].time

    @property
    def key(self) -> str:
        first = self.items[0]
        return f"{self.kind}:{first.kind}:{first.id}"

    @property
    def apps(self) -> list[str]:
        return list(dict.fromkeys(i.app for i in self.items if i.app))

    @property
    def titles(self) -> list[str]:
        counts = Counter(i.title for i in self.items if i.title)
        return [t for t, _ in counts.most_common(5)]

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(i.speaker for i in self.items if i.speaker))

    def lines(self) -> list[str]:
        """The distinct text lines, in order (a screen repeats most lines frame after frame)."""
        seen: set[str] = set()
        out = []
        for item in self.items:
            for line in item.text.splitlines():
                line = " ".join(line.split())
                if self.kind == "chat" and item.speaker:
                    line = f"{item.speaker}: {line}"
                if len(line) > 2 and line.lower() not in seen:
                    seen.add(line.lower())
                    out.append(line)
        return out

    def importance(self) -> float:
        if self.kind == "chat":
            return min(1.0, 0.4 + 0.03 * len(self.items))
        return min(1.0, 0.3 + (self.end - self.start) / 3600)


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


# -- segmentation ------------------------------------------------------------------------------


def segment_frames(frames: Sequence[Item], gap_s: float = SCREEN_GAP_S) -> list[Draft]:
    """Cut frames (in time order) into screen episodes; see the module docstring."""
    drafts: list[Draft] = []
    words: list[set[str]] = []
    for frame in frames:
        mine = summary_content(frame.text)
        last = drafts[-1] if drafts else None
        new = (
            last is None
            or frame.app != last.items[-1].app
            or frame.title != last.items[-1].title
            or frame.time - last.end > gap_s
            or _local_day(frame.time) != _local_day(last.end)
            or (len(mine) >= MIN_WORDS_FOR_JUMP and len(words[-1]) >= MIN_WORDS_FOR_JUMP
                and jaccard(mine, words[-1]) < MIN_SIMILARITY)
        )
        if new:
            drafts.append(Draft("screen"))
        drafts[-1].items.append(frame)
        words.append(mine)
    return _fold_blips(drafts, gap_s)


def _fold_blips(drafts: list[Draft], gap_s: float) -> list[Draft]:
    """A B A, with B short and the same window on both sides: one episode (alt-tab and back)."""
    out: list[Draft] = []
    i = 0
    while i < len(drafts):
        cur = drafts[i]
        if (out and i + 1 < len(drafts)
                and cur.end - cur.start <= BLIP_S
                and _same_window(out[-1], drafts[i + 1])
                and drafts[i + 1].start - out[-1].end <= gap_s
                and _local_day(drafts[i + 1].start) == _local_day(out[-1].end)):
            out[-1].items += cur.items + drafts[i + 1].items
            i += 2
            continue
        out.append(cur)
        i += 1
    return out


def _same_window(a: Draft, b: Draft) -> bool:
    return (a.items[-1].app, a.items[-1].title) == (b.items[0].app, b.items[0].title)


def chat_sessions(messages: Sequence[Item], gap_s: float = CHAT_GAP_S) -> list[Draft]:
    """Cut messages (by conversation, then time) into chat episodes at pauses over ``gap_s``."""
    drafts: list[Draft] = []
    for msg in messages:
        last = drafts[-1] if drafts else None
        if last is None or msg.group != last.items[-1].group or msg.time - last.end > gap_s:
            drafts.append(Draft("chat"))
        drafts[-1].items.append(msg)
    return drafts


def closed(drafts: Sequence[Draft], now: float) -> list[Draft]:
    """Drafts that can no longer grow: a later one of the same stream follows them, or their last
    record is older than the pause that ends them."""
    gaps = {"screen": SCREEN_GAP_S, "chat": CHAT_GAP_S}
    out = []
    for i, draft in enumerate(drafts):
        nxt = drafts[i + 1] if i + 1 < len(drafts) else None
        followed = nxt is not None and (
            draft.kind == "screen" or nxt.items[0].group == draft.items[0].group)
        if followed or now - draft.end > gaps[draft.kind]:
            out.append(draft)
    return out


def _local_day(ts: float) -> date:
    return date.fromtimestamp(ts)


# -- extractive summaries ----------------------------------------------------------------------


def key_phrases(draft: Draft, limit: int = KEY_PHRASES) -> list[str]:
    """The words that carry an episode: frequent across its distinct lines, not UI chrome."""
    counts: Counter[str] = Counter()
    titles = summary_content(" ".join(draft.titles + draft.apps))
    speakers = {s.lower() for s in draft.speakers}
    for line in draft.lines():
        for w in set(phrase_words(line)):
            if w in SUMMARY_STOP_WORDS or len(w) < 3 or w in speakers:
                continue
            counts[w] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-(kv[1] + (0.5 if kv[0] in titles else 0)),
                                                     kv[0]))
    return [w for w, _ in ranked[:limit]]


def extractive_summary(draft: Draft, phrases: Sequence[str] | None = None) -> str:
    """A readable summary from the episode's own text: where, then its most telling lines."""
    phrases = list(phrases if phrases is not None else key_phrases(draft))
    weight = {w: len(phrases) - i for i, w in enumerate(phrases)}
    lines = draft.lines()
    scored = sorted(
        range(len(lines)),
        key=lambda i: -sum(weight.get(w, 0) for w in set(phrase_words(lines[i]))) / (
            1 + len(phrase_words(lines[i])) ** 0.5),
    )
    chosen: list[int] = []
    used = 0
    for i in scored:
        n = len(lines[i].split())
        if used and used + n > SUMMARY_WORDS:
            continue
        chosen.append(i)
        used += n
        if used >= SUMMARY_WORDS:
            break
    body = "; ".join(_clip(lines[i], SUMMARY_WORDS) for i in sorted(chosen))
    if draft.kind == "chat":
        who = ", ".join(draft.speakers[:4]) or "someone"
        head = f"Chat between {who}" + (f" ({draft.apps[0]})" if draft.apps else "")
    else:
        head = ", ".join(x for x in (", ".join(draft.apps[:2]), (draft.titles or [""])[0]) if x)
        head = head or "Screen"
    return f"{head}: {body}" if body else head


def _clip(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def source_text(draft: Draft, max_words: int = 400) -> str:
    """The episode's text as the model reads it: distinct lines, cut to ``max_words``."""
    out: list[str] = []
    used = 0
    for line in draft.lines():
        n = len(line.split())
        if used + n > max_words:
            out.append(_clip(line, max(0, max_words - used)))
            break
        out.append(line)
        used += n
    return "\n".join(x for x in out if x)


# -- writing -----------------------------------------------------------------------------------


def store_episode(store: Store, draft: Draft, summary: str, summary_by: str,
                  phrases: Sequence[str]) -> int | None:
    """Write an episode and its lineage in one transaction; None if its key is already stored."""
    now = time.time()
    with store.transaction() as conn:
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
        parts.append(f"{a:%H:%M}-{b:%H:%M} {_clip(what, 20)}")
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
