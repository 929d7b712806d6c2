"""The vector index: a Chroma collection derived from the store, holding no text.

Chroma keeps ids (``kind:rowid:chunk``), embeddings and kind, time and app metadata, so the text
of a memory lives only in SQLite. The index is rebuildable: ``sync`` embeds rows not yet marked as
embedded, and ``repair`` removes vectors whose rows are gone and re-embeds rows whose vectors are
missing. :func:`documents` says what is embedded for each kind of row. With ``in_memory`` (setting
``[privacy] vectors_in_memory``) the collection lives only in this process's memory, rebuilt from
the store when opened, and nothing of it touches the disk. Telemetry is switched off before Chroma
is imported.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from memlane.memory.records import KINDS, Document
from memlane.memory.store import PREVIOUS_MESSAGE, Store

# Frame text is embedded in chunks of about this many words (MiniLM reads at most 256 tokens).
CHUNK_WORDS = 120
MAX_CHUNKS = 8

log = logging.getLogger(__name__)

COLLECTION = "memlane"
Progress = Callable[[int], None]


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class RepairReport:
    removed: int
    embedded: int


def _chroma_client(path: Path | None) -> Any:
    """Chroma on disk at ``path``, or in this process's memory only when ``path`` is None."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=True)
    if path is None:
        return chromadb.EphemeralClient(settings=settings)
    return chromadb.PersistentClient(path=str(path), settings=settings)


# Chroma's on-disk index takes one user at a time: every process (and thread) works on it under an
# exclusive lock, and reloads it when another process wrote since (a generation number beside it).
# Chroma caches one system per process, so closing it is counted process-wide (``_EPOCH``).
_EPOCH = [0]
_SEEN: dict[Path, int] = {}


