"""Which records have vectors: the per-row ``vec`` counts that the vector index is repaired from.

A record's ``vec`` is ``NULL`` until it is embedded, then the number of its chunks in Chroma; the
index compares these with what Chroma holds and re-embeds what is missing. Filtered vector searches
list their candidates from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from memlane.memory.database import Database, record_filter
from memlane.memory.records import KIND_TABLES, vector_ids


class VectorMarks(Database):
    """The ``vec`` column of every record kind, and the candidate lists built from it."""

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
