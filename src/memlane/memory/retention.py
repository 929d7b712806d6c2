"""Retention: old full-size frames are thinned (or forgotten) by age and by a size budget.

:func:`apply_retention` deletes the full-size images of frames older than ``frames_days`` and, past
``max_image_bytes``, of the oldest frames until the rest fit; those frames keep their thumbnail,
their OCR text and their place on the timeline (``image_path`` becomes NULL). With
``keep_text = False`` frames past the age limit are instead forgotten entirely, through the same
:mod:`memlane.memory.forget` path as ``memlane forget`` (derived episodes go too and are
re-derived). Text is never removed without that setting. Every run that removes something writes
a ``deletion_log`` row: the rule, the cut-off and counts, never content. Frames still waiting for
OCR are never touched (their image is still to be read).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memlane.memory.forget import Scope, execute, plan
from memlane.memory.frames import frame_rel_ok, spool_rel
from memlane.memory.store import Store
from memlane.memory.vectors import VectorIndex


@dataclass
class RetentionReport:
    images_removed: int = 0
    bytes_freed: int = 0
    frames_forgotten: int = 0

    def removed_anything(self) -> bool:
        return bool(self.images_removed or self.frames_forgotten)


def apply_retention(
    store: Store, index: VectorIndex | None, home: Path, *, frames_days: float,
    keep_text: bool, max_image_bytes: int, now: float | None = None,
    folders: Sequence[Path] = (),
) -> RetentionReport:
    now = time.time() if now is None else now
    report = RetentionReport()
    if frames_days > 0:
        cutoff = now - frames_days * 86400
        if keep_text:
            rows = store.sql(
                "SELECT id, image_path, bytes FROM frames WHERE time < ? AND image_path IS NOT NULL"
                " AND ocr != 'pending' ORDER BY time", [cutoff])
            _thin(store, home, rows, report, {"retention": "age", "days": frames_days,
                                              "until": cutoff})
        else:
            ids = [int(r[0]) for r in store.sql(
                "SELECT id FROM frames WHERE time < ? AND ocr != 'pending'", [cutoff])]
            for start in range(0, len(ids), 5000):
                todo = plan(store, Scope(ids=tuple(f"frame:{i}" for i in ids[start:start + 5000])))
                execute(store, index, home, todo, folders)
                report.frames_forgotten += len(todo.keys.get("frame", []))
    if max_image_bytes > 0:
        total = int(store.sql(
            "SELECT coalesce(sum(bytes), 0) FROM frames WHERE image_path IS NOT NULL")[0][0])
        if total > max_image_bytes:
            rows = []
            over = total - max_image_bytes
            for rowid, path, size in store.sql(
                "SELECT id, image_path, bytes FROM frames WHERE image_path IS NOT NULL"
                " AND ocr != 'pending' ORDER BY time"):
                if over <= 0:
                    break
                rows.append((rowid, path, size))
                over -= int(size or 0)
            _thin(store, home, rows, report, {"retention": "budget", "max_bytes": max_image_bytes})
    return report


def _thin(store: Store, home: Path, rows: Sequence[tuple[int, str, int]],
          report: RetentionReport, scope: dict[str, object]) -> None:
    """Drop full-size images (rows first, then files: a crash leaves only an orphan file, which
    the next forget's sweep removes)."""
    if not rows:
        return
    with store.transaction() as conn:
        conn.executemany("UPDATE frames SET image_path = NULL, bytes = 0 WHERE id = ?",
                         [(int(r[0]),) for r in rows])
        conn.execute("INSERT INTO deletion_log (time, scope, counts) VALUES (?, ?, ?)",
                     (time.time(), json.dumps(scope), json.dumps({"frame_images": len(rows)})))
    for _, rel, size in rows:
        for path in [home / r for r in (rel, spool_rel(rel)) if frame_rel_ok(r)]:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
        report.images_removed += 1
        report.bytes_freed += int(size or 0)
