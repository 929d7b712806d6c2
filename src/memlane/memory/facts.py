"""Semantic memory: facts about the person, kept up to date without ever overwriting one.

A candidate fact (:class:`FactIn`, from the model or :func:`rule_candidates`) is compared with the
most similar current facts (:func:`similar`), and a :class:`Decision` will ``ADD`` it, ``UPDATE``
one (the old version is closed and superseded, never overwritten; an older statement is kept as
``past``), ``RETIRE`` one that no longer holds, or ``NOOP`` (a known fact is confirmed).
:func:`apply` writes a decision with its lineage inside the caller's transaction, so a batch of
facts and its episode's read mark commit together; the local model or :func:`heuristic_decision`
decides. :func:`revive` re-opens a fact whose successor was forgotten.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memlane.core.text import summary_content
from memlane.memory import sql
from memlane.memory.episodes import Item, jaccard
from memlane.memory.retrieval import fts_query
from memlane.memory.store import Store

CATEGORIES = ("preference", "plan", "relationship", "possession", "routine", "fact")
ACTIONS = ("ADD", "UPDATE", "RETIRE", "NOOP")
SAME = 0.8       # word overlap at which a candidate is the fact already known
RELATED = 0.3    # and at which an existing fact is shown to whoever decides
_NEGATION = re.compile(
    r"\b(?:no longer|not any ?more|stopped|quit|gave up|sold|left|moved (?:out|away)|"
    r"broke up|don'?t|doesn'?t|never|ended)\b", re.IGNORECASE)


@dataclass(frozen=True)
class FactIn:
    text: str
    category: str
    importance: float          # 0..1
    subject: str               # whom it is about: a speaker's name, or "me"
    time: float                # when it was said (valid from)
    sources: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class FactRow:
    id: int
    text: str
    category: str
    subject: str
    status: str
    valid_from: float | None
    valid_to: float | None
    first_seen: float
    last_confirmed: float
    confidence: float
    importance: float
    supersedes: int | None


@dataclass(frozen=True)
class Decision:
    action: str
    target: int | None = None
    by: str = "rule"  # model | rule


_COLUMNS = ("id, text, category, subject, status, valid_from, valid_to, first_seen,"
            " last_confirmed, confidence, importance, supersedes")


def _row(r: Sequence[Any]) -> FactRow:
    return FactRow(int(r[0]), r[1], r[2], r[3] or "", r[4], r[5], r[6], float(r[7]), float(r[8]),
                   float(r[9]), float(r[10]), r[11])


def fact(store: Store, fact_id: int) -> FactRow | None:
    rows = store.sql(f"SELECT {_COLUMNS} FROM facts WHERE id = ?", [fact_id])
    return _row(rows[0]) if rows else None


def facts(store: Store, *, include_history: bool = False, limit: int = 10000) -> list[FactRow]:
    where = "" if include_history else " WHERE status = 'current'"
    rows = store.sql(
        f"SELECT {_COLUMNS} FROM facts{where} ORDER BY importance DESC, last_confirmed DESC, id"
        " LIMIT ?", [limit])
    return [_row(r) for r in rows]


def history(store: Store, fact_id: int) -> list[FactRow]:
    """The fact and every earlier version it superseded, newest first."""
    out: list[FactRow] = []
    current: int | None = fact_id
    while current is not None and len(out) < 100:
        row = fact(store, current)
        if row is None:
            break
        out.append(row)
        current = row.supersedes
    return out


def taken_from(store: Store, fact_ids: Sequence[int]) -> dict[str, list[int]]:
    """The records these facts were taken from ("message:12"), each with the facts taken."""
    if not fact_ids:
        return {}
    out: dict[str, list[int]] = {}
    for kind, rowid, fact_id in store.sql(
            "SELECT source_kind, source_id, derived_id FROM lineage WHERE derived_kind = 'fact'"
            f" AND derived_id IN ({','.join('?' * len(fact_ids))})", list(fact_ids)):
        out.setdefault(f"{kind}:{rowid}", []).append(int(fact_id))
    return out


def similar(store: Store | sqlite3.Connection, candidate: FactIn,
            limit: int = 5) -> list[tuple[FactRow, float]]:
    """Current facts sharing at least :data:`RELATED` of their words with the candidate, most
    alike first, with their overlap."""
    match = fts_query(candidate.text)
    if not match:
        return []
    conn = store.db.conn if isinstance(store, Store) else store
    try:
        rows = conn.execute(
            f"SELECT {', '.join('f.' + c.strip() for c in _COLUMNS.split(','))} FROM facts_fts"
            " JOIN facts f ON f.id = facts_fts.rowid WHERE facts_fts MATCH ?"
            " AND f.status = 'current' ORDER BY bm25(facts_fts) LIMIT 50", (match,),
        ).fetchall()
    except sql.OperationalError:
        return []
    mine = _words(candidate.text, candidate.subject)
    scored = [(_row(r), jaccard(mine, _words(r[1], r[3] or ""))) for r in rows]
    # Only real look-alikes: shown a fact of the same person sharing one word, the default 0.5B
    # model answered UPDATE (LoCoMo conversation 0: all 37 of its updates replaced a fact
    # sharing at most 13% of its words, "Caroline's necklace is from her grandma in Sweden" by
    # "Caroline's love and encouragement helped me"), and the true fact left current memory.
    scored = [(row, s) for row, s in scored if s >= RELATED]
    scored.sort(key=lambda rs: (-rs[1], rs[0].id))
    return scored[:limit]


def heuristic_decision(candidate: FactIn, found: Sequence[tuple[FactRow, float]]) -> Decision:
    """What to do without a model: a known fact is confirmed, a negated look-alike of the same
    person's fact retires it, anything else is added. Never UPDATE: "I love reading" and "I love
    travelling" look as alike as "I live in Paris" and "I live in Lisbon", and only a model can
    tell a second preference from a changed one."""
    if not found:
        return Decision("ADD")
    best, score = found[0]
    if score >= SAME:
        return Decision("NOOP", best.id)
    negated = bool(_NEGATION.search(candidate.text)) != bool(_NEGATION.search(best.text))
    if best.subject == candidate.subject and score >= 0.5 and negated:
        return Decision("RETIRE", best.id)
    return Decision("ADD")


def _words(text: str, subject: str) -> set[str]:
    return summary_content(text) - {subject.lower(), "me"}


def apply(conn: sqlite3.Connection, candidate: FactIn, decision: Decision) -> int:
    """Write one decision (inside the caller's transaction); return the fact it touched or made."""
    target = None
    if decision.target is not None:
        found = conn.execute(f"SELECT {_COLUMNS} FROM facts WHERE id = ?",
                             (decision.target,)).fetchone()
        target = _row(found) if found else None
    action = decision.action if target is not None and target.status == "current" else "ADD"
    if action == "NOOP" and target is not None:
        conn.execute(
            "UPDATE facts SET last_confirmed = max(last_confirmed, ?),"
            " confidence = min(1.0, confidence + 0.1), importance = max(importance, ?)"
            " WHERE id = ?", (candidate.time, candidate.importance, target.id))
        _link(conn, target.id, candidate.sources)
        return target.id
    supersedes = None
    status = "current"
    valid_to = None
    if action in ("UPDATE", "RETIRE") and target is not None:
        if candidate.time < (target.valid_from or target.first_seen):
            # Said before the fact it would replace (an old chat imported late): keep it as
            # history that the current fact already replaced ("past": nothing superseded it
            # here, so forgetting cannot re-open it).
            status, valid_to = "past", target.valid_from or target.first_seen
        else:
            conn.execute(
                "UPDATE facts SET status = ?, valid_to = ? WHERE id = ?",
                ("updated" if action == "UPDATE" else "retired", candidate.time, target.id))
            supersedes = target.id
    cur = conn.execute(
        "INSERT INTO facts (text, category, subject, status, valid_from, valid_to, first_seen,"
        " last_confirmed, confidence, importance, supersedes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0.6, ?, ?)",
        (candidate.text, candidate.category, candidate.subject, status, candidate.time, valid_to,
         candidate.time, candidate.time, candidate.importance, supersedes),
    )
    new_id = int(cur.lastrowid or 0)
    _link(conn, new_id, candidate.sources)
    return new_id


def _link(conn: sqlite3.Connection, fact_id: int, sources: Sequence[tuple[str, int]]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO lineage (derived_kind, derived_id, source_kind, source_id)"
        " VALUES ('fact', ?, ?, ?)", [(fact_id, kind, rowid) for kind, rowid in sources])


def revive(conn: sqlite3.Connection) -> int:
    """Re-open closed facts whose successor is gone (it was forgotten); return how many."""
    cur = conn.execute(
        "UPDATE facts SET status = 'current', valid_to = NULL WHERE status IN ('updated',"
        " 'retired') AND NOT EXISTS (SELECT 1 FROM facts n WHERE n.supersedes = facts.id)")
    return cur.rowcount


# -- facts without a model ---------------------------------------------------------------------

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("preference", re.compile(
        r"\bI(?:'m| am)? (?:really |also |just )?(?:love|like|prefer|enjoy|hate|adore|"
        r"can'?t stand|(?:a )?(?:big )?fan of|into)\b", re.IGNORECASE)),
    ("plan", re.compile(
        r"\bI(?:'m| am| will|'ll)? (?:going to|planning(?: on| to)?|gonna|about to|"
        r"hoping to|thinking (?:of|about)|plan to)\b", re.IGNORECASE)),
    ("relationship", re.compile(
        r"\bmy (?:wife|husband|partner|boyfriend|girlfriend|son|daughter|kids?|children|mom|"
        r"mum|mother|dad|father|sister|brother|friend|best friend|boss|colleague|grandma|"
        r"grandpa|family|dog|cat)\b", re.IGNORECASE)),
    ("possession", re.compile(
        r"\bI (?:have|own|bought|got|just got) (?:a|an|my|two|three|some)\b", re.IGNORECASE)),
    ("routine", re.compile(
        r"\b(?:every (?:day|morning|evening|night|week|weekend|monday|tuesday|wednesday|"
        r"thursday|friday|saturday|sunday)|usually|each (?:morning|week))\b",
        re.IGNORECASE)),
    ("fact", re.compile(
        r"\bI(?:'m a| am a| work (?:at|as|for|in)| live in| moved (?:to|from)| started (?:a|my|at)|"
        r"graduated| studied| was born| grew up)\b", re.IGNORECASE)),
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'll|my|we|our)\b", re.IGNORECASE)


def rule_candidates(messages: Sequence[Item], limit: int = 8) -> list[FactIn]:
    """First-person statements of preference, plans, relations, possessions and routines.

    The fallback when no model is available or the model returned nothing usable: the
    person's own sentence, attributed ("Caroline: I love painting sunsets"), never rewritten.
    """
    out: list[FactIn] = []
    seen: set[str] = set()
    for msg in messages:
        for sentence in _SENTENCE.split(msg.text):
            sentence = " ".join(sentence.split())
            words = sentence.split()
            if (not 4 <= len(words) <= 40 or sentence.endswith("?")
                    or not _FIRST_PERSON.search(sentence)):
                continue
            for category, rule in _RULES:
                if rule.search(sentence):
                    subject = msg.speaker or "me"
                    text = f"{subject}: {sentence}"
                    key = " ".join(sorted(summary_content(text)))
                    if key in seen:
                        break
                    seen.add(key)
                    out.append(FactIn(text, category, 0.5, subject, msg.time,
                                      (("message", msg.id),)))
                    break
    return out[:limit]


def as_dict(row: FactRow) -> dict[str, Any]:
    return {"id": f"fact:{row.id}", "text": row.text, "category": row.category,
            "subject": row.subject, "status": row.status, "valid_from": row.valid_from,
            "valid_to": row.valid_to, "first_seen": row.first_seen,
            "last_confirmed": row.last_confirmed, "confidence": round(row.confidence, 2),
            "importance": round(row.importance, 2),
            "supersedes": f"fact:{row.supersedes}" if row.supersedes else None}
