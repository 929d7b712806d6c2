"""Which of the checks that replace a draft with an abstention earn their place, leave-one-out.

Reads a ``locomo_qa.py`` result (its rows keep, for every draft a check replaced, what that
draft would have scored, ``f1_kept``, and the evidence lines the model was shown) and tries each
combination of the checks that replace drafts ("no answer in the evidence", "unsupported",
"about someone else", "off topic", and "dated", which replaces a date rather than abstaining), on
or off; "off topic" is re-run on the stored evidence of answered rows, so a result from before it
existed can be judged.
For each conversation in turn, the combination is chosen on the *other* conversations (highest
F1 on categories 1-4 whose adversarial correct rate is not below the one with every check on),
then scored on the held-out one: the leave-one-conversation-out figure, next to the figure for
the combination chosen on all of them ("dev") and for today's (all on). A check turned off is
assumed to let its draft through the checks after it: an upper bound on what turning it off
gives, stated as such.

    python benchmarks/answer_checks_loo.py benchmarks/results/locomo_qa_small.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import table, write_result

CHECKS = ("no answer in the evidence", "unsupported", "about someone else", "off topic",
          "dated")


def off_topic(row: dict[str, Any]) -> bool:
    """Whether the "off topic" check fires on a row the run answered (rows that keep what the
    model was shown: runs from before the check existed are re-checked offline)."""
    from memlane.services.answer_lines import off_topic as check

    cited = [e["line"] for e in row.get("evidence", []) if e.get("cited_by")]
    return check(row["question"], row.get("named", []), cited)


def outcome(row: dict[str, Any], on: Sequence[str]) -> tuple[float, bool]:
    """(F1, abstained) of a row with only the checks in ``on`` replacing drafts."""
    reason = row.get("abstain_reason", "")
    if (not row["abstained"] and reason != "judgement" and "off topic" in on
            and "evidence" in row and off_topic(row)):  # a judgement is not held to its lines
        return (1.0 if row["category"] == 5 else 0.0), True
    if ((row["abstained"] or reason == "dated") and reason in CHECKS and reason not in on
            and row.get("f1_kept") is not None):
        if row["category"] == 5:
            return 0.0, False  # an adversarial question answered: wrong
        return float(row["f1_kept"]), False
    return float(row["f1"]), bool(row["abstained"])


def scores(rows: Sequence[dict[str, Any]], on: Sequence[str]) -> tuple[float, float]:
    """(F1 on categories 1-4, adversarial correct rate), in percent."""
    answerable = [outcome(r, on)[0] for r in rows if r["category"] != 5]
    adversarial = [outcome(r, on)[1] for r in rows if r["category"] == 5]
    return (100 * sum(answerable) / max(len(answerable), 1),
            100 * sum(adversarial) / max(len(adversarial), 1))


def best(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The combination with the highest F1 that keeps the adversarial rate of all-on."""
    _, floor = scores(rows, CHECKS)
    options = [c for k in range(len(CHECKS) + 1) for c in itertools.combinations(CHECKS, k)]
    allowed = [c for c in options if scores(rows, c)[1] >= floor - 1e-9]
    return max(allowed, key=lambda c: (scores(rows, c)[0], len(c)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path)
    args = parser.parse_args()
    rows = json.loads(args.result.read_text())["rows"]
    samples = sorted({r["sample"] for r in rows})
    out_rows = []
    held: list[dict[str, Any]] = []
    for sample in samples:
        train = [r for r in rows if r["sample"] != sample]
        test = [r for r in rows if r["sample"] == sample]
        chosen = best(train)
        f1, adv = scores(test, chosen)
        base_f1, base_adv = scores(test, CHECKS)
        held.extend({**r, "_on": chosen} for r in test)
        out_rows.append([sample, len(test), ", ".join(chosen) or "none", base_f1, f1, base_adv, adv])
    loo_answerable = [outcome(r, r["_on"])[0] for r in held if r["category"] != 5]
    loo_adv = [outcome(r, r["_on"])[1] for r in held if r["category"] == 5]
    loo = (100 * sum(loo_answerable) / max(len(loo_answerable), 1),
           100 * sum(loo_adv) / max(len(loo_adv), 1))
    dev_choice = best(rows)
    dev = scores(rows, dev_choice)
    today = scores(rows, CHECKS)
    print(table(["held out", "n", "checks kept (chosen on the others)", "F1 today", "F1",
                 "adv today", "adv"], out_rows), file=sys.stderr)
    print(f"all checks on: F1 {today[0]:.1f}, adversarial correct {today[1]:.0f}%", file=sys.stderr)
    print(f"chosen on all (dev): {', '.join(dev_choice) or 'none'}: F1 {dev[0]:.1f}, "
          f"adversarial {dev[1]:.0f}%", file=sys.stderr)
    print(f"leave-one-conversation-out: F1 {loo[0]:.1f}, adversarial {loo[1]:.0f}%",
          file=sys.stderr)
    write_result("answer_checks_loo", {
        "source": str(args.result), "today": today, "dev": {"checks": dev_choice, "scores": dev},
        "loo": loo, "folds": [dict(zip(["held_out", "n", "checks", "f1_today", "f1",
                                        "adv_today", "adv"], r, strict=True)) for r in out_rows]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
