"""Consolidation on LoCoMo: what it costs, what it stores, and whether answers get better.

For each chosen LoCoMo conversation two homes are built from the same import: "raw" (messages
only) and "consolidated" (after ``Engine.consolidate`` with the local model, or ``--no-model``).
Reported side by side in one run: records and database bytes before and after, consolidation
seconds per 1,000 messages, model calls and the share that returned nothing usable, facts added,
updated and retired, and LoCoMo QA F1 per category (official scorer, see locomo_qa.py) with the
mean context tokens per question, asking the same seeded questions in both homes with one model
process. The data's own ``session_summary`` fields are used as a reference for the chat
episodes: the token-F1 of each episode summary against the session's reference summary.

``--reference`` adds a third home: the same import plus the data's own ``observation`` fields
stored as facts (written by people, each linked to the message it cites, relative dates resolved
at that message's day), so one run shows what facts as good as the reference would score with the
same retrieval and the same answering model. ``--budgets`` asks the consolidated (and reference)
homes again at smaller evidence budgets, for the "better answers from fewer context tokens"
comparison; the raw home always answers at the configured budget.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, table, write_result
from locomo_qa import CATEGORIES, choose, f1_score, score, session_times
from memlane.core.paths import Paths
from memlane.memory import facts as fx
from memlane.memory.episodes import episodes_between
from memlane.memory.timeparse import resolve_relative
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine


def db_bytes(engine: Engine) -> int:
    engine.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return engine.paths.db.stat().st_size


def reference_facts(engine: Engine, sample: dict[str, Any]) -> int:
    """Store the sample's ``observation`` fields as current facts of the person they are about;
    return how many (an observation citing no imported message is left out)."""
    said = {str(ext): (int(rowid), float(t)) for rowid, ext, t in engine.store.sql(
        "SELECT id, external_id, time FROM messages")}
    stored = 0
    with engine.store.transaction() as conn:
        for people in sample.get("observation", {}).values():
            for person, observed in people.items():
                for text, evidence in observed:
                    cited = [said[r] for r in re.findall(r"D\d+:\d+", str(evidence)) if r in said]
                    if not cited:
                        continue
                    first = min(t for _, t in cited)
                    when = datetime.fromtimestamp(first).astimezone()
                    fact = fx.FactIn(resolve_relative(" ".join(str(text).split()), when), "fact",
                                     0.6, person, first, tuple(("message", i) for i, _ in cited))
                    fx.apply(conn, fact, fx.Decision("ADD"))
                    stored += 1
    engine.index.sync()
    return stored


def asked(homes: dict[str, Engine], budgets: list[int]) -> list[tuple[str, Engine, int]]:
    """``(config, home, evidence budget or 0 for the configured one)`` to ask each question in:
    raw once, every other home once per budget ("consolidated@250")."""
    out: list[tuple[str, Engine, int]] = []
    for mode, engine in homes.items():
        if mode == "raw" or not budgets:
            out.append((mode, engine, 0))
        else:
            out += [(f"{mode}@{b}", engine, b) for b in budgets]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "locomo" / "locomo_dev5.json")
    parser.add_argument("--conversations", type=int, default=1,
                        help="how many of the file's conversations (the model is slow on 2 cores)")
    parser.add_argument("--per-category", type=int, default=8,
                        help="seeded questions per category; 0 asks every question")
    parser.add_argument("--categories", default=",".join(map(str, CATEGORIES)),
                        help="LoCoMo categories to ask, e.g. 1,2 (multi-hop and temporal)")
    parser.add_argument("--budgets", default="",
                        help="evidence token budgets for the consolidated and reference homes, "
                             "e.g. 300,250,200 (default: the configured one)")
    parser.add_argument("--derived-weight", type=float, default=None,
                        help="retrieval weight of facts and episodes in those homes "
                             "(default: the configured one)")
    parser.add_argument("--model", help="GGUF file for consolidation and answers "
                                         "(default: the embedded default model)")
    parser.add_argument("--reference", action="store_true",
                        help="add a home whose facts are the data's own observations")
    parser.add_argument("--memory-model", metavar="MODEL",
                        help="small, large or a GGUF file that consolidates (default: the one "
                             "that answers), as the app's [memory] model does while you are idle")
    parser.add_argument("--no-model", action="store_true", help="extractive consolidation only")
    parser.add_argument("--name", default="consolidation", help="result file name")
    parser.add_argument("--max-model-calls", type=int, default=10**9, metavar="N",
                        help="model calls per conversation; the rest is extractive (a call "
                             "took about 10 s on 2 cores)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found (LoCoMo data lives in ../shared/data)")
        return 0
    samples = json.loads(args.data.read_text())[: args.conversations]
    categories = [int(c) for c in args.categories.split(",") if c.strip()]
    picked = choose(samples, args.per_category or None, categories)
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    compact = ["consolidated"] + (["reference"] if args.reference else [])
    reference_stored = 0
    configs: list[str] = []
    embedder = OnnxEmbedder()
    model = None
    writer = None  # the consolidating model, when --memory-model names another
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
            for mode in ["raw", *compact]:
                engine = Engine(Paths(Path(tmp) / mode / sample["sample_id"]), embedder=embedder)
                engine.settings.answer.remember = False
                if args.model:
                    engine.settings.model.path = args.model
                if model is not None:
                    engine.__dict__["model"] = model
                engine.import_chat(path, "locomo")
                model = engine.model
                homes[mode] = engine
                if mode in compact and args.derived_weight is not None:
                    engine.retriever.settings.derived_weight = args.derived_weight
            if args.reference:
                reference_stored += reference_facts(homes["reference"], sample)
            configs = [config for config, _, _ in asked(homes, budgets)]
            eng = homes["consolidated"]
            before = eng.store.counts()
            stats["messages"] += before["messages"]
            stats["records_before"] += before["messages"]
            stats["bytes_before"] += db_bytes(eng)
            if args.memory_model:
                if writer is None:
                    from memlane.services.model_setup import model_process

                    writer = model_process(eng.paths, eng.settings, args.memory_model,
                                           eng.settings.model.context_size)
                eng.__dict__["model"] = writer
            t0 = time.perf_counter()
            report = eng.consolidate(use_model=not args.no_model,
                                     max_model_calls=args.max_model_calls)
            stats["seconds"] += time.perf_counter() - t0
            eng.__dict__["model"] = model
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
                for config, engine, budget in asked(homes, budgets):
                    assistant = engine.assistant()
                    if budget:
                        assistant.settings.evidence_tokens = budget
                    answer = assistant.ask(item["question"], now=now)
                    row[config] = {"answer": answer.text, "abstained": answer.abstained,
                                   "f1": score(cat, answer.text, answer.abstained, gold),
                                   "context_tokens": answer.usage.prompt_tokens,
                                   "kinds": sorted({e.hit.kind for e in answer.evidence})}
                rows.append(row)
                scores = " ".join(f"{c} {v['f1']:.2f}" for c, v in row.items()
                                  if isinstance(v, dict))
                print(f"[{len(rows)}/{len(picked)}] c{cat} {scores} {item['question'][:60]!r}",
                      file=sys.stderr, flush=True)
            for engine in homes.values():
                engine.__dict__.pop("model", None)
                engine.close()
    for process in (model, writer):
        if process is not None:
            process.close()
    summary: dict[str, Any] = {}
    groups = [(CATEGORIES[c], [r for r in rows if r["category"] == c]) for c in CATEGORIES]
    groups.append(("1-4", [r for r in rows if r["category"] != 5]))
    groups = [(name, group) for name, group in groups if group]
    out_rows = []
    for config in configs:
        entry: dict[str, Any] = {}
        for name, group in groups:
            entry[name] = {"n": len(group),
                           "f1": 100 * sum(r[config]["f1"] for r in group) / len(group)}
        ctx = [r[config]["context_tokens"] for r in rows if r[config]["context_tokens"]]
        entry["context_tokens"] = sum(ctx) / max(len(ctx), 1)
        summary[config] = entry
        out_rows.append([config, *(entry[name]["f1"] for name, _ in groups),
                         entry["context_tokens"]])
    print(table(["home", *(f"{name} F1 (n={len(g)})" for name, g in groups), "ctx tokens"],
                out_rows))
    if args.reference:
        print(f"reference: {reference_stored} of the data's observations stored as facts")
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
    write_result(args.name, {
        "conversations": len(samples), "no_model": args.no_model, "categories": categories,
        "budgets": budgets, "derived_weight": args.derived_weight, "model": args.model,
        "memory_model": args.memory_model,
        "reference_facts": reference_stored,
        "max_model_calls": args.max_model_calls,
        "seconds_per_1000_messages": per_k, "unusable_share": unusable,
        "summary_reference_f1": 100 * sum(ref_f1) / max(len(ref_f1), 1),
        "model_summaries": by_model, "stats": stats, "qa": summary, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
