"""LoCoMo question answering with the local model: official token-F1 per category, abstention, latency.

Each LoCoMo conversation is imported into its own temporary home and its questions are asked
through the real assistant (retrieval, evidence packing, the model in its own process, citation
check) with "today" set to the day after the conversation's last session. Scoring follows the
official LoCoMo scorer (snap-research/LoCoMo ``task_eval/evaluation.py``): answers are
normalised (lower case, punctuation, articles and commas removed) and Porter-stemmed; category 1
(multi-hop) averages the best F1 over comma-separated gold sub-answers; category 3 keeps the gold
text before ``;``; category 5 (adversarial, no answer exists) counts as correct when the answer
abstains. Categories are the data file's own labels (1 multi-hop, 2 temporal, 3 open-domain,
4 single-hop, 5 adversarial). Citations ``[n]`` are removed before scoring. Answers are scored
as shown, after the words restating the question were cut from their front, and also as the
model said them ("F1 uncut"), so that cut is measured in the same run.

The same questions are also answered with the gold evidence turns given as the only evidence
("oracle"), through the same checks, so retrieval failures and generation failures can be told
apart (``--oracle raw``: as the model said it, the definition used before December 2026). By
default a fixed, seeded sample of ``--per-category`` questions per category is used (2 cores are slow); ``--all``
asks every question.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nltk.stem import PorterStemmer

from _common import SHARED_DATA, percentile, table, write_result
from memlane.core.paths import Paths
from memlane.memory.records import Hit
from memlane.models.embedder import OnnxEmbedder
from memlane.models.prompts import (
    ANSWER_STOP,
    CITATION,
    CitationFilter,
    build_messages,
    is_abstention,
    lead_with_answer,
)
from memlane.models.runtime import Usage
from memlane.services.answer_checks import check_answer
from memlane.services.assistant import Assistant, Evidence, today_text
from memlane.services.engine import Engine
from memlane.services.evidence import evidence_line

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
STEM = PorterStemmer()


# -- the official LoCoMo scorer -------------------------------------------------------------------

def normalize_answer(s: str) -> str:
    s = s.replace(",", "")
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the|and)\b", " ", s)
    return " ".join(s.split())


def f1_score(prediction: str, truth: str) -> float:
    pred = [STEM.stem(w) for w in normalize_answer(prediction).split()]
    gold = [STEM.stem(w) for w in normalize_answer(truth).split()]
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold)
    return 2 * p * r / (p + r)


def f1_multi(prediction: str, truth: str) -> float:
    preds = [p.strip() for p in prediction.split(",")]
    golds = [g.strip() for g in truth.split(",")]
    return sum(max(f1_score(p, g) for p in preds) for g in golds) / len(golds)


def score(category: int, prediction: str, abstained: bool, gold: str) -> float:
    prediction = " ".join(CITATION.sub("", prediction).split())
    if category == 5:
        return 1.0 if abstained else 0.0
    if category == 3:
        gold = gold.split(";")[0].strip()
    if category == 1:
        return f1_multi(prediction, gold)
    return f1_score(prediction, gold)


# -- running --------------------------------------------------------------------------------------

def session_times(sample: dict[str, Any]) -> list[datetime]:
    conv = sample["conversation"]
    out = []
    for key, value in conv.items():
        if re.fullmatch(r"session_\d+_date_time", key):
            out.append(datetime.strptime(value, "%I:%M %p on %d %B, %Y"))
    return out


def choose(samples: list[dict[str, Any]], per_category: int | None,
           categories: Sequence[int] = tuple(CATEGORIES)) -> list[tuple[int, int]]:
    """(sample index, qa index) pairs: every question, or a seeded sample per category."""
    by_cat: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for s, sample in enumerate(samples):
        for q, item in enumerate(sample["qa"]):
            by_cat[int(item.get("category", 0))].append((s, q))
    rng = random.Random(0)
    picked: list[tuple[int, int]] = []
    for cat in sorted(CATEGORIES):
        items = by_cat.get(cat, []) if cat in categories else []
        picked += items if per_category is None else rng.sample(items, min(per_category, len(items)))
    return sorted(picked)


def oracle(assistant: Assistant, engine: Engine, item: dict[str, Any], now: datetime,
           usage: Usage, raw: bool = False) -> tuple[str, bool, float]:
    gold = {p.strip() for ev in item.get("evidence", []) for p in str(ev).split(";")}
    marks = ",".join("?" * len(gold))
    rows = engine.store.sql(f"SELECT id FROM messages WHERE external_id IN ({marks})", list(gold))
    hits: list[Hit] = sorted(engine.store.hits([("message", r[0]) for r in rows]).values(),
                             key=lambda h: h.time)
    searched = engine.search(item["question"], limit=1, now=now)
    evidence = [Evidence(i, h, evidence_line(i, h, searched.query))
                for i, h in enumerate(hits, start=1)]
    messages = build_messages(item["question"], [e.line for e in evidence], today_text(now))
    t0 = time.perf_counter()
    text = "".join(assistant.model.stream(messages, max_tokens=assistant.settings.max_tokens,
                                          usage=usage, stop=ANSWER_STOP))
    ms = (time.perf_counter() - t0) * 1000
    if raw:  # the model's answer as it came, only the words restating the question cut
        abstained = is_abstention(text)
        return (text if abstained else lead_with_answer(text, item["question"]), abstained, ms)
    # through the same checks as an answer from retrieval, so the two differ only in evidence
    check = CitationFilter(len(evidence))
    shown = check.feed(text) + check.flush()
    verdict = check_answer(item["question"], " ".join(shown.split()), evidence, searched.named)
    return verdict.text, verdict.abstained, ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "locomo" / "locomo_dev5.json")
    parser.add_argument("--per-category", type=int, default=30)
    parser.add_argument("--all", action="store_true", help="ask every question")
    parser.add_argument("--categories", default="1,2,3,4,5",
                        help="comma-separated categories to ask (default: all five)")
    parser.add_argument("--no-oracle", action="store_true")
    parser.add_argument("--oracle", choices=("checked", "raw"), default="checked",
                        help="the gold-evidence answer through the same checks as the answer "
                             "from retrieval (default), or as the model said it (before 2026-12)")
    parser.add_argument("--model", help="small, large, or a GGUF file (default: small)")
    parser.add_argument("--base", type=Path,
                        help="an earlier result (JSON) to compare with, question by question: "
                             "per-question F1 deltas, a bootstrap CI, answers up and down")
    parser.add_argument("--rerank", choices=("on", "off"),
                        help="override [answer] rerank (topic-overlap order before packing)")
    parser.add_argument("--name", default="locomo_qa",
                        help="result file name under benchmarks/results (default: locomo_qa)")
    parser.add_argument("--evidence-tokens", type=int,
                        help="override [answer] evidence_tokens (the context budget)")
    parser.add_argument("--evidence", type=int,
                        help="override [answer] evidence (how many search hits are kept)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found (LoCoMo data lives in ../shared/data)")
        return 0
    samples = json.loads(args.data.read_text())
    picked = choose(samples, None if args.all else args.per_category,
                    [int(c) for c in args.categories.split(",")])
    embedder = OnnxEmbedder()
    rows: list[dict[str, Any]] = []
    model = None
    with tempfile.TemporaryDirectory() as tmp:
        for s, sample in enumerate(samples):
            mine = [q for si, q in picked if si == s]
            if not mine:
                continue
            path = Path(tmp) / f"{sample['sample_id']}.json"
            path.write_text(json.dumps([sample]))
            engine = Engine(Paths(Path(tmp) / sample["sample_id"]), embedder=embedder)
            engine.settings.answer.remember = False  # questions must not become evidence
            engine.settings.model.path = args.model or "small"
            if args.evidence_tokens:
                engine.settings.answer.evidence_tokens = args.evidence_tokens
            if args.evidence:
                engine.settings.answer.evidence = args.evidence
            if args.rerank:
                engine.settings.answer.rerank = args.rerank == "on"
            if model is not None:  # one model process for all conversations
                engine.__dict__["model"] = model
            engine.import_chat(path, "locomo")
            assistant = engine.assistant()
            model = assistant.model
            now = (max(session_times(sample)) + timedelta(days=1)).astimezone()
            for q in mine:
                item = sample["qa"][q]
                cat = int(item["category"])
                gold = str(item.get("answer", item.get("adversarial_answer", "")))
                answer = assistant.ask(item["question"], now=now)
                row: dict[str, Any] = {
                    "sample": sample["sample_id"], "category": cat,
                    "question": item["question"], "gold": gold, "answer": answer.text,
                    "abstained": answer.abstained, "abstain_reason": answer.reason,
                    "draft": answer.draft, "led": answer.led,
                    "f1": score(cat, answer.text, answer.abstained, gold),
                    # the same answer before the words restating the question were cut
                    "f1_unled": score(cat, answer.draft if answer.led else answer.text,
                                      answer.abstained, gold),
                    # what the answer would have scored had no check replaced its draft
                    "f1_kept": score(cat, lead_with_answer(answer.draft, item["question"]),
                                     False, gold)
                    if answer.draft and (answer.abstained or answer.reason == "dated")
                    else None,
                    "first_token_ms": answer.timings.get("first_token_ms"),
                    "total_ms": answer.timings.get("total_ms"),
                    "context_tokens": answer.usage.prompt_tokens,
                    "cited": len(answer.citations),
                    # what the model was shown, so the checks can be re-run on it offline
                    "named": answer.named,
                    "said": answer.said,
                    "evidence": [{"n": e.n, "speaker": e.hit.speaker, "line": e.line,
                                  "cited_by": e.cited_by,
                                  "external_id": e.hit.source.get("external_id")}
                                 for e in answer.evidence],
                    "gold_evidence": [p.strip() for ev in item.get("evidence", [])
                                      for p in str(ev).split(";")],
                }
                if not args.no_oracle:
                    usage = Usage()
                    text, abstained, ms = oracle(assistant, engine, item, now, usage,
                                                 raw=args.oracle == "raw")
                    row.update(oracle_answer=text,
                               oracle_f1=score(cat, text, abstained, gold), oracle_ms=ms)
                rows.append(row)
                print(f"[{len(rows)}/{len(picked)}] c{cat} f1={row['f1']:.2f} "
                      f"{answer.timings.get('first_token_ms', 0):.0f}ms  {item['question'][:60]!r}"
                      f" -> {answer.text[:70]!r} (gold {gold[:40]!r})", file=sys.stderr, flush=True)
            engine.__dict__.pop("model", None)  # keep the process for the next conversation
            engine.close()
    if model is not None:
        model.close()
    summary = summarise(rows, not args.no_oracle)
    settings = engine.settings.answer
    payload: dict[str, Any] = {
        "questions": len(rows), "model": args.model or "small",
        "evidence_tokens": settings.evidence_tokens, "evidence": settings.evidence,
        "rerank": settings.rerank,
        "summary": summary, "rows": rows}
    if args.base:
        payload["paired"] = paired(json.loads(args.base.read_text())["rows"], rows)
    write_result(args.name, payload)
    return 0


def paired(base: list[dict[str, Any]], rows: list[dict[str, Any]], resamples: int = 2000,
           seed: int = 7) -> dict[str, Any]:
    """This run against ``base`` on the questions both asked: mean F1 delta (categories 1-4)
    with a 95% bootstrap interval, how many answers went up and down, and the adversarial
    questions that changed between abstaining and answering."""
    before = {(r["sample"], r["question"]): r for r in base}
    pairs = [(before[(r["sample"], r["question"])], r) for r in rows
             if (r["sample"], r["question"]) in before]
    answerable = [(b, r) for b, r in pairs if r["category"] != 5]
    deltas = [100 * (r["f1"] - b["f1"]) for b, r in answerable]
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(deltas) for _ in deltas) / len(deltas)
                   for _ in range(resamples)) if deltas else [0.0]
    adversarial = [(b, r) for b, r in pairs if r["category"] == 5]
    out = {
        "questions": len(pairs),
        "f1_delta_mean": sum(deltas) / max(len(deltas), 1),
        "f1_delta_ci95": [means[int(0.025 * len(means))], means[int(0.975 * len(means)) - 1]],
        "up": sum(d > 0 for d in deltas), "down": sum(d < 0 for d in deltas),
        "same": sum(d == 0 for d in deltas),
        "adversarial_now_abstains": sum(r["abstained"] and not b["abstained"]
                                        for b, r in adversarial),
        "adversarial_now_answers": sum(b["abstained"] and not r["abstained"]
                                       for b, r in adversarial),
        "by_category": {
            CATEGORIES[c]: sum(100 * (r["f1"] - b["f1"]) for b, r in answerable
                               if r["category"] == c) / max(sum(r["category"] == c
                                                                for _, r in answerable), 1)
            for c in (1, 2, 3, 4)},
    }
    lo, hi = out["f1_delta_ci95"]
    print(f"paired with the base on {len(pairs)} questions: F1 (1-4) {out['f1_delta_mean']:+.1f} "
          f"(95% CI {lo:+.1f} to {hi:+.1f}); {out['up']} up, {out['down']} down, "
          f"{out['same']} same; adversarial: {out['adversarial_now_abstains']} now abstain, "
          f"{out['adversarial_now_answers']} now answer")
    return out


def summarise(rows: list[dict[str, Any]], with_oracle: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    table_rows = []
    groups = [(CATEGORIES[c], [r for r in rows if r["category"] == c]) for c in CATEGORIES]
    groups.append(("1-4", [r for r in rows if r["category"] != 5]))
    for name, group in groups:
        if not group:
            continue
        f1 = 100 * sum(r["f1"] for r in group) / len(group)
        unled = 100 * sum(r.get("f1_unled", r["f1"]) for r in group) / len(group)
        entry = {"n": len(group), "f1": f1, "f1_unled": unled,
                 "led": sum(bool(r.get("led")) for r in group) / len(group),
                 "abstained": sum(r["abstained"] for r in group) / len(group)}
        if with_oracle:
            entry["oracle_f1"] = 100 * sum(r["oracle_f1"] for r in group) / len(group)
        summary[name] = entry
        table_rows.append([name, len(group), f1, unled, entry["led"],
                           entry.get("oracle_f1", float("nan")), entry["abstained"]])
    print(table(["category", "n", "F1", "F1 uncut", "cut", "oracle F1", "abstained"], table_rows))
    answerable = [r for r in rows if r["category"] != 5]
    adversarial = [r for r in rows if r["category"] == 5]
    # Abstention accuracy: abstain on adversarial questions, answer the answerable ones.
    correct = sum(r["abstained"] for r in adversarial) + sum(not r["abstained"] for r in answerable)
    summary["abstention_accuracy"] = correct / max(len(rows), 1)
    first = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None
             and r["abstain_reason"] != "no relevant memories"]
    total = [r["total_ms"] for r in rows if r["abstain_reason"] != "no relevant memories"]
    summary["first_token_ms"] = {"p50": percentile(first, 50), "p95": percentile(first, 95)}
    summary["total_ms"] = {"p50": percentile(total, 50), "p95": percentile(total, 95)}
    ctx = [r["context_tokens"] for r in rows if r["context_tokens"]]
    summary["context_tokens_mean"] = sum(ctx) / max(len(ctx), 1)
    summary["cited_share"] = sum(r["cited"] > 0 for r in answerable) / max(len(answerable), 1)
    print(f"abstention accuracy {summary['abstention_accuracy']:.3f}; first token p50 "
          f"{summary['first_token_ms']['p50']:.0f} ms p95 {summary['first_token_ms']['p95']:.0f} ms;"
          f" total p50 {summary['total_ms']['p50']:.0f} ms; context {summary['context_tokens_mean']:.0f}"
          f" tokens; answers with a citation {summary['cited_share']:.2f}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
