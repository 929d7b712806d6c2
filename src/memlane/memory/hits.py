"""Reading records for display and ranking: search hits with their sources, and memory strength.

:meth:`HitReads.hits` loads what a search result shows for each ``(kind, rowid)`` with the way back
to its moment; :meth:`HitReads.strengths` is the forgetting curve that ranks episodes and facts, and
:meth:`HitReads.note_retrieved` strengthens what an answer cited.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from memlane.memory.database import Database
from memlane.memory.records import Hit, record_id

# Days a memory of middling importance, never cited, takes to fade to 1/e of its strength.
STABILITY_DAYS = 30.0


class HitReads(Database):
    """Search hits and memory strengths read from the records."""

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
                    "SELECT id, start, apps, titles, summary, kind FROM episodes"
                    f" WHERE id IN ({marks})",
                    ids,
                ).fetchall()
                for rowid, t, apps, titles, summary, ep_kind in rows:
                    out[(kind, rowid)] = Hit(
                        record_id(kind, rowid), kind, t, (json.loads(apps) or [""])[0],
                        (json.loads(titles) or [""])[0], summary, 0.0,
                        {"type": "episode", "episode_id": rowid, "episode_kind": ep_kind},
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
