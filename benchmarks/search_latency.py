"""Search latency and ingestion cost on synthetic stores of 100k and 1M records.

Records are chat messages spread over a year of timestamps. By default (``--vocab zipf``) their
words follow a Zipf law (s=1.05) over the ~21k whole words of the packaged WordPiece vocabulary,
in its frequency order, as real text does; queries are known-item queries, 2-3 words taken from a
random record, skipping the 150 most frequent words (what real queries skip too). ``--vocab tiny``
is the stress case: every record is 6-18 words out of 75, so each query word sits in ~15% of all
records and BM25 has to score hundreds of thousands of matches. Embedding a
million texts with MiniLM on 2 cores would take hours, so the real embedder embeds a pool of
distinct texts once and each record gets a pool vector plus small noise (same dimension, norm
and neighbourhood structure as real vectors); queries are embedded for real at search time. The
store, FTS5 indexes, Chroma index and retrieval code are the real ones. Reported: ingestion
records/s for SQLite+FTS5 and for Chroma, real embedding texts/s, bytes per record on disk, and
p50/p95 latency of hybrid search without and with a time filter.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, percentile, table, write_result
from memlane.core.paths import Paths
from memlane.memory.records import ConversationIn, MessageIn
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine

TINY = (
    "flight hotel invoice meeting budget recipe garden python error deploy server lisbon tokyo "
    "doctor dentist birthday gift concert ticket football guitar lesson train delay report "
    "draft contract salary rent apartment bike repair camera photo beach hike mountain "
    "coffee bakery pizza sushi vegan marathon yoga sprint backlog review design invoice tax "
    "refund insurance passport visa museum painting novel podcast episode weather storm"
).split()
START = 1_700_000_000.0
YEAR = 365 * 86400.0
TOKENIZER = ROOT / "src" / "memlane" / "models" / "data" / "tokenizer.json"
COMMON = 150  # the most frequent words, which known-item queries skip


class Texts:
    """Synthetic record texts and queries for one vocabulary model."""

    def __init__(self, vocab: str, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = vocab
        if vocab == "tiny":
            self.words = np.array(TINY)
            self.p = np.full(len(TINY), 1 / len(TINY))
        else:
            tokens = json.loads(TOKENIZER.read_text())["model"]["vocab"]
            words = [t for t in tokens if t.isalpha() and t.isascii() and len(t) >= 3]
            self.words = np.array(words)
            ranks = np.arange(1, len(words) + 1, dtype=np.float64)
            self.p = ranks ** -1.05
            self.p /= self.p.sum()

    def batch(self, n: int) -> list[str]:
        lengths = self.rng.integers(6, 19, n)
        flat = self.rng.choice(len(self.words), int(lengths.sum()), p=self.p)
        out, at = [], 0
        for k in lengths:
            out.append(" ".join(self.words[flat[at : at + k]]))
            at += k
        return out

    def queries(self, records: list[str], n: int) -> list[str]:
        rng = random.Random(7)
        common = set(self.words[:COMMON]) if self.vocab == "zipf" else set()
        qs: list[str] = []
        while len(qs) < n:
            words = [w for w in dict.fromkeys(rng.choice(records).split()) if w not in common]
            if len(words) >= 2:
                qs.append(" ".join(rng.sample(words, min(len(words), rng.randint(2, 3)))))
        return qs


def fsize(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(home: Path, n: int, vocab: str, embedder: OnnxEmbedder, pool: np.ndarray) -> dict[str, float]:
    """Fill a fresh home with ``n`` records through the real store and the real Chroma index."""
    texts = Texts(vocab, n)
    rng = random.Random(n)
    nrng = np.random.default_rng(n)
    eng = Engine(Paths(home), embedder=embedder)
    batch = 20_000
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        size = min(n, start + batch) - start
        msgs = tuple(
            MessageIn(str(start + j), rng.choice(["me", "Sam", "Kim"]), text,
                      START + YEAR * (start + j) / n)
            for j, text in enumerate(texts.batch(size))
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
        if start % 100_000 == 0:
            print(f"  vectors {start + len(ids)}/{n}", file=sys.stderr, flush=True)
    chroma_s = time.perf_counter() - t1
    eng.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.close()
    return {"sqlite_fts_records_per_s": n / sqlite_s, "chroma_records_per_s": n / chroma_s}


def measure(home: Path, n: int, vocab: str, embedder: OnnxEmbedder, queries: int) -> dict[str, float]:
    eng = Engine(Paths(home), embedder=embedder)
    sample = [r[0] for r in eng.store.sql(
        "SELECT text FROM messages WHERE id % ? = 0 LIMIT 5000", [max(1, n // 5000)])]
    qs = Texts(vocab, 0).queries(sample, queries)
    rng = random.Random(1)
    eng.search(qs[0])  # warm-up (loads the HNSW index)
    plain, filtered = [], []
    parts: dict[str, list[float]] = {}
    for q in qs:
        t = time.perf_counter()
        res = eng.search(q, limit=10)
        plain.append((time.perf_counter() - t) * 1000)
        for key, ms in res.timings.items():
            parts.setdefault(key, []).append(ms)
        since = START + rng.random() * (YEAR - 7 * 86400)
        t = time.perf_counter()
        res = eng.search(q, limit=10, since=since, until=since + 7 * 86400)
        filtered.append((time.perf_counter() - t) * 1000)
        for key, ms in res.timings.items():
            parts.setdefault(f"filtered_{key}", []).append(ms)
    eng.close()
    out = {
        "records": n, "vocab": vocab,
        "db_bytes_per_record": fsize(Paths(home).db) / n,
        "vector_bytes_per_record": fsize(Paths(home).vectors) / n,
        "p50_ms": percentile(plain, 50), "p95_ms": percentile(plain, 95),
        "p50_ms_time_filter": percentile(filtered, 50),
        "p95_ms_time_filter": percentile(filtered, 95),
    }
    out["parts_p50_ms"] = {k: round(percentile(v, 50), 1) for k, v in sorted(parts.items())}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--vocab", choices=["zipf", "tiny"], nargs="+", default=["zipf"])
    parser.add_argument("--keep", type=Path, help="keep the built homes under this folder and "
                        "re-use them on the next run (only the search half is measured again)")
    args = parser.parse_args()
    embedder = OnnxEmbedder()
    texts = Texts("tiny", 0).batch(1000) + Texts("zipf", 0).batch(1000)
    t = time.perf_counter()
    pool = embedder.embed(texts).astype(np.float64)
    embed_rate = len(texts) / (time.perf_counter() - t)
    results = []
    scratch = Path(tempfile.mkdtemp(prefix="memlane-bench-"))
    try:
        for vocab in args.vocab:
            for n in args.sizes:
                home = (args.keep or scratch) / f"{vocab}-{n}"
                row: dict[str, float] = {}
                if not (args.keep and (home / "built").exists()):
                    shutil.rmtree(home, ignore_errors=True)
                    print(f"building {n} records ({vocab}) ...", file=sys.stderr, flush=True)
                    row.update(build(home, n, vocab, embedder, pool))
                    (home / "built").write_text(json.dumps(row))
                else:
                    row.update(json.loads((home / "built").read_text()))
                row.update(measure(home, n, vocab, embedder, args.queries))
                results.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if not args.keep:
                    shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    keys = ["records", "vocab", "sqlite_fts_records_per_s", "chroma_records_per_s",
            "db_bytes_per_record", "vector_bytes_per_record", "p50_ms", "p95_ms",
            "p50_ms_time_filter", "p95_ms_time_filter"]
    print(table(keys, [[r[k] for k in keys] for r in results]))
    for r in results:
        print(f"{r['vocab']} {r['records']}: p50 parts {r['parts_p50_ms']}")
    print(f"real embedding: {embed_rate:.0f} texts/s (short texts, batch 32)")
    out = write_result("search_latency", {"embedding_texts_per_s": embed_rate, "sizes": results})
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
