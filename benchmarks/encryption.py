"""Encryption at rest, measured side by side: the same store plain and encrypted, in one run.

Builds a store of synthetic but realistically sized records (``archive.build``: frames with ~60
OCR words and a 640x400 WebP + thumbnail each, messages of 8-30 words), indexes its vectors once,
copies it and encrypts the copy (``memlane encrypt``'s code, timed). Then, alternating plain and
encrypted on every query so machine noise hits both alike: hybrid search (``Engine.search``,
keyword + vector + fusion + record fetch), keyword-only search (FTS5 + fetching the hits), and reading thumbnails the way
the timeline does. Reports medians, p95 and the encrypted/plain ratio; also the unlock time
(Argon2id) and the database size of each.
Run: ``python benchmarks/encryption.py [--frames 1000] [--messages 5000] [--queries 40]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import table, write_result
from archive import WORDS, build, db_mb
from memlane.core.paths import Paths
from memlane.memory import crypto
from memlane.services.encryption import encrypt_home
from memlane.services.engine import Engine

PASS = "benchmark passphrase"


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="memlane-enc-bench-"))
    try:
        plain, enc = tmp / "plain", tmp / "encrypted"
        build(plain, args.frames, args.messages, datetime(2026, 1, 5).timestamp())
        with Engine(Paths(plain)) as engine:
            t0 = time.perf_counter()
            engine.index.sync()
            print(f"indexed {args.frames + args.messages} records in "
                  f"{time.perf_counter() - t0:.0f} s")
        shutil.copytree(plain, enc)
        t0 = time.perf_counter()
        report = encrypt_home(Paths(enc), PASS)
        encrypt_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        keys = crypto.unlock(enc, PASS)
        unlock_s = time.perf_counter() - t0
        rng = random.Random(3)
        queries = [" ".join(rng.sample(WORDS, rng.randint(1, 3))) for _ in range(args.queries)]
        timings: dict[str, dict[str, list[float]]] = {
            m: {"plain": [], "encrypted": []} for m in ("hybrid search", "keyword search",
                                                          "thumbnail read")}
        with Engine(Paths(plain)) as a, Engine(Paths(enc), keys=keys, embedder=a.embedder) as b:
            engines = {"plain": a, "encrypted": b}
            thumbs = [r[0] for r in a.store.sql(
                "SELECT thumb_path FROM frames ORDER BY random() LIMIT ?", [args.queries])]
            for e in engines.values():  # warm: open the index, the embedder, the page cache
                e.search("warm up")
            for i, q in enumerate(queries):
                order = ("plain", "encrypted") if i % 2 == 0 else ("encrypted", "plain")
                for name in order:
                    e = engines[name]
                    t0 = time.perf_counter()
                    e.search(q)
                    timings["hybrid search"][name].append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    e.store.hits([(k, i) for k, i, _ in e.retriever.keyword(q, limit=20)])
                    timings["keyword search"][name].append((time.perf_counter() - t0) * 1000)
                    if thumbs:
                        t0 = time.perf_counter()
                        e.frame_files.read_bytes(thumbs[i % len(thumbs)])
                        timings["thumbnail read"][name].append((time.perf_counter() - t0) * 1000)
        rows, result = [], {"frames": args.frames, "messages": args.messages,
                            "queries": args.queries, "encrypt_s": encrypt_s,
                            "files_sealed": report.files, "unlock_s": unlock_s,
                            "db_mb": {"plain": db_mb(plain), "encrypted": db_mb(enc)},
                            "ms": {}}
        for what, by in timings.items():
            if not by["plain"]:
                continue
            mp, me = statistics.median(by["plain"]), statistics.median(by["encrypted"])
            rows.append([what, mp, me, me / mp, p95(by["plain"]), p95(by["encrypted"])])
            result["ms"][what] = {"plain_median": mp, "encrypted_median": me, "ratio": me / mp,
                                  "plain_p95": p95(by["plain"]),
                                  "encrypted_p95": p95(by["encrypted"])}
        print(table(["ms per call", "plain p50", "encrypted p50", "ratio", "plain p95",
                     "encrypted p95"], rows))
        print(f"encrypting the home: {encrypt_s:.1f} s ({report.files} image files sealed); "
              f"unlock (Argon2id): {unlock_s * 1000:.0f} ms; database {db_mb(plain):.1f} MB plain, "
              f"{db_mb(enc):.1f} MB encrypted")
        write_result("encryption", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
