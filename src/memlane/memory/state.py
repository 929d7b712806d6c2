"""The ``state`` table: small named values the recorder, upkeep and the app share (not records)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from memlane.memory.database import Database


class StateTable(Database):
    """Named values in the ``state`` table, written in a transaction of their own."""

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
