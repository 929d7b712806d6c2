"""Hybrid retrieval: FTS5 BM25 and vector search fused by reciprocal rank, with filters.

A query's time expression ("last Tuesday") becomes a time filter through
:mod:`memlane.memory.timeparse`; the rest is searched as keywords over every FTS5 index and as a
vector over Chroma, both filtered by time, app and kind, and the rankings are fused by weighted
reciprocal rank with a boost for consolidated memories and an optional recency term. Each hit
comes with a snippet and a reference to the frame or message it came from. People the query names
weigh up their own messages and are left out of the semantic query: the name says whose memory to
look in, the rest what it is about.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memlane.core.settings import SearchSettings
from memlane.core.text import STOP_WORDS, WORD, cjk_query, terms
from memlane.core.urls import host_of, on_site, split_site
from memlane.memory.database import record_filter
from memlane.memory.records import ASSISTANT_SOURCE, KIND_TABLES, KINDS, Hit
from memlane.memory.store import Store
from memlane.memory.timeparse import TimeRange, parse_time_expression
from memlane.memory.vectors import VectorIndex

log = logging.getLogger(__name__)
# Scores of matches found only as Latin letters glued to CJK text: behind any clean match.
GLUED_SCALE = 1e-6



def fts_query(text: str) -> str:
    """A forgiving FTS5 query: the content words of ``text``, quoted, joined with OR."""
    words = terms(text)
    content = [w for w in words if w not in STOP_WORDS] or words
    unique = list(dict.fromkeys(content))
    return " OR ".join(f'"{w}"' for w in unique)


def name_candidates(text: str, longest: int = 3) -> list[str]:
    """Runs of one to ``longest`` words of ``text`` that could be a person's name."""
    words = WORD.findall(text)
    out = {" ".join(words[i:i + n]) for n in range(1, longest + 1)
           for i in range(len(words) - n + 1)}
    return sorted(w for w in out if not all(x.lower() in STOP_WORDS or x.isdigit()
                                            for x in w.split()))


