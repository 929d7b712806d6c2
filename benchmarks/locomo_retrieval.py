"""LoCoMo turn-level evidence retrieval: Memlane's hybrid search against plain BM25, same run.

Each LoCoMo conversation is one person's memory: it is imported with ``memlane import-chat`` into
its own temporary home, and every category 1-4 question is searched there (messages only, no
answer given). For each question we compute recall@k (share of its evidence turns among the top k)
and the reciprocal rank of the first evidence turn, averaged per category. The baseline is an
Okapi BM25 (k1=1.5, b=0.75) over the same turns with lower-cased word tokens and the same
stop-word list, scored in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, table, write_result
from memlane.core.paths import Paths
from memlane.core.text import STOP_WORDS as STOPWORDS
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10, 25)
WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    def __init__(self, docs: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.docs = [tokens(d) for d in docs]
        self.k1, self.b = k1, b
        self.avg = sum(map(len, self.docs)) / max(len(self.docs), 1)
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(set(d))
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.tf = [Counter(d) for d in self.docs]

    def rank(self, query: str) -> list[int]:
        q = tokens(query)
        scores = []
        for i, tf in enumerate(self.tf):
            norm = self.k1 * (1 - self.b + self.b * len(self.docs[i]) / self.avg)
            s = sum(self.idf.get(t, 0) * tf[t] * (self.k1 + 1) / (tf[t] + norm) for t in q if t in tf)
            scores.append(s)
        return sorted(range(len(scores)), key=lambda i: -scores[i])


def evidence_ids(item: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for ev in item.get("evidence", []):
        for part in str(ev).split(";"):
            part = part.strip()
            if re.fullmatch(r"D\d+:\d+", part):
                out.add(part)
    return out


def score(ranked: list[str], gold: set[str]) -> dict[str, float]:
    row = {f"r@{k}": len(gold & set(ranked[:k])) / len(gold) for k in KS}
    first = next((i for i, x in enumerate(ranked) if x in gold), None)
    row["mrr"] = 0.0 if first is None else 1 / (first + 1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "locomo" / "locomo_dev5.json")
    parser.add_argument("--limit-conversations", type=int, default=None)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found (LoCoMo data lives in ../shared/data)")
        return 0
    samples = json.loads(args.data.read_text())[: args.limit_conversations]
    embedder = OnnxEmbedder()
    per: dict[str, dict[int, list[dict[str, float]]]] = {"memlane": defaultdict(list),
                                                        "bm25": defaultdict(list)}
    timings: dict[str, float] = {"import_s": 0.0, "search_ms_total": 0.0}
    questions = 0
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            path = Path(tmp) / f"{sample['sample_id']}.json"
            path.write_text(json.dumps([sample]))
            with Engine(Paths(Path(tmp) / sample["sample_id"]), embedder=embedder) as engine:
                t0 = time.perf_counter()
                engine.import_chat(path, "locomo")
                timings["import_s"] += time.perf_counter() - t0
                turns = engine.store.sql("SELECT external_id, speaker, text FROM messages ORDER BY id")
                ext_ids = [t[0] for t in turns]
                bm25 = BM25([f"{t[1]}: {t[2]}" for t in turns])
                for item in sample["qa"]:
                    cat = int(item.get("category", 0))
                    gold = evidence_ids(item)
                    if cat not in CATEGORIES or not gold:
                        continue
                    questions += 1
                    t1 = time.perf_counter()
                    result = engine.search(item["question"], kinds=("message",), limit=max(KS))
                    timings["search_ms_total"] += (time.perf_counter() - t1) * 1000
                    ours = [h.source["external_id"] for h in result.hits]
                    theirs = [ext_ids[i] for i in bm25.rank(item["question"])[: max(KS)]]
                    per["memlane"][cat].append(score(ours, gold))
                    per["bm25"][cat].append(score(theirs, gold))

    def mean(rows: list[dict[str, float]], key: str) -> float:
        return sum(r[key] for r in rows) / max(len(rows), 1)

    summary: dict[str, Any] = {}
    rows_out = []
    for system in ("bm25", "memlane"):
        summary[system] = {}
        groups = [(CATEGORIES[c], per[system][c]) for c in sorted(CATEGORIES)]
        groups.append(("overall", [r for c in CATEGORIES for r in per[system][c]]))
        for name, rows in groups:
            metrics = {k: mean(rows, k) for k in [f"r@{k}" for k in KS] + ["mrr"]}
            summary[system][name] = {"n": len(rows), **metrics}
            rows_out.append([system, name, len(rows), *metrics.values()])
    print(table(["system", "category", "n", "r@5", "r@10", "r@25", "mrr"], rows_out))
    beats = {
        name: summary["memlane"][name]["r@10"] > summary["bm25"][name]["r@10"]
        for name in summary["memlane"]
    }
    print("memlane recall@10 beats BM25:", beats)
    timings["search_ms_mean"] = timings["search_ms_total"] / max(questions, 1)
    print(f"{questions} questions; import {timings['import_s']:.1f} s; "
          f"search mean {timings['search_ms_mean']:.1f} ms")
    out = write_result("locomo_retrieval", {"questions": questions, "summary": summary,
                                            "beats_bm25_r10": beats, "timings": timings})
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
