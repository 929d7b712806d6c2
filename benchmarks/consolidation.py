"""Consolidation on LoCoMo: what it costs, what it stores, and whether answers get better.

For each chosen LoCoMo conversation two homes are built from the same import: "raw" (messages
only) and "consolidated" (after ``Engine.consolidate`` with the local model, or ``--no-model``).
Reported side by side in one run: records and database bytes before and after, consolidation
seconds per 1,000 messages, model calls and the share that returned nothing usable, facts added,
updated and retired, and LoCoMo QA F1 per category (official scorer, see locomo_qa.py) with the
mean context tokens per question, asking the same seeded questions in both homes with one model
process. The data's own ``session_summary`` fields are used as a reference for the chat
episodes: the token-F1 of each episode summary against the session's reference summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, table, write_result
from locomo_qa import CATEGORIES, choose, f1_score, score, session_times
from memlane.app.engine import Engine
from memlane.app.paths import Paths
from memlane.memory.episodes import episodes_between
from memlane.models.embedder import OnnxEmbedder


def db_bytes(engine: Engine) -> int:
    engine.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return engine.paths.db.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "locomo" / "locomo_dev5.json")
    parser.add_argument("--conversations", type=int, default=1,
                        help="how many of the file's conversations (the model is slow on 2 cores)")
    parser.add_argument("--per-category", type=int, default=8)
    parser.add_argument("--no-model", action="store_true", help="extractive consolidation only")
    parser.add_argument("--max-model-calls", type=int, default=10**9, metavar="N",
                        help="model calls per conversation; the rest is extractive (a call "
                             "took about 10 s on 2 cores)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found (LoCoMo data lives in ../shared/data)")
        return 0
    samples = json.loads(args.data.read_text())[: args.conversations]
    picked = choose(samples, args.per_category)
    embedder = OnnxEmbedder()
    model = None
    stats: dict[str, Any] = {"messages": 0, "seconds": 0.0, "model_calls": 0, "unusable": 0,
                             "added": 0, "updated": 0, "retired": 0, "confirmed": 0,
                             "episodes": 0, "digests": 0, "records_before": 0,
                             "records_after": 0, "bytes_before": 0, "bytes_after": 0}
    ref_f1: list[float] = []
    by_model = 0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for s, sample in enumerate(samples):
            path = Path(tmp) / f"{sample['sample_id']}.json"
            path.write_text(json.dumps([sample]))
            homes: dict[str, Engine] = {}
            for mode in ("raw", "consolidated"):
                engine = Engine(Paths(Path(tmp) / mode / sample["sample_id"]), embedder=embedder)
                engine.settings.answer.remember = False
                if model is not None:
                    engine.__dict__["model"] = model
                engine.import_chat(path, "locomo")
                model = engine.model
                homes[mode] = engine
            eng = homes["consolidated"]
            before = eng.store.counts()
            stats["messages"] += before["messages"]
            stats["records_before"] += before["messages"]
            stats["bytes_before"] += db_bytes(eng)
            t0 = time.perf_counter()
            report = eng.consolidate(use_model=not args.no_model,
                                     max_model_calls=args.max_model_calls)
            stats["seconds"] += time.perf_counter() - t0
            after = eng.store.counts()
            stats["records_after"] += after["messages"] + after["episodes"] + after["facts"]
            stats["bytes_after"] += db_bytes(eng)
            for key, attr in (("model_calls", "model_calls"), ("unusable", "model_unusable"),
                              ("added", "added"), ("updated", "updated"),
                              ("retired", "retired"), ("confirmed", "confirmed"),
                              ("episodes", "chat_episodes"), ("digests", "digests")):
                stats[key] += getattr(report, attr)
            print(f"{sample['sample_id']}: {report.to_json()}", file=sys.stderr, flush=True)
            # Episode summaries against the data's session summaries (same day, in order).
            refs = [v for k, v in sorted(sample.get("session_summary", {}).items(),
                                         key=lambda kv: int(kv[0].split("_")[1]))]
            chats = [e for e in episodes_between(eng.store, None, None, level="episode")
                     if e.kind == "chat"]
            by_model += sum(e.summary_by == "model" for e in chats)
            if len(refs) == len(chats):
                ref_f1 += [f1_score(e.summary, ref) for e, ref in zip(chats, refs, strict=True)]
            now = (max(session_times(sample)) + timedelta(days=1)).astimezone()
            for q in [q for si, q in picked if si == s]:
                item = sample["qa"][q]
                cat = int(item["category"])
                gold = str(item.get("answer", item.get("adversarial_answer", "")))
                row: dict[str, Any] = {"sample": sample["sample_id"], "category": cat,
                                       "question": item["question"], "gold": gold}
                for mode, engine in homes.items():
                    answer = engine.assistant().ask(item["question"], now=now)
                    row[mode] = {"answer": answer.text, "abstained": answer.abstained,
                                 "f1": score(cat, answer.text, answer.abstained, gold),
                                 "context_tokens": answer.usage.prompt_tokens,
                                 "kinds": sorted({e.hit.kind for e in answer.evidence})}
                rows.append(row)
                print(f"[{len(rows)}/{len(picked)}] c{cat} raw {row['raw']['f1']:.2f} "
                      f"consolidated {row['consolidated']['f1']:.2f} {item['question'][:60]!r}",
                      file=sys.stderr, flush=True)
            for engine in homes.values():
                engine.__dict__.pop("model", None)
                engine.close()
    if model is not None:
        model.close()
    out_rows = []
    summary: dict[str, Any] = {}
    groups = [(CATEGORIES[c], [r for r in rows if r["category"] == c]) for c in CATEGORIES]
    groups.append(("1-4", [r for r in rows if r["category"] != 5]))
    for name, group in groups:
        if not group:
            continue
        entry: dict[str, Any] = {"n": len(group)}
        for mode in ("raw", "consolidated"):
            entry[f"{mode}_f1"] = 100 * sum(r[mode]["f1"] for r in group) / len(group)
            ctx = [r[mode]["context_tokens"] for r in group if r[mode]["context_tokens"]]
            entry[f"{mode}_context_tokens"] = sum(ctx) / max(len(ctx), 1)
        summary[name] = entry
        out_rows.append([name, len(group), entry["raw_f1"], entry["consolidated_f1"],
                         entry["raw_context_tokens"], entry["consolidated_context_tokens"]])
    print(table(["category", "n", "raw F1", "consolidated F1", "raw ctx tokens",
                 "consolidated ctx tokens"], out_rows))
    per_k = stats["seconds"] / max(stats["messages"], 1) * 1000
    unusable = stats["unusable"] / max(stats["model_calls"], 1)
    print(f"consolidation: {stats['messages']} messages in {stats['seconds']:.1f} s "
          f"({per_k:.1f} s per 1,000 messages); {stats['episodes']} chat episodes "
          f"({by_model} summarised by the model), {stats['digests']} digests; facts "
          f"{stats['added']} added, {stats['updated']} updated, {stats['retired']} retired, "
          f"{stats['confirmed']} confirmed; {stats['model_calls']} model calls, "
          f"{unusable:.0%} unusable; records {stats['records_before']} -> "
          f"{stats['records_after']}, database {stats['bytes_before'] / 1e6:.2f} -> "
          f"{stats['bytes_after'] / 1e6:.2f} MB; episode summary F1 vs the data's session "
          f"summaries {100 * sum(ref_f1) / max(len(ref_f1), 1):.1f}")
    write_result("consolidation", {
        "conversations": len(samples), "no_model": args.no_model,
        "max_model_calls": args.max_model_calls,
        "seconds_per_1000_messages": per_k, "unusable_share": unusable,
        "summary_reference_f1": 100 * sum(ref_f1) / max(len(ref_f1), 1),
        "model_summaries": by_model, "stats": stats, "qa": summary, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