def without_names(text: str, names: Sequence[str]) -> str:
    """``text`` with ``names`` (and their possessive "'s") taken out."""
    for name in names:
        text = re.sub(rf"\b{re.escape(name)}(?:['’]s)?\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def speakers_among(store: Store, names: Sequence[str]) -> list[str]:
    """Which of ``names`` (any case) are speakers of stored messages, as stored."""
    if not names:
        return []
    marks = ",".join("?" * len(names))
    return [r[0] for r in store.sql(
        f"SELECT DISTINCT speaker FROM messages WHERE speaker COLLATE NOCASE IN ({marks})", names)]


def said_by(store: Store, ids: Sequence[int], speakers: Sequence[str]) -> set[int]:
    """The messages among ``ids`` that one of ``speakers`` said."""
    if not ids or not speakers:
        return set()
    return {r[0] for r in store.sql(
        f"SELECT id FROM messages WHERE id IN ({','.join('?' * len(ids))})"
        f" AND speaker IN ({','.join('?' * len(speakers))})", [*ids, *speakers])}


def snippet(text: str, query: str, width: int = 40) -> str:
    """About ``width`` words of ``text`` around the first query word found in it."""
    words = text.split()
    if len(words) <= width:
        return " ".join(words)
    asked = set(terms(query)) - STOP_WORDS
    at = next(
        (i for i, w in enumerate(words) if any(t in w.lower() for t in asked)), 0
    )
    start = max(0, at - width // 3)
    piece = " ".join(words[start : start + width])
    return ("... " if start else "") + piece + (" ..." if start + width < len(words) else "")


@dataclass
class SearchResult:
    hits: list[Hit]
    query: str
    time_range: TimeRange | None = None
    since: float | None = None
    until: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    named: list[str] = field(default_factory=list)  # stored speakers the query names
    # Records not yet in the vector index (found by keywords only until they are embedded), and
    # why semantic search was left out of this result, when it was.
    pending: int = 0
    vector_error: str = ""


class Retriever:
    """Answers searches over one store and (optionally) its vector index."""

    def __init__(
        self, store: Store, index: VectorIndex | None, settings: SearchSettings | None = None
    ) -> None:
        self.store = store
        self.index = index
        self.settings = settings or SearchSettings()
        if index is None:
            log.warning("no vector index: search uses keywords only")

    # -- keyword half --------------------------------------------------------------------------

    def keyword(
        self,
        text: str,
        *,
        limit: int,
        kinds: Sequence[str] = KINDS,
        since: float | None = None,
        until: float | None = None,
        app: str | None = None,
    ) -> list[tuple[str, int, float]]:
        """``(kind, rowid, bm25)`` best first (FTS5's bm25 is negative; lower is better)."""
        match = fts_query(text)
        if not match:
            return []
        cjk = cjk_query(text)
        found: list[tuple[str, int, float]] = []
        for kind in kinds:
            sql, params = _keyword_sql(self.store, kind, match, since, until, app, limit, cjk)
            rows = [(kind, int(r[0]), float(r[1])) for r in self.store.sql(sql, params)]
            if not cjk and len(rows) < limit:
                # Latin words glued to CJK text ("搜狐sohu") are only in the pair index: found
                # there, they rank after every clean match, in their own order.
                have = {rowid for _, rowid, _ in rows}
                sql, params = _keyword_sql(self.store, kind, match, since, until, app,
                                           limit - len(rows), pairs_only=True)
                rows += [(kind, int(r[0]), GLUED_SCALE * float(r[1]))
                         for r in self.store.sql(sql, params) if int(r[0]) not in have]
            found.extend(rows)
        found.sort(key=lambda x: x[2])
        return found[:limit]

    # -- hybrid ----------------------------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        since: float | None = None,
        until: float | None = None,
        app: str | None = None,
        kinds: Sequence[str] = KINDS,
        limit: int | None = None,
        now: datetime | None = None,
        parse_time: bool = True,
        site: str | None = None,
    ) -> SearchResult:
        """Hybrid search. ``site`` (or ``site:example.com`` in ``text``) keeps frames whose
        browser address is on that site; with no other words, its latest frames."""
        limit = limit or self.settings.limit
        timings: dict[str, float] = {}
        named_site, text = split_site(text)
        site = site or named_site
        if site:  # only frames know the address they showed
            kinds = [k for k in kinds if k == "frame"]
        rng = parse_time_expression(text, now) if parse_time else None
        query = text
        if rng is not None:
            query = rng.rest or text
            since = max(since, rng.since_ts) if since is not None else rng.since_ts
            until = min(until, rng.until_ts) if until is not None else rng.until_ts
        depth = max(50, limit * 3)
        t0 = time.perf_counter()
        named = speakers_among(self.store, name_candidates(query)) if "message" in kinds else []
        keyword = self.keyword(
            query, limit=depth, kinds=kinds, since=since, until=until, app=app
        )
        timings["keyword_ms"] = (time.perf_counter() - t0) * 1000
        vector: list[tuple[str, int, float]] = []
        vector_error = ""
        if self.index is not None and query.strip():
            t1 = time.perf_counter()
            try:
                vector = self.index.search(
                    without_names(query, named) or query, limit=depth, kinds=kinds,
                    since=since, until=until, app=app,
                )
            except Exception as exc:  # a damaged index: keywords still answer; repair rebuilds
                log.warning("semantic search failed, answering by keywords: %s", exc)
                vector_error = f"semantic search is unavailable ({type(exc).__name__})"
            timings["vector_ms"] = (time.perf_counter() - t1) * 1000
        fused = self._fuse(keyword, vector, now, named)
        if site:
            fused = self._on_site(fused, site, query, since, until, depth)
        if app != ASSISTANT_SOURCE:  # questions to Memlane and its answers: only when asked for
            for rowid in _assistant_messages(self.store, [r for k, r in fused if k == "message"]):
                fused.pop(("message", rowid), None)
        top = sorted(fused.items(), key=lambda kv: -kv[1])[:limit]
        records = self.store.hits([key for key, _ in top])
        keyword_rank = {(k, r): i for i, (k, r, _) in enumerate(keyword)}
        vector_distance = {(k, r): d for k, r, d in vector}
        hits: list[Hit] = []
        for key, score in top:
            hit = records.get(key)
            if hit is None:  # deleted between ranking and display
                continue
            hit.score = score
            prefix, text = hit.split_speaker()  # a cut message still says who said it
            hit.snippet = prefix + snippet(text, query)
            hit.keyword_rank = keyword_rank.get(key)
            hit.vector_distance = vector_distance.get(key)
            hits.append(hit)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        return SearchResult(hits, query, rng, since, until, timings, named,
                            self.store.count_unembedded(), vector_error)

    def _on_site(self, fused: dict[tuple[str, int], float], site: str, query: str,
                 since: float | None, until: float | None, depth: int
                 ) -> dict[tuple[str, int], float]:
        """The fused hits whose frame was on ``site``; the site's latest frames for no words."""
        if not query.strip():
            source, where, params = record_filter("frame", since, until, None)
            rows = self.store.sql(
                f"SELECT r.id, r.url FROM {source} WHERE r.url LIKE ?"
                + "".join(f" AND {w}" for w in where) + " ORDER BY r.time DESC LIMIT ?",
                [f"%{host_of(site)}%", *params, depth * 4])
            ids = [int(r[0]) for r in rows if on_site(str(r[1]), site)][:depth]
            return {("frame", rowid): 1.0 / (1 + i) for i, rowid in enumerate(ids)}
        frames = [rowid for kind, rowid in fused if kind == "frame"]
        urls: dict[int, str] = {}
        for start in range(0, len(frames), 500):
            chunk = frames[start:start + 500]
            urls.update((int(r[0]), str(r[1])) for r in self.store.sql(
                f"SELECT id, url FROM frames WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return {key: score for key, score in fused.items()
                if key[0] == "frame" and on_site(urls.get(key[1], ""), site)}

    def _fuse(
        self,
        keyword: list[tuple[str, int, float]],
        vector: list[tuple[str, int, float]],
        now: datetime | None,
        named: Sequence[str] = (),
    ) -> dict[tuple[str, int], float]:
        s = self.settings
        k = s.rrf_k
        scores: dict[tuple[str, int], float] = {}
        for rank, (kind, rowid, _) in enumerate(keyword):
            scores[(kind, rowid)] = scores.get((kind, rowid), 0.0) + s.keyword_weight / (k + rank)
        for rank, (kind, rowid, _) in enumerate(vector):
            scores[(kind, rowid)] = scores.get((kind, rowid), 0.0) + s.vector_weight / (k + rank)
        if s.derived_weight:
            ref = (now.timestamp() if now else time.time())
            for key, strength in self.store.strengths(
                    [key for key in scores if key[0] in ("episode", "fact")], ref).items():
                scores[key] += s.derived_weight * strength / k
        if s.recency_weight and scores:
            ref = (now.timestamp() if now else time.time())
            times = _record_times(self.store, list(scores))
            for key, ts in times.items():
                age_days = max(0.0, (ref - ts) / 86400)
                decay = math.pow(0.5, age_days / max(s.recency_half_life_days, 1e-6))
                scores[key] += s.recency_weight * decay / k
        if named and s.speaker_weight:
            said = said_by(self.store, [r for kind, r in scores if kind == "message"], named)
            for rowid in said:
                scores[("message", rowid)] *= 1 + s.speaker_weight
        return scores


def _assistant_messages(store: Store, ids: Sequence[int]) -> set[int]:
    """Which of these messages belong to chats with Memlane itself."""
    out: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        out |= {int(r[0]) for r in store.sql(
            "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE c.source = ? AND m.id IN ({','.join('?' * len(chunk))})",
            [ASSISTANT_SOURCE, *chunk])}
    return out


def _keyword_sql(
    store: Store, kind: str, match: str, since: float | None, until: float | None,
    app: str | None, limit: int, cjk: str = "", *, pairs_only: bool = False,
) -> tuple[str, list[Any]]:
    """BM25-ranked ``(rowid, score)`` of one kind, filtered.

    ``cjk`` (:func:`~memlane.core.text.cjk_query`) also searches the CJK pair indexes, and a
    record found in both keeps its better score; ``pairs_only`` searches only those, for
    ``match``.
    """
    source, where, params = record_filter(kind, since, until, app)
    cond = "".join(f" AND {w}" for w in where)
    timed = since is not None or until is not None
    weights = ", 0.3, 1.0" if kind == "message" else ""  # speaker counts less than the text

    def select(fts: str, query: str, of_blocks: bool = False) -> tuple[str, list[Any]]:
        # Narrow the FTS5 scan to the rowids of records in the time range (exact filter follows).
        got = store.id_span(kind, since, until, of_blocks=of_blocks) if timed else None
        span, args = ("", []) if got is None else (f" AND {fts}.rowid BETWEEN ? AND ?", list(got))
        if of_blocks:  # a frame's text is in its OCR blocks
            return (f"SELECT b.frame_id AS rid, bm25({fts}) AS s FROM {fts} JOIN ocr_blocks b"
                    f" ON b.id = {fts}.rowid WHERE {fts} MATCH ?{span}", [query, *args])
        return (f"SELECT rowid AS rid, bm25({fts}{weights}) AS s FROM {fts}"
                f" WHERE {fts} MATCH ?{span}", [query, *args])

    tables = [("ocr_blocks", True), ("frames", False)] if kind == "frame" else \
        [(KIND_TABLES[kind], False)]
    parts: list[tuple[str, list[Any]]] = []
    for table, of_blocks in tables:
        if not pairs_only:
            parts.append(select(f"{table}_fts", match, of_blocks))
        if cjk or pairs_only:
            parts.append(select(f"{table}_cjk", match if pairs_only else cjk, of_blocks))
    args = [a for _, part in parts for a in part]
    if len(parts) == 1:  # one index: rank it directly (bm25 cannot sit under an aggregate)
        fts = f"{tables[0][0]}_{'cjk' if pairs_only else 'fts'}"
        got = store.id_span(kind, since, until) if timed else None
        span, sargs = ("", []) if got is None else (f" AND {fts}.rowid BETWEEN ? AND ?",
                                                    list(got))
        sql = (
            f"SELECT r.id, bm25({fts}{weights}) AS s FROM {fts} CROSS JOIN {source}"
            f" WHERE {fts} MATCH ? AND r.id = {fts}.rowid{span}{cond} ORDER BY s LIMIT ?"
        )
        return sql, [args[0], *sargs, *params, limit]
    union = " UNION ALL ".join(sql for sql, _ in parts)
    sql = (
        f"SELECT r.id, min(x.s) AS s FROM ({union}) x CROSS JOIN {source}"
        f" WHERE r.id = x.rid{cond} GROUP BY r.id ORDER BY s LIMIT ?"
    )
    return sql, [*args, *params, limit]


def _record_times(store: Store, keys: list[tuple[str, int]]) -> dict[tuple[str, int], float]:
    return {key: hit.time for key, hit in store.hits(keys).items()}
