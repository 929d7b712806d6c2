"""Search latency and ingestion cost on synthetic stores of 100k (and, on request, 1M) records.

Records are chat messages built from a fixed vocabulary over a year of timestamps. Embedding a
million texts with MiniLM on 2 cores would take hours, so the real embedder embeds a pool of
distinct texts once and each record gets a pool vector plus small noise (same dimension, norm
and neighbourhood structure as real vectors); queries are embedded for real at search time. The
store, FTS5 indexes, Chroma index and retrieval code are the real ones. Reported: ingestion
records/s for SQLite+FTS5 and for Chroma, real embedding texts/s, bytes per record on disk, and
p50/p95 latency of hybrid search without and with a time filter.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import percentile, table, write_result
from memlane.app.engine import Engine
from memlane.app.paths import Paths
from memlane.memory.records import ConversationIn, MessageIn
from memlane.models.embedder import OnnxEmbedder

WORDS = (
    "flight hotel invoice meeting budget recipe garden python error deploy server lisbon tokyo "
    "doctor dentist birthday gift concert ticket football guitar lesson train delay report "
    "draft contract salary rent apartment bike repair camera photo beach hike mountain "
    "coffee bakery pizza sushi vegan marathon yoga sprint backlog review design invoice tax "
    "refund insurance passport visa museum painting novel podcast episode weather storm"
).split()
START = 1_700_000_000.0
YEAR = 365 * 86400.0


def make_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))


def fsize(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_size(n: int, embedder: OnnxEmbedder, pool: np.ndarray, queries: int) -> dict[str, float]:
    rng = random.Random(n)
    nrng = np.random.default_rng(n)
    with tempfile.TemporaryDirectory() as tmp:
        eng = Engine(Paths(Path(tmp) / "home"), embedder=embedder)
        batch = 20_000
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            msgs = tuple(
                MessageIn(str(i), rng.choice(["me", "Sam", "Kim"]), make_text(rng),
                          START + YEAR * i / n)
                for i in range(start, min(n, start + batch))
            )
            eng.store.import_conversations(
                [ConversationIn("synthetic", f"c{start}", "synthetic", START, msgs)]
            )
        sqlite_s = time.perf_counter() - t0
        # vectors: pool vector + noise, written through the real index (Chroma upserts)
        t1 = time.perf_counter()
        coll = eng.index._collection
        for start in range(0, n, 5000):
            ids = list(range(start + 1, min(n, start + 5000) + 1))
            vec = pool[nrng.integers(0, len(pool), len(ids))] + nrng.normal(0, 0.02, (len(ids), pool.shape[1]))
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            coll.upsert(
                ids=[f"message:{i}:0" for i in ids], embeddings=vec.astype(np.float32),
                metadatas=[{"kind": "message", "time": START + YEAR * (i - 1) / n, "app": "synthetic"}
                           for i in ids],
            )
            eng.store.mark_embedded("message", [(i, 1) for i in ids])
        chroma_s = time.perf_counter() - t1
        eng.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = fsize(eng.paths.db)
        vec_bytes = fsize(eng.paths.vectors)
        qs = [" ".join(rng.sample(WORDS, rng.randint(2, 4))) for _ in range(queries)]
        eng.search(qs[0])  # warm-up (loads the HNSW index)
        plain, filtered = [], []
        for q in qs:
            t = time.perf_counter()
            eng.search(q, limit=10)
            plain.append((time.perf_counter() - t) * 1000)
            since = START + rng.random() * (YEAR - 7 * 86400)
            t = time.perf_counter()
            eng.search(q, limit=10, since=since, until=since + 7 * 86400)
            filtered.append((time.perf_counter() - t) * 1000)
        eng.close()
    return {
        "records": n,
        "sqlite_fts_records_per_s": n / sqlite_s,
        "chroma_records_per_s": n / chroma_s,
        "db_bytes_per_record": db_bytes / n,
        "vector_bytes_per_record": vec_bytes / n,
        "p50_ms": percentile(plain, 50), "p95_ms": percentile(plain, 95),
        "p50_ms_time_filter": percentile(filtered, 50),
        "p95_ms_time_filter": percentile(filtered, 95),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    embedder = OnnxEmbedder()
    rng = random.Random(0)
    texts = [make_text(rng) for _ in range(2000)]
    t = time.perf_counter()
    pool = embedder.embed(texts).astype(np.float64)
    embed_rate = len(texts) / (time.perf_counter() - t)
    results = []
    for n in args.sizes:
        print(f"building {n} records ...", file=sys.stderr)
        results.append(run_size(n, embedder, pool, args.queries))
    keys = list(results[0])
    print(table(keys, [[r[k] for k in keys] for r in results]))
    print(f"real embedding: {embed_rate:.0f} texts/s (short texts, batch 32)")
    out = write_result("search_latency", {"embedding_texts_per_s": embed_rate, "sizes": results})
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
