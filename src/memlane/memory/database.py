"""The connection under the store: opening and migrating the database, transactions, filters.

:class:`Database` opens one SQLite file (SQLCipher when a key is given) in WAL mode with secure
deletion, applies the migrations and turns a full disk into a :class:`StorageError`. Every part of
the store builds on it. :func:`record_filter` is the one definition of "in this time range, from
this app" per record kind.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlite_utils

from memlane.core.errors import StorageError
from memlane.memory import sql
from memlane.memory.crypto import Keys
from memlane.memory.migrations import apply_migrations
from memlane.memory.records import KIND_TABLES


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


class Database:
    """One SQLite database file (plus its WAL) holding every record Memlane keeps."""

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

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM _migrations ORDER BY rowid")]

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.execute(query, list(params)).fetchall()]
