"""The SQLite store, Memlane's source of truth, and the one writer of its records.

:class:`Store` writes imported conversations and captured frames (with their OCR) in one
transaction each and counts what is held; it is built from the database connection, the vector
bookkeeping, hit reads and the state table, each in a module of its own. Everything else (Chroma,
the UI, exports) is derived from what is here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memlane.memory.hits import HitReads
from memlane.memory.records import (
    KIND_TABLES,
    ConversationIn,
    FrameIn,
    OcrBlockIn,
    vector_ids,
)
from memlane.memory.state import StateTable
from memlane.memory.vector_marks import VectorMarks


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


class Store(VectorMarks, HitReads, StateTable):
    """The database with its writes: conversations, frames with their OCR, and counts.

    Vector bookkeeping (:mod:`~memlane.memory.vector_marks`), hit loading and strengths
    (:mod:`~memlane.memory.hits`) and the state table (:mod:`~memlane.memory.state`) are its
    parts; opening and transactions are :class:`~memlane.memory.database.Database`'s.
    """

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
                " width, height, bytes, change_hash, content_sha256, origin, ocr, url)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    frame.time, frame.monitor, frame.app, frame.title, frame.image_path,
                    frame.thumb_path, frame.width, frame.height, frame.bytes, frame.change_hash,
                    frame.content_sha256, frame.origin,
                    "pending" if ocr_job is not None else "done", frame.url,
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

    # -- reads -------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        tables = ["frames", "ocr_blocks", "conversations", "messages", "episodes", "facts"]
        return {
            t: int(self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables
        }

    def last_time(self, kind: str) -> float | None:
        table = KIND_TABLES[kind]
        row = self.db.execute(f"SELECT max(time) FROM {table}").fetchone()
        return float(row[0]) if row and row[0] is not None else None

