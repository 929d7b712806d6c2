"""The persistent job queue: background work (OCR, embedding, consolidation) that survives restarts.

Jobs are rows in the ``jobs`` table. :meth:`JobQueue.claim` moves the oldest ready job to
``running`` in one transaction; :meth:`finish` and :meth:`fail` close it (failures are retried
with back-off up to ``max_attempts``). A process killed while holding a job leaves it ``running``;
:meth:`recover` (called at start-up) puts such jobs back in the queue, so no work is lost. A
``dedupe_key`` keeps the same work from being queued twice while it is pending.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from memlane.memory import sql
from memlane.memory.store import Store


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


class JobQueue:
    def __init__(self, store: Store, *, max_attempts: int = 5, backoff_s: float = 30.0) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    def enqueue(
        self, kind: str, payload: dict[str, Any], dedupe_key: str | None = None
    ) -> int | None:
        """Queue a job; ``None`` if one with the same ``dedupe_key`` is already pending."""
        now = time.time()
        try:
            with self.store.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO jobs (kind, payload, dedupe_key, created, updated)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (kind, json.dumps(payload), dedupe_key, now, now),
                )
                return int(cur.lastrowid or 0)
        except sql.IntegrityError:
            return None

    def claim(self, kind: str | None = None) -> Job | None:
        now = time.time()
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id, kind, payload, attempts FROM jobs WHERE state = 'queued'"
                " AND not_before <= ?" + (" AND kind = ?" if kind else "")
                + " ORDER BY id LIMIT 1",
                (now, kind) if kind else (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ?"
                " WHERE id = ?",
                (now, row[0]),
            )
        return Job(int(row[0]), str(row[1]), json.loads(row[2]), int(row[3]) + 1)

    def finish(self, job: Job) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET state = 'done', updated = ?, error = NULL WHERE id = ?",
                (time.time(), job.id),
            )

    def fail(self, job: Job, error: str) -> None:
        """Record a failure; retry later with back-off, or give up after ``max_attempts``."""
        now = time.time()
        final = job.attempts >= self.max_attempts
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET state = ?, updated = ?, error = ?, not_before = ? WHERE id = ?",
                ("failed" if final else "queued", now, error[:500],
                 now + self.backoff_s * 2 ** (job.attempts - 1), job.id),
            )

    def recover(self) -> int:
        """Return jobs left ``running`` by a killed process to the queue; one that has taken its
        process down ``max_attempts`` times (a crash in a library) is failed instead."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET state = 'failed', updated = ?, error = ? WHERE state = 'running'"
                " AND attempts >= ?",
                (time.time(), f"the process stopped while doing it, {self.max_attempts} times",
                 self.max_attempts),
            )
            cur = conn.execute(
                "UPDATE jobs SET state = 'queued', updated = ? WHERE state = 'running'",
                (time.time(),),
            )
            return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.store.sql(
            "SELECT state, count(*) FROM jobs GROUP BY state"
        )}

    def purge_done(self, older_than_s: float = 86400.0) -> int:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM jobs WHERE state = 'done' AND updated < ?",
                (time.time() - older_than_s,),
            )
            return int(cur.rowcount)