def _chroma_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Chroma itself (a damaged or inconsistent index)."""
    return type(exc).__module__.startswith("chromadb") or "hnsw" in str(exc).lower()


def _clear_systems(client: Any) -> None:
    client.clear_system_cache()
    _EPOCH[0] += 1


class VectorIndex:
    """Nearest-neighbour search over embeddings of store records."""

    def __init__(self, path: Path, store: Store, embedder: Embedder, *,
                 in_memory: bool = False) -> None:
        self.path = path
        self.in_memory = in_memory
        self.store = store
        self.embedder = embedder
        self._lock_path = path.with_name(path.name + ".lock")
        self._gen_path = path.with_name(path.name + ".generation")
        self._key = path.resolve()
        if not in_memory:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._epoch = -1
        with self._using(write=False):
            pass

    @contextmanager
    def _using(self, *, write: bool) -> Iterator[None]:
        """Hold the index alone (across processes) and with a client that sees the latest writes.

        Re-entrant within one thread. A write bumps the generation so other processes reload.
        """
        with self._thread_lock:
            if self.in_memory:
                if self._epoch < 0:
                    self._open()
                    self._epoch = 0
                yield
                return
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with open(self._lock_path, "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                key = self._key
                gen = self._generation()
                if key in _SEEN and _SEEN[key] != gen and self._epoch >= 0:
                    _clear_systems(self._client)  # another process wrote: reload from disk
                _SEEN[key] = gen
                if self._epoch != _EPOCH[0]:
                    self._open()
                    self._epoch = _EPOCH[0]
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    if write:
                        _SEEN[key] = gen + 1
                        self._gen_path.write_text(str(gen + 1))

    def _generation(self) -> int:
        try:
            return int(self._gen_path.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def _open(self) -> None:
        # In memory, every Chroma client of a process shares one system: one collection per home.
        name = (COLLECTION + "-" + hashlib.sha256(str(self.path).encode()).hexdigest()[:16]
                if self.in_memory else COLLECTION)
        self._client = _chroma_client(None if self.in_memory else self.path)
        self._collection = self._client.get_or_create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder.name},
        )

    def close(self) -> None:
        """Release Chroma's cached system for this folder (it is re-opened on next use)."""
        with self._thread_lock:
            if self._epoch >= 0:
                _clear_systems(self._client)

    def count(self) -> int:
        with self._using(write=False):
            return int(self._collection.count())

    # -- writing -----------------------------------------------------------------------------

    def add_documents(self, docs: Sequence[Document]) -> None:
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for doc in docs:
            for chunk_id, chunk in zip(doc.chunk_ids(), doc.chunks, strict=True):
                ids.append(chunk_id)
                texts.append(chunk)
                metas.append({"kind": doc.kind, "time": float(doc.time), "app": doc.app})
        if ids:
            vectors = self.embedder.embed(texts)
            with self._using(write=True):
                self._collection.upsert(ids=ids, embeddings=vectors, metadatas=metas)

    def sync(self, progress: Progress | None = None, batch: int = 256) -> int:
        """Embed every record the store has not marked as embedded; return how many."""
        done = 0
        for kind in KINDS:
            while ids := self.store.unembedded(kind, batch):
                docs = documents(self.store, kind, ids)
                self.add_documents(docs)
                written = {d.rowid: len(d.chunks) for d in docs}
                # Rows that vanished meanwhile or have no text get 0 so they are not retried.
                self.store.mark_embedded(kind, [(i, written.get(i, 0)) for i in ids])
                done += len(ids)
                if progress:
                    progress(len(ids))
        return done

    def delete(self, ids: Sequence[str]) -> None:
        with self._using(write=True):
            for start in range(0, len(ids), 5000):
                self._collection.delete(ids=list(ids[start : start + 5000]))

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        offset, page = 0, 10000
        with self._using(write=False):
            while True:
                got = self._collection.get(include=[], limit=page, offset=offset)["ids"]
                ids.update(got)
                if len(got) < page:
                    return ids
                offset += page

    def repair(self, progress: Progress | None = None, *, embed: bool = True) -> RepairReport:
        """Make the index match the store: drop orphans, re-embed what is missing.

        A damaged index (Chroma fails to read it) is rebuilt from the store. With ``embed``
        false, records are only marked for embedding: a search never waits for a backlog.
        """
        try:
            return self._repair(progress, embed)
        except Exception as exc:
            if not _chroma_failure(exc):
                raise
            log.warning("the vector index is damaged (%s); rebuilding it from the database", exc)
            return RepairReport(0, self.rebuild(progress if embed else None, embed=embed))

    def _repair(self, progress: Progress | None, embed: bool) -> RepairReport:
        removed = 0
        if self.count() != self.store.expected_vector_total():
            expected = set(self.store.expected_vector_ids())
            present = self.all_ids()
            orphans = sorted(present - expected)
            if orphans:
                log.warning("removing %d vectors whose records are gone", len(orphans))
                self.delete(orphans)
                removed = len(orphans)
            missing = expected - present
            if missing:
                log.warning("%d vectors are missing; re-embedding their records", len(missing))
                keys = {(i.split(":")[0], int(i.split(":")[1])) for i in missing}
                self.store.mark_missing(keys)
        embedded = self.sync(progress) if embed else 0
        return RepairReport(removed, embedded)

    def rebuild(self, progress: Progress | None = None, *, embed: bool = True) -> int:
        """Delete the index folder and embed everything again from the store (with ``embed``
        false, only mark everything for embedding)."""
        with self._using(write=True):
            if self.in_memory:
                self._client.delete_collection(self._collection.name)
            else:
                _clear_systems(self._client)
                shutil.rmtree(self.path, ignore_errors=True)
            self._open()
            self._epoch = _EPOCH[0]
            self.store.clear_embedded()
            return self.sync(progress) if embed else 0

    # -- searching ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int,
        kinds: Sequence[str] = KINDS,
        since: float | None = None,
        until: float | None = None,
        app: str | None = None,
    ) -> list[tuple[str, int, float]]:
        """``(kind, rowid, distance)`` best first; several chunks of a record count once.

        Chroma's metadata ``where`` filter costs far more than the search itself (tens of ms at
        20k vectors, growing with the collection), so filters are applied here instead: kinds
        from the id, time and app by the store. A narrow filter (under 1/8 of all records, at
        most ``ID_CAP`` chunks) searches exactly among the chunk ids the store lists for it; a
        broader one over-fetches unfiltered neighbours and keeps those that pass, then falls
        back to the candidate ids; only a filter that is both broad and rare in the
        neighbourhood uses Chroma's ``where``.
        """
        # No count() here: Chroma counts by scanning (54 ms at 1M vectors), and a query asking
        # for more results than there are vectors simply returns them all.
        vector = self.embedder.embed([query])
        kinds = [k for k in KINDS if k in kinds]
        filtered = since is not None or until is not None or bool(app)
        if not filtered and len(kinds) == len(KINDS):
            return self._nearest(vector, limit * 2, limit)
        candidates = self.store.vector_ids_matching(kinds, since, until, app, cap=self.ID_CAP)
        if candidates is not None and not candidates:
            return []
        narrow = candidates is not None and (
            len(candidates) * self.NARROW < self.store.approx_record_total()
        )
        if not narrow:
            fetch = max(limit * 8, self.MIN_FETCH)
            found, chunks = self._nearest_chunks(vector, fetch, fetch)
            keep: list[tuple[str, int, float]] = []
            for kind in kinds:
                ids = [r for k, r, _ in found if k == kind]
                ok = (self.store.keep_matching(kind, ids, since, until, app) if filtered
                      else set(ids))
                keep.extend(hit for hit in found if hit[0] == kind and hit[1] in ok)
            keep.sort(key=lambda hit: hit[2])
            if len(keep) >= limit or chunks < fetch:  # enough, or that was the whole index
                return keep[:limit]
        if candidates is not None:
            try:
                return self._nearest(vector, limit * 2, limit, ids=candidates)
            except Exception as exc:  # Chroma refuses the whole list if one id is missing
                log.warning("vector search among %d candidates failed (%s); the index has "
                            "drifted, using a metadata filter", len(candidates), exc)
        return self._nearest(vector, limit * 2, limit, where=_where(kinds, since, until, app))

    # Unfiltered neighbours fetched for a filtered search before trying the store's candidates.
    MIN_FETCH = 400
    # A filter matching under 1/NARROW of all records goes straight to its candidates.
    NARROW = 8
    # Largest candidate list handed to Chroma as ``ids`` (above it, ``where`` is cheaper).
    ID_CAP = 50_000

    def _nearest(
        self, vector: npt.NDArray[np.float32], n: int, limit: int, *,
        ids: list[str] | None = None, where: dict[str, Any] | None = None,
    ) -> list[tuple[str, int, float]]:
        return self._nearest_chunks(vector, n, limit, ids=ids, where=where)[0]

    def _nearest_chunks(
        self, vector: npt.NDArray[np.float32], n: int, limit: int, *,
        ids: list[str] | None = None, where: dict[str, Any] | None = None,
    ) -> tuple[list[tuple[str, int, float]], int]:
        """Records of the ``n`` nearest chunks (best first, at most ``limit``) and chunk count."""
        kwargs: dict[str, Any] = {"ids": ids} if ids is not None else {}
        if where is not None:
            kwargs["where"] = where
        with self._using(write=False):
            result = self._collection.query(
                query_embeddings=vector, n_results=n, include=["distances"], **kwargs
            )
        seen: dict[tuple[str, int], float] = {}
        for chunk_id, dist in zip(result["ids"][0], result["distances"][0], strict=True):
            kind, rowid, _ = chunk_id.split(":")
            key = (kind, int(rowid))
            if key not in seen:
                seen[key] = float(dist)
        return [(k, r, d) for (k, r), d in list(seen.items())[:limit]], len(result["ids"][0])


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# The question kept with a reply is cut to this many characters (MiniLM reads 256 tokens).
MAX_QUESTION_CHARS = 300


