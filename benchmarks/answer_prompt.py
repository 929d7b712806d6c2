"""The answer prompt's first token: flash attention off/on, two or three demonstration turns.

Four model processes (the real worker, default model, 2 threads) each keep one configuration, so
llama.cpp's prefix cache holds that configuration's system prompt and demonstrations as it does
in the app. Each question gets ~``--evidence-tokens`` of real LoCoMo chat lines, formatted like
the assistant's evidence, and every configuration answers it in a shuffled order; the report is
the median first-token time per configuration and the median paired difference and ratio against
the old default (no flash attention, two turns). Needs ``../shared/data/locomo``; skips without.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from _common import SHARED_DATA, table, write_result
from memlane.core.paths import Paths, resolve_home
from memlane.models import prompts
from memlane.models.registry import resolve_model
from memlane.models.runtime import ModelProcess

THIRD = ("What did Lena love at the museum?", "The Monet room [1].")
CONFIGS = {  # name: (flash attention, demonstration turns)
    "no flash, 2 turns": (False, 2),
    "flash, 2 turns": (True, 2),
    "no flash, 3 turns": (False, 3),
    "flash, 3 turns": (True, 3),
}
BASE = "no flash, 2 turns"


def chat_lines(data: Path) -> tuple[list[str], list[str]]:
    samples = json.loads(data.read_text(encoding="utf-8"))
    lines, questions = [], []
    for sample in samples:
        conv = sample["conversation"]
        for key in sorted(k for k in conv if k.startswith("session_") and k[8:].isdigit()):
            when = conv.get(f"{key}_date_time", "")
            lines += [f"{when}, {turn['speaker']}: {turn['text']}" for turn in conv[key]]
        questions += [str(q["question"]) for q in sample["qa"]]
    return lines, questions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "locomo" / "locomo_dev5.json")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--evidence-tokens", type=int, default=300)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} is absent")
        return 0
    lines, questions = chat_lines(args.data)
    rng = random.Random(7)
    questions = rng.sample(questions, args.questions)
    info = resolve_model("default", Paths(resolve_home()).models)
    two = prompts.EXAMPLES[:2]
    models = {name: ModelProcess(info.path, info.name, context_size=2048, flash_attention=fa)
              for name, (fa, _) in CONFIGS.items()}
    try:
        counter = models[BASE]
        evidence = []
        for _ in questions:
            picked: list[str] = []
            for line in rng.sample(lines, 40):
                picked.append(f"[{len(picked) + 1}] {line}")
                if sum(counter.count_tokens(picked)) >= args.evidence_tokens:
                    break
            evidence.append(picked)

        def first_token_ms(name: str, question: str, lines: list[str]) -> float:
            prompts.EXAMPLES = (*two, THIRD) if CONFIGS[name][1] == 3 else two
            messages = prompts.build_messages(question, lines, "Monday, 4 March 2024, 09:00")
            start = time.perf_counter()
            first = None
            for _ in models[name].stream(messages, max_tokens=4):
                first = first if first is not None else time.perf_counter() - start
            return 1000 * (first if first is not None else time.perf_counter() - start)

        for name in CONFIGS:  # load, and put the fixed prefix in each process's cache
            first_token_ms(name, "warm up", evidence[0])
        times: dict[str, dict[int, list[float]]] = {name: {} for name in CONFIGS}
        for _ in range(args.rounds):
            for i, question in enumerate(questions):
                order = list(CONFIGS)
                rng.shuffle(order)
                for name in order:
                    times[name].setdefault(i, []).append(
                        first_token_ms(name, question, evidence[i]))
    finally:
        for model in models.values():
            model.close()
    per_q = {name: {i: statistics.mean(v) for i, v in runs.items()} for name, runs in times.items()}
    summary = {}
    rows = []
    for name in CONFIGS:
        diffs = [per_q[name][i] - per_q[BASE][i] for i in per_q[BASE]]
        ratios = [per_q[name][i] / per_q[BASE][i] for i in per_q[BASE]]
        summary[name] = {"first_token_p50_ms": statistics.median(per_q[name].values()),
                         "paired_diff_ms": statistics.median(diffs),
                         "paired_ratio": statistics.median(ratios)}
        rows.append([name, summary[name]["first_token_p50_ms"], summary[name]["paired_diff_ms"],
                     summary[name]["paired_ratio"]])
    print(table(["configuration", "first token p50 ms", f"vs {BASE} (ms, median paired)",
                 "ratio"], rows))
    write_result("answer_prompt", {"questions": args.questions, "rounds": args.rounds,
                                   "evidence_tokens": args.evidence_tokens, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
