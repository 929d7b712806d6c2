"""The SQLite store, Memlane's source of truth, and the one writer to it.

:class:`Store` opens (and migrates) the database in WAL mode, writes imported conversations and
captured frames in one transaction each, keeps the per-row ``vec`` bookkeeping the vector index
repairs drift from, and answers the keyword half of hybrid search through FTS5. Everything else
(Chroma, the UI, exports) is derived from what is here.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from memlane.core.errors import StorageError
from memlane.memory import sql
from memlane.memory.crypto import Keys
from memlane.memory.migrations import apply_migrations
from memlane.memory.records import (
    KIND_TABLES,
    ConversationIn,
    FrameIn,
    Hit,
    OcrBlockIn,
    record_id,
    vector_ids,
)

# Days a memory of middling importance, never cited, takes to fade to 1/e of its strength.
STABILITY_DAYS = 30.0


@dataclass(frozen=True)
class ImportResult:
    conversation_id: int
    added: int
    skipped: int
    # Vector ids of earlier messages that a new one now comes right before (an older export
    # merged into a chat): a reply's vectors embed the question said before it, so they are
    # marked for embedding again and the caller deletes these first.
    stale_vectors: tuple[str, ...] = ()


# The message said just before / after message ``m`` in its conversation (time order, then id).
# The row value makes it an index range on messages(conversation_id, time), not a scan.
PREVIOUS_MESSAGE = (
    "SELECT b.id FROM messages b WHERE b.conversation_id = m.conversation_id"
    " AND (b.time, b.id) < (m.time, m.id) ORDER BY b.time DESC, b.id DESC LIMIT 1"
)
NEXT_MESSAGE = (
    "SELECT a.id FROM messages a WHERE a.conversation_id = m.conversation_id"
    " AND (a.time, a.id) > (m.time, m.id) ORDER BY a.time, a.id LIMIT 1"
)


def record_filter(
    kind: str, since: float | None, until: float | None, app: str | None
) -> tuple[str, list[str], list[Any]]:
    """``FROM`` clause (records aliased ``r``), ``WHERE`` conditions and parameters for a filter.

    The one definition of what "in this time range / from this app" means per kind, shared by the
    keyword search, the vector search's post-filter and its candidate lists. Messages and frames
    happen at ``time``; an episode overlaps the range; a fact counts when it was last confirmed.
    """
    where: list[str] = []
    params: list[Any] = []
    start, end = {
        "message": ("r.time", "r.time"), "frame": ("r.time", "r.time"),
        "episode": ("r.start", "r.end"), "fact": ("r.last_confirmed", "r.last_confirmed"),
    }[kind]
    if since is not None:
        where.append(f"{end} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{start} < ?")
        params.append(until)
    source = f"{KIND_TABLES[kind]} r"
    if kind == "message" and app:
        source += " JOIN conversations c ON c.id = r.conversation_id"
        where.append("c.source = ?")
        params.append(app)
    elif kind == "frame" and app:
        where.append("r.app = ?")
        params.append(app)
    elif kind == "episode" and app:
        where.append("r.apps LIKE ?")
        params.append(f'%"{app}"%')
    elif kind == "fact":
        where.append("r.status = 'current'")
        if app:
            where.append("0")
    return source, where, params


class Store:
    """One SQLite database file (plus its WAL) holding every record Memlane keeps."""

    def __init__(self, path: Path, keys: Keys | None = None) -> None:
        self.path = path
        self.keys = keys
        try:
            conn = sql.connect(path, key_pragma=keys.sqlcipher_pragma if keys else None)
            self.db = sqlite_utils.Database(conn)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                "busy_timeout=30000",
                "secure_delete=ON",
            ):
                self.db.execute(f"PRAGMA {pragma}")
            apply_migrations(self.db)
        except sql.DatabaseError as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from exc
        with suppress(OSError):
            os.chmod(path, 0o600)

    def close(self) -> None:
        self.db.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.db.conn
        try:
            with conn:
                yield conn
        except sql.OperationalError as exc:
            if "full" in str(exc) or "disk" in str(exc):
                raise StorageError(f"could not write to {self.path}: {exc}") from exc
            raise

    # -- writes ------------------------------------------------------------------------------

    def import_conversations(self, convs: Sequence[ConversationIn]) -> list[ImportResult]:
        """Store conversations and their messages in one transaction; known messages are skipped."""
        with self.transaction() as conn:
            return [self._insert_conversation(conn, conv) for conv in convs]

    @staticmethod
    def _insert_conversation(conn: sqlite3.Connection, conv: ConversationIn) -> ImportResult:
        conn.execute(
            "INSERT OR IGNORE INTO conversations (source, external_id, title, created)"
            " VALUES (?, ?, ?, ?)",
            (conv.source, conv.external_id, conv.title, conv.created),
        )
        (conv_id,) = conn.execute(
            "SELECT id FROM conversations WHERE source = ? AND external_id = ?",
            (conv.source, conv.external_id),
        ).fetchone()
        count = "SELECT count(*) FROM messages WHERE conversation_id = ?"
        before = int(conn.execute(count, (conv_id,)).fetchone()[0])
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
        conn.executemany(
            "INSERT OR IGNORE INTO messages"
            " (conversation_id, external_id, speaker, role, time, text, meta)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(conv_id, m.external_id, m.speaker, m.role, m.time, m.text,
              json.dumps(m.meta) if m.meta else None) for m in conv.messages],
        )
        added = int(conn.execute(count, (conv_id,)).fetchone()[0]) - before
        stale: list[str] = []
        if added and before:  # new messages among old ones: their followers' questions changed
            followers = conn.execute(
                f"SELECT id, vec FROM messages WHERE id <= ? AND vec IS NOT NULL AND id IN"
                f" (SELECT ({NEXT_MESSAGE}) FROM messages m"
                f"  WHERE m.conversation_id = ? AND m.id > ?)", (top, conv_id, top),
            ).fetchall()
            stale = [v for rowid, n in followers for v in vector_ids("message", rowid, n)]
            conn.executemany("UPDATE messages SET vec = NULL WHERE id = ?",
                             [(rowid,) for rowid, _ in followers])
        return ImportResult(int(conv_id), added, len(conv.messages) - added, tuple(stale))

    def add_frame(
        self, frame: FrameIn, *, ocr_job: dict[str, Any] | None = None
    ) -> int | None:
        """Store a frame with its OCR blocks atomically; ``None`` if these pixels are known.

        With ``ocr_job``, the frame is stored as waiting for OCR and an ``ocr`` job (that
        payload plus ``frame_id``) is queued in the same transaction, so a crash can never leave
        a frame without its job.
        """
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO frames (time, monitor, app, title, image_path, thumb_path,"
                " width, height, bytes, change_hash, content_sha256, origin, ocr)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    frame.time, frame.monitor, frame.app, frame.title, frame.image_path,
                    frame.thumb_path, frame.width, frame.height, frame.bytes, frame.change_hash,
                    frame.content_sha256, frame.origin,
                    "pending" if ocr_job is not None else "done",
                ),
            )
            if cur.rowcount == 0:
                return None
            frame_id = int(cur.lastrowid or 0)
            if ocr_job is not None:
                now = time.time()
                conn.execute(
                    "INSERT INTO jobs (kind, payload, dedupe_key, created, updated)"
                    " VALUES ('ocr', ?, ?, ?, ?)",
                    (json.dumps({**ocr_job, "frame_id": frame_id}), f"frame:{frame_id}", now, now),
                )
            conn.executemany(
                "INSERT INTO ocr_blocks (frame_id, block, text, words, confidence)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (frame_id, b.block, b.text, json.dumps(b.words, ensure_ascii=False),
                     b.confidence)
                    for b in frame.blocks
                ],
            )
        return frame_id

    def frame_for_ocr(self, frame_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT id, image_path, thumb_path, width, height, ocr, time FROM frames WHERE id = ?",
            [frame_id],
        ).fetchone()
        if row is None:
            return None
        keys = ("id", "image_path", "thumb_path", "width", "height", "ocr", "time")
        return dict(zip(keys, row, strict=True))

    def ocr_blocks(self, frame_id: int) -> list[OcrBlockIn]:
        return [
            OcrBlockIn(int(block), text, tuple(tuple(w) for w in json.loads(words)), conf or 0.0)
            for block, text, words, conf in self.db.execute(
                "SELECT block, text, words, confidence FROM ocr_blocks WHERE frame_id = ?"
                " ORDER BY block",
                [frame_id],
            ).fetchall()
        ]

    def complete_ocr(
        self, frame_id: int, blocks: Sequence[OcrBlockIn], *, job_id: int | None,
        state: str = "done", image_bytes: int | None = None,
    ) -> None:
        """Replace a frame's OCR text and close its job, in one transaction (exactly once)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM ocr_blocks WHERE frame_id = ?", (frame_id,))
            conn.executemany(
                "INSERT INTO ocr_blocks (frame_id, block, text, words, confidence)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (frame_id, b.block, b.text, json.dumps(b.words, ensure_ascii=False),
                     b.confidence)
                    for b in blocks
                ],
            )
            conn.execute(
                "UPDATE frames SET ocr = ?, vec = NULL, bytes = coalesce(?, bytes) WHERE id = ?",
                (state, image_bytes, frame_id),
            )
            if job_id is not None:
                conn.execute(
                    "UPDATE jobs SET state = 'done', updated = ?, error = NULL WHERE id = ?",
                    (time.time(), job_id),
                )

    def frame_counts_since(self, since: float) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT ocr, count(*) FROM frames WHERE time >= ? GROUP BY ocr", [since]
        ).fetchall()
        return {str(k): int(v) for k, v in rows}

    def frame_known(self, content_sha256: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM frames WHERE content_sha256 = ?", [content_sha256]
        ).fetchone()
        return row is not None

    # -- vector bookkeeping ------------------------------------------------------------------

    def unembedded(self, kind: str, limit: int = 256) -> list[int]:
        """Records without vectors yet (frames only once their OCR is finished)."""
        table = KIND_TABLES[kind]
        wait = " AND ocr != 'pending'" if kind == "frame" else ""
        rows = self.db.execute(
            f"SELECT id FROM {table} WHERE vec IS NULL{wait} ORDER BY id LIMIT ?", [limit]
        ).fetchall()
        return [int(r[0]) for r in rows]

    def count_unembedded(self) -> int:
        return sum(
            int(self.db.execute(f"SELECT count(*) FROM {t} WHERE vec IS NULL").fetchone()[0])
            for t in KIND_TABLES.values()
        )

    def mark_embedded(self, kind: str, counts: Iterable[tuple[int, int]]) -> None:
        table = KIND_TABLES[kind]
        with self.transaction() as conn:
            conn.executemany(
                f"UPDATE {table} SET vec = ? WHERE id = ?", [(n, rowid) for rowid, n in counts]
            )

    def clear_embedded(self) -> None:
        with self.transaction() as conn:
            for table in KIND_TABLES.values():
                conn.execute(f"UPDATE {table} SET vec = NULL WHERE vec IS NOT NULL")

    def expected_vector_total(self) -> int:
        return sum(
            int(self.db.execute(f"SELECT coalesce(sum(vec), 0) FROM {t}").fetchone()[0])
            for t in KIND_TABLES.values()
        )

    def expected_vector_ids(self) -> Iterator[str]:
        for kind, table in KIND_TABLES.items():
            for rowid, n in self.db.execute(
                f"SELECT id, vec FROM {table} WHERE vec > 0"
            ).fetchall():
                yield from vector_ids(kind, rowid, int(n))

    def keep_matching(
        self, kind: str, rowids: Sequence[int], since: float | None, until: float | None,
        app: str | None,
    ) -> set[int]:
        """Those of ``rowids`` that pass the filter."""
        if not rowids:
            return set()
        source, where, params = record_filter(kind, since, until, app)
        marks = ",".join("?" * len(rowids))
        sql = f"SELECT r.id FROM {source} WHERE r.id IN ({marks})" + "".join(
            f" AND {w}" for w in where
        )
        return {int(r[0]) for r in self.db.execute(sql, [*rowids, *params]).fetchall()}

    def vector_ids_matching(
        self, kinds: Sequence[str], since: float | None, until: float | None, app: str | None,
        cap: int,
    ) -> list[str] | None:
        """Chunk ids of embedded records passing the filter, or None when there are over ``cap``."""
        out: list[str] = []
        for kind in kinds:
            source, where, params = record_filter(kind, since, until, app)
            sql = f"SELECT r.id, r.vec FROM {source} WHERE r.vec > 0" + "".join(
                f" AND {w}" for w in where
            ) + " LIMIT ?"
            rows = self.db.execute(sql, [*params, cap + 1]).fetchall()
            out += [f"{kind}:{rowid}:0" for rowid, n in rows if n == 1]  # the common case
            out += [v for rowid, n in rows if n > 1 for v in vector_ids(kind, rowid, int(n))]
            if len(out) > cap:
                return None
        return out

    def approx_record_total(self) -> int:
        """Upper bound on the number of records (largest rowids; no scan, unlike count)."""
        return sum(
            int(self.db.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0])
            for t in KIND_TABLES.values()
        )

    def id_span(
        self, kind: str, since: float | None, until: float | None, *, of_blocks: bool = False
    ) -> tuple[int, int] | None:
        """Smallest and largest FTS rowid of records of ``kind`` in the time range.

        Records mostly arrive in time order, so this span is usually narrow and lets FTS5 skip
        most of its posting lists; the exact time filter is still applied on top. ``(1, 0)``
        (an empty span) when nothing is in the range. With ``of_blocks``, the span of the frames'
        OCR block ids instead of the frame ids.
        """
        source, where, params = record_filter(kind, since, until, None)
        cond = "".join(f" AND {w}" for w in where)
        if kind == "frame" and of_blocks:
            sql = (f"SELECT min(b.id), max(b.id) FROM {source}"
                   f" JOIN ocr_blocks b ON b.frame_id = r.id WHERE 1{cond}")
        elif kind in ("message", "frame"):
            sql = f"SELECT min(r.id), max(r.id) FROM {source} WHERE 1{cond}"
        else:
            return None
        lo, hi = self.db.execute(sql, params).fetchone()
        return (1, 0) if lo is None else (int(lo), int(hi))

    def mark_missing(self, keys: Iterable[tuple[str, int]]) -> None:
        """Flag records as needing their vectors written again."""
        by_kind: dict[str, list[int]] = {}
        for kind, rowid in keys:
            by_kind.setdefault(kind, []).append(rowid)
        with self.transaction() as conn:
            for kind, ids in by_kind.items():
                conn.executemany(
                    f"UPDATE {KIND_TABLES[kind]} SET vec = NULL WHERE id = ?", [(i,) for i in ids]
                )

    # -- reads -------------------------------------------------------------------------------

    def hits(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Hit]:
        """Display records (without scores) for ``(kind, rowid)`` keys, with source references."""
        out: dict[tuple[str, int], Hit] = {}
        by_kind: dict[str, list[int]] = {}
        for kind, rowid in keys:
            by_kind.setdefault(kind, []).append(rowid)
        for kind, ids in by_kind.items():
            marks = ",".join("?" * len(ids))
            if kind == "message":
                rows = self.db.execute(
                    "SELECT m.id, m.time, c.source, c.title, m.speaker, m.text, c.external_id,"
                    " m.external_id, m.role FROM messages m JOIN conversations c"
                    f" ON c.id = m.conversation_id WHERE m.id IN ({marks})",
                    ids,
                ).fetchall()
                for rowid, t, source, title, speaker, text, conv_ext, ext, role in rows:
                    snippet = f"{speaker}: {text}" if speaker else text
                    out[(kind, rowid)] = Hit(
                        record_id(kind, rowid), kind, t, source, title, snippet, 0.0,
                        {"type": "message", "conversation": conv_ext, "external_id": ext},
                        role=role or "", speaker=speaker or "",
                    )
            elif kind == "frame":
                rows = self.db.execute(
                    "SELECT f.id, f.time, f.app, f.title, f.image_path,"
                    " (SELECT group_concat(text, ' ') FROM ocr_blocks WHERE frame_id = f.id)"
                    f" FROM frames f WHERE f.id IN ({marks})",
                    ids,
                ).fetchall()
                for rowid, t, app, title, path, text in rows:
                    out[(kind, rowid)] = Hit(
                        record_id(kind, rowid), kind, t, app, title, text or "", 0.0,
                        {"type": "frame", "frame_id": rowid,
                         "path": str(self.path.parent / path) if path else None},
                    )
            elif kind == "episode":
                rows = self.db.execute(
                    "SELECT id, start, apps, titles, summary FROM episodes"
                    f" WHERE id IN ({marks})",
                    ids,
                ).fetchall()
                for rowid, t, apps, titles, summary in rows:
                    out[(kind, rowid)] = Hit(
                        record_id(kind, rowid), kind, t, (json.loads(apps) or [""])[0],
                        (json.loads(titles) or [""])[0], summary, 0.0,
                        {"type": "episode", "episode_id": rowid},
                    )
            elif kind == "fact":
                rows = self.db.execute(
                    f"SELECT id, last_confirmed, text FROM facts WHERE id IN ({marks})", ids
                ).fetchall()
                for rowid, t, text in rows:
                    out[(kind, rowid)] = Hit(
                        record_id(kind, rowid), kind, t, "", "", text, 0.0,
                        {"type": "fact", "fact_id": rowid},
                    )
        return out

    def strengths(
        self, keys: Sequence[tuple[str, int]], now: float
    ) -> dict[tuple[str, int], float]:
        """Strength in [0, 1] of episodes and facts: a forgetting curve (MemoryBank's, roughly).

        Retention ``exp(-age / S)`` where the age runs from the last time the memory was cited
        (or formed) and the stability ``S`` grows with importance and with each citation.
        """
        out: dict[tuple[str, int], float] = {}
        tables = (("episode", "episodes", "end"), ("fact", "facts", "last_confirmed"))
        for kind, table, at in tables:
            ids = [rowid for k, rowid in keys if k == kind]
            if not ids:
                continue
            marks = ",".join("?" * len(ids))
            for rowid, importance, retrievals, last in self.db.execute(
                f"SELECT id, importance, retrievals, max({at}, coalesce(last_retrieved, 0))"
                f" FROM {table} WHERE id IN ({marks})", ids,
            ).fetchall():
                stability = STABILITY_DAYS * (1 + int(retrievals)) * (0.5 + float(importance))
                age = max(0.0, (now - float(last)) / 86400)
                out[(kind, int(rowid))] = 0.5 + 0.5 * math.exp(-age / stability)
        return out

    def note_retrieved(self, keys: Sequence[tuple[str, int]], now: float) -> None:
        """Episodes and facts an answer cited grow stronger (they are forgotten more slowly)."""
        with self.transaction() as conn:
            for kind, table in (("episode", "episodes"), ("fact", "facts")):
                conn.executemany(
                    f"UPDATE {table} SET retrievals = retrievals + 1, last_retrieved = ?"
                    " WHERE id = ?", [(now, rowid) for k, rowid in keys if k == kind])

    def counts(self) -> dict[str, int]:
        tables = ["frames", "ocr_blocks", "conversations", "messages", "episodes", "facts"]
        return {
            t: int(self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables
        }

    def last_time(self, kind: str) -> float | None:
        table = KIND_TABLES[kind]
        row = self.db.execute(f"SELECT max(time) FROM {table}").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else default

    def set_state(self, key: str, value: str) -> None:
        self.set_states({key: value})

    def set_states(self, values: dict[str, str], *, delete: Sequence[str] = ()) -> None:
        with self.transaction() as conn:
            self._put_state(conn, values)
            conn.executemany("DELETE FROM state WHERE key = ?", [(k,) for k in delete])

    @staticmethod
    def _put_state(conn: sqlite3.Connection, values: dict[str, str]) -> None:
        conn.executemany(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM _migrations ORDER BY rowid")]

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.execute(query, list(params)).fetchall()]