def asked_before(text: str) -> str:
    """The question a message ends with (its last sentence), or "" when it ends otherwise.

    A reply is embedded a second time together with that question, so "what are Ana's plans
    for the summer?" finds Ana's "Researching adoption agencies." that answered "What are your
    plans for the summer?" - its own words never say what it is about.
    """
    text = text.strip()
    if not text.endswith("?"):
        return ""
    return _SENTENCE_END.split(text)[-1][-MAX_QUESTION_CHARS:]



def _where(
    kinds: Sequence[str], since: float | None, until: float | None, app: str | None
) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if set(kinds) != set(KINDS):
        clauses.append({"kind": {"$in": list(kinds)}})
    if since is not None:
        clauses.append({"time": {"$gte": float(since)}})
    if until is not None:
        clauses.append({"time": {"$lt": float(until)}})
    if app:
        clauses.append({"app": app})
    if len(clauses) == 1:
        return clauses[0]
    return {"$and": clauses} if clauses else None


def documents(store: Store, kind: str, ids: Sequence[int]) -> list[Document]:
    """The text chunks and metadata the vector index embeds for these records."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    docs: list[Document] = []
    if kind == "message":
        for rowid, speaker, text, t, source, asker, asked in store.db.execute(
            "SELECT m.id, m.speaker, m.text, m.time, c.source, p.speaker, p.text FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            f" LEFT JOIN messages p ON p.id = ({PREVIOUS_MESSAGE}) WHERE m.id IN ({marks})",
            list(ids),
        ).fetchall():
            body = f"{speaker}: {text}" if speaker else text
            chunks = [body]
            question = asked_before(asked or "")
            if question:
                chunks.append(f"{asker}: {question}\n{body}" if asker else f"{question}\n{body}")
            docs.append(Document(kind, rowid, tuple(chunks), t, source))
    elif kind == "frame":
        texts: dict[int, list[str]] = {}
        for frame_id, text in store.db.execute(
            f"SELECT frame_id, text FROM ocr_blocks WHERE frame_id IN ({marks})"
            " ORDER BY frame_id, block",
            list(ids),
        ).fetchall():
            texts.setdefault(frame_id, []).append(text)
        for rowid, app, title, t in store.db.execute(
            f"SELECT id, app, title, time FROM frames WHERE id IN ({marks})", list(ids)
        ).fetchall():
            words = " ".join(texts.get(rowid, [])).split()
            head = " - ".join(x for x in (app, title) if x)
            chunks = [
                " ".join(words[i : i + CHUNK_WORDS])
                for i in range(0, len(words), CHUNK_WORDS)
            ][:MAX_CHUNKS] or [""]
            chunks = [f"{head}\n{c}".strip() for c in chunks]
            docs.append(Document(kind, rowid, tuple(c for c in chunks if c), t, app))
    elif kind == "episode":
        for rowid, apps, titles, phrases, summary, start in store.db.execute(
            "SELECT id, apps, titles, key_phrases, summary, start FROM episodes"
            f" WHERE id IN ({marks})",
            list(ids),
        ).fetchall():
            app = (json.loads(apps) or [""])[0]
            docs.append(Document(kind, rowid, (f"{summary}\n{phrases}\n{titles}",), start, app))
    elif kind == "fact":
        for rowid, text, t in store.db.execute(
            f"SELECT id, text, last_confirmed FROM facts WHERE id IN ({marks})", list(ids)
        ).fetchall():
            docs.append(Document(kind, rowid, (text,), t, ""))
    return docs
