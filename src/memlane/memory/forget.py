"""Forgetting: remove records, everything derived from them, and every remnant on disk.

:func:`plan` turns a :class:`Scope` into the records it covers plus everything derived from them
through ``lineage``, changing nothing (what ``memlane forget --dry-run`` prints). :func:`execute`
deletes the rows in one transaction and logs scope and counts, never content; removes their
vectors (re-writing those of replies that embedded a forgotten question) and image files; then
compacts FTS5, the WAL and the database so no remnant survives. A crash between steps is repaired
later (orphan vectors at index start-up, orphan files by :func:`sweep_files`), and what remains is
re-derived by the next consolidation, so a fact whose update was forgotten is current again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memlane.core.paths import FRAME_FOLDERS
from memlane.memory.database import record_filter
from memlane.memory.facts import revive
from memlane.memory.frames import frame_rel_ok, spool_rel
from memlane.memory.migrations import FTS_TABLES
from memlane.memory.records import KIND_TABLES, KINDS, parse_record_id, vector_ids
from memlane.memory.store import NEXT_MESSAGE, Store
from memlane.memory.vectors import VectorIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """What to forget; selectors combine (all must hold). ``everything`` ignores the rest."""

    since: float | None = None
    until: float | None = None
    app: str | None = None
    query: str | None = None
    ids: tuple[str, ...] = ()
    everything: bool = False

    def is_empty(self) -> bool:
        return not (self.everything or self.ids or self.query or self.app
                    or self.since is not None or self.until is not None)

    def for_log(self) -> dict[str, Any]:
        """The scope as the deletion log keeps it: never the text that was searched for."""
        if self.everything:
            return {"all": True}
        out: dict[str, Any] = {}
        if self.since is not None:
            out["since"] = self.since
        if self.until is not None:
            out["until"] = self.until
        if self.app:
            out["app"] = self.app
        if self.query:
            out["query"] = "(text not recorded)"
        if self.ids:
            out["ids"] = len(self.ids)
        return out


@dataclass
class Plan:
    scope: Scope
    keys: dict[str, list[int]] = field(default_factory=dict)   # kind -> rowids
    derived: dict[str, list[int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {k: len(v) for k, v in self.keys.items() if v}
        for kind, ids in self.derived.items():
            if ids:
                out[f"derived_{kind}"] = len(ids)
        return out

    def all_keys(self) -> dict[str, list[int]]:
        merged = {k: list(v) for k, v in self.keys.items()}
        for kind, ids in self.derived.items():
            merged.setdefault(kind, [])
            merged[kind] = sorted(set(merged[kind]) | set(ids))
        return merged


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ``ESCAPE '\\'``) that matches ``text`` literally as a substring."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching_text(store: Store, kind: str, text: str) -> set[int]:
    """Records of ``kind`` whose text contains ``text`` (case-insensitive) or matches it in FTS.

    ``%`` and ``_`` are the characters themselves, never wildcards; a message also matches
    through its conversation's title.
    """
    phrase = '"' + text.replace('"', '""') + '"'
    like = like_pattern(text)
    contains = "LIKE ? ESCAPE '\\'"
    fts_parts: list[tuple[str, list[Any]]]
    like_parts: list[tuple[str, list[Any]]]
    if kind == "message":
        fts_parts = [("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", [phrase])]
        like_parts = [(f"SELECT id FROM messages WHERE text {contains} OR speaker {contains}"
                       " OR conversation_id IN (SELECT id FROM conversations"
                       f" WHERE title {contains})", [like, like, like])]
    elif kind == "frame":
        fts_parts = [("SELECT b.frame_id FROM ocr_blocks_fts JOIN ocr_blocks b"
                      " ON b.id = ocr_blocks_fts.rowid WHERE ocr_blocks_fts MATCH ?", [phrase]),
                     ("SELECT rowid FROM frames_fts WHERE frames_fts MATCH ?", [phrase])]
        like_parts = [(f"SELECT frame_id FROM ocr_blocks WHERE text {contains}", [like]),
                      (f"SELECT id FROM frames WHERE title {contains} OR app {contains}"
                       f" OR url {contains}", [like, like, like])]
    else:
        table = KIND_TABLES[kind]
        cols = FTS_TABLES[table]
        fts_parts = [(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?", [phrase])]
        like_parts = [(f"SELECT id FROM {table} WHERE "
                       + " OR ".join(f"{c} {contains}" for c in cols), [like] * len(cols))]

    def run(parts: list[tuple[str, list[Any]]]) -> set[int]:
        sql = " UNION ".join(q for q, _ in parts)
        return {int(r[0]) for r in store.sql(sql, [p for _, ps in parts for p in ps])}

    try:
        return run(fts_parts + like_parts)
    except Exception as exc:  # an FTS syntax corner case: fall back to substring matching only
        log.warning("full-text match failed (%s); using substring matching", exc)
        return run(like_parts)


def plan(store: Store, scope: Scope) -> Plan:
    """Which records a scope covers, and what was derived from them. Changes nothing."""
    result = Plan(scope)
    if scope.is_empty():
        return result
    wanted: dict[str, set[int]] | None = None
    if scope.ids:
        wanted = {}
        for value in scope.ids:
            kind, rowid = parse_record_id(value)
            wanted.setdefault(kind, set()).add(rowid)
    for kind in KINDS:
        if wanted is not None and kind not in wanted:
            continue
        if scope.everything:
            rows = {int(r[0]) for r in store.sql(f"SELECT id FROM {KIND_TABLES[kind]}")}
        else:
            source, where, params = record_filter(kind, scope.since, scope.until, scope.app)
            if kind == "fact":  # forget superseded facts too, not only current ones
                where = [w for w in where if "status" not in w]
            sql = f"SELECT r.id FROM {source} WHERE 1" + "".join(f" AND {w}" for w in where)
            rows = {int(r[0]) for r in store.sql(sql, params)}
            if scope.query:
                rows &= _matching_text(store, kind, scope.query)
            if wanted is not None:
                rows &= wanted[kind]
        result.keys[kind] = sorted(rows)
    # Episodes and facts derived from anything forgotten go too, and what was derived from those
    # (a day digest from its episodes). Consolidation re-derives them from what remains.
    frontier = {kind: list(ids) for kind, ids in result.keys.items() if ids}
    while frontier:
        found: dict[str, list[int]] = {}
        for kind, ids in frontier.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for dkind, did in store.sql(
                    "SELECT DISTINCT derived_kind, derived_id FROM lineage"
                    f" WHERE source_kind = ? AND source_id IN ({marks})", [kind, *chunk]
                ):
                    did = int(did)
                    if (did in result.keys.get(dkind, ())
                            or did in result.derived.get(dkind, ())):
                        continue
                    result.derived.setdefault(dkind, []).append(did)
                    found.setdefault(dkind, []).append(did)
        frontier = found
    return result


def _vector_ids(store: Store, keys: dict[str, list[int]]) -> list[str]:
    out: list[str] = []
    for kind, ids in keys.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for rowid, n in store.sql(
                f"SELECT id, vec FROM {KIND_TABLES[kind]} WHERE id IN ({marks}) AND vec > 0", chunk
            ):
                out += vector_ids(kind, rowid, int(n))
    return out


def _followers(store: Store, ids: Sequence[int]) -> list[int]:
    """The messages said right after forgotten ones that are not forgotten themselves.

    A reply's vectors also embed the question before it (:func:`~memlane.memory.vectors.
    asked_before`), so they are deleted with the question and written again from what remains.
    """
    gone = set(ids)
    out: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for (nxt,) in store.sql(
            f"SELECT ({NEXT_MESSAGE}) FROM messages m WHERE m.id IN ({marks})", chunk
        ):
            if nxt is not None and nxt not in gone:
                out.add(int(nxt))
    return sorted(out)


def _frame_files(store: Store, ids: Sequence[int]) -> list[str]:
    out: list[str] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for image, thumb in store.sql(
            f"SELECT image_path, thumb_path FROM frames WHERE id IN ({marks})", chunk
        ):
            out += [p for p in (image, thumb) if p]
            if image:
                out.append(spool_rel(image))
    return out


@dataclass
class Report:
    counts: dict[str, int]
    vectors_removed: int
    files_removed: int
    seconds: float
    bytes_before: int
    bytes_after: int


def execute(
    store: Store, index: VectorIndex | None, home: Path, todo: Plan,
    folders: Sequence[Path] = (),
) -> Report:
    """Carry out a plan: rows, vectors, files, then compaction. See the module docstring."""
    t0 = time.perf_counter()
    before = _db_bytes(store)
    keys = todo.all_keys()
    followers = _followers(store, keys.get("message", []))
    vector_ids = _vector_ids(store, {**keys, "message": keys.get("message", []) + followers})
    files = _frame_files(store, keys.get("frame", []))
    with store.transaction() as conn:
        _release_dependents(conn, keys)
        conn.executemany("UPDATE messages SET vec = NULL WHERE id = ?", [(i,) for i in followers])
        for kind, ids in keys.items():
            table = KIND_TABLES[kind]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", chunk)
                conn.execute(
                    f"DELETE FROM lineage WHERE (derived_kind = ? AND derived_id IN ({marks}))"
                    f" OR (source_kind = ? AND source_id IN ({marks}))",
                    [kind, *chunk, kind, *chunk],
                )
        if todo.scope.everything:
            conn.execute("DELETE FROM conversations")
            conn.execute("DELETE FROM jobs")
        else:  # conversations left without messages go too (their titles are content)
            conn.execute("DELETE FROM conversations WHERE id NOT IN"
                         " (SELECT DISTINCT conversation_id FROM messages)")
        revive(conn)  # a fact whose update was forgotten is current again
        conn.execute(
            "INSERT INTO deletion_log (time, scope, counts) VALUES (?, ?, ?)",
            (time.time(), json.dumps(todo.scope.for_log()), json.dumps(todo.counts())),
        )
    removed_vectors = 0
    if index is not None and vector_ids:
        try:
            index.delete(vector_ids)
            removed_vectors = len(vector_ids)
            if followers:
                index.sync()
        except Exception as exc:  # the rows are gone: files and compaction must still happen
            log.warning("could not delete %d vectors (%s); the index's repair removes them",
                        len(vector_ids), exc)
    removed_files = 0
    for rel in files:
        if not frame_rel_ok(rel):  # a path from a crafted archive or a bug: never followed
            log.warning("not deleting %r: it is not a frame image inside the home", rel)
            continue
        try:
            (home / rel).unlink()
            removed_files += 1
        except FileNotFoundError:
            pass
    removed_files += sweep_files(
        store, home, folders or tuple(home / f for f in FRAME_FOLDERS)
    )
    compact(store)
    return Report(todo.counts(), removed_vectors, removed_files, time.perf_counter() - t0,
                  before, _db_bytes(store))


def _release_dependents(conn: sqlite3.Connection, keys: dict[str, list[int]]) -> None:
    """Before rows go: unlink facts that supersede forgotten ones, and have the chats that also
    support a forgotten fact read again, so the fact is re-derived from what remains."""
    facts = keys.get("fact", [])
    episodes = set(keys.get("episode", []))
    for start in range(0, len(facts), 500):
        chunk = facts[start : start + 500]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"UPDATE facts SET supersedes = NULL WHERE supersedes IN ({marks})", chunk)
        rows = conn.execute(
            "SELECT DISTINCT e.derived_id FROM lineage f JOIN lineage e"
            " ON e.source_kind = f.source_kind AND e.source_id = f.source_id"
            " AND e.derived_kind = 'episode'"
            f" WHERE f.derived_kind = 'fact' AND f.derived_id IN ({marks})"
            " AND f.source_kind = 'message'", chunk,
        ).fetchall()
        again = [int(r[0]) for r in rows if int(r[0]) not in episodes]
        conn.executemany("UPDATE episodes SET facts_done = 0 WHERE id = ?", [(i,) for i in again])


def sweep_files(store: Store, home: Path, folders: Sequence[Path]) -> int:
    """Delete frame images, thumbnails and spool copies no row refers to (left by a crash).

    A spool copy is kept only while its frame still waits for OCR.
    """
    known = {p for row in store.sql("SELECT image_path, thumb_path FROM frames") for p in row if p}
    known |= {spool_rel(p) for (p,) in store.sql(
        "SELECT image_path FROM frames WHERE ocr = 'pending' AND image_path IS NOT NULL")}
    removed = 0
    for root in folders:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if path.is_file() and str(path.relative_to(home)) not in known:
                path.unlink()
                removed += 1
        for sub in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            if not any(sub.iterdir()):
                sub.rmdir()
    return removed


def compact(store: Store) -> None:
    """Leave no remnant of deleted text: merge FTS segments, truncate the WAL, vacuum."""
    for table in FTS_TABLES:
        for fts in (f"{table}_fts", f"{table}_cjk"):
            store.db.execute(f"INSERT INTO {fts}({fts}) VALUES ('optimize')")
    store.db.conn.commit()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute("VACUUM")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _db_bytes(store: Store) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with suppress(OSError):
            total += os.stat(f"{store.path}{suffix}").st_size
    return total
