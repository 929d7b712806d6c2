"""Questions about what was on screen, asked through the answer path on real desktop frames.

The 214 ScreenAgent frames (``../shared/data/screens``) are read by the default OCR engine and
stored at their capture times with no app or window title (what a recorder that cannot tell the
window stores; the title bar's text is in the OCR), then the questions below are asked through
``memlane ask``'s code path with "today" the day after the last frame. Each question was written
by looking at one frame, and its answer copied from that frame by eye (2026-12-03). Scored with
the LoCoMo token F1 (``locomo_qa.score``, category 4), plus whether the answer cites the frame
the question was written from, or one of the same session within ten minutes.

    python benchmarks/screen_qa.py [--model small|large] [--keep /tmp/screen-qa-home]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, table, write_result
from locomo_qa import score

SCREENS = SHARED_DATA / "screens" / "screenagent_dev"
VON_NEUMANN = "02ea503d419c440cbda9e42263706d6a/2023-12-20_19-35-28-168194.jpg"
BLIZZARD = "036b8d742b484c3f9512c1ab41b48956/2023-12-20_20-02-41-435514.jpg"
CAKE = "05f7b82ed5d74dbe9c7888b427fcc571/2023-12-19_14-02-53-125976.jpg"
FASTAPI = "0bdb194d494c4033b24733d2afd99700/2023-12-20_11-44-11-733214.jpg"
LINES = "0410d62ce5074ee18b38078dd687b8ca/2023-12-25_10-55-59-217958.jpg"
SALES = "1032b7888c2b4693bfd56e82a8767022/2023-12-20_15-02-05-363518.jpg"
HISTORY = "1707c19bc8d1476698ccbdefe06537ad/2023-12-20_19-47-50-165829.jpg"
BILIBILI = "343e786189aa4ba8b2293bc48a895d67/2023-12-23_16-56-11-099028.jpg"

# (question, answer as on the frame, the frame it was written from)
QUESTIONS: list[tuple[str, str, str]] = [
    ("What puzzle game did I play in Firefox?", "Lines FRVR", LINES),
    ("Which website was the Lines puzzle game on?", "lines.frvr.com", LINES),
    ("How many results did Bing find for von Neumann?", "About 1,950,000 results", VON_NEUMANN),
    ("Which recipe sites came up when I searched how to bake a chocolate cake?",
     "Allrecipes, BBC Good Food", CAKE),
    ("How many results did Bing show for the chocolate cake search?", "About 5,230,000 results",
     CAKE),
    ("What host and port did my FastAPI hello world app run on?", "127.0.0.1, port 8000",
     FASTAPI),
    ("What is the name of the spreadsheet file with the sales data?", "sales_data.ods", SALES),
    ("Which columns did the sales spreadsheet have?",
     "Date, Sales, Category, Employee, Units Sold, Unit Price, Total Sales", SALES),
    ("How many results did Bing find for 历史上的今天?", "About 44,100,000 results", HISTORY),
    ("Which mode was the bilibili video playing in?", "Picture-in-Picture mode", BILIBILI),
    ("What company did the blizzard search also show?", "Blizzard Entertainment", BLIZZARD),
]


def build(home: Path) -> dict[str, int]:
    from memlane.core.paths import Paths
    from memlane.services.engine import Engine
    from memlane.services.ingest import ingest_image

    rows = [json.loads(line) for line in (SCREENS / "manifest.jsonl").open(encoding="utf-8")]
    ids: dict[str, int] = {}
    with Engine(Paths(home)) as eng:
        known = {r[0]: r[1] for r in eng.store.sql("SELECT time, id FROM frames")}
        started = time.perf_counter()
        for row in rows:
            at = datetime.fromisoformat(row["captured_at"]).timestamp()
            if at in known:
                ids[row["path"]] = int(known[at])
                continue
            frame_id, _ = ingest_image(SCREENS / row["path"], store=eng.store,
                                       files=eng.frame_files, ocr=eng.ocr, at=at, app="", title="")
            if frame_id is not None:
                ids[row["path"]] = frame_id
        if len(known) < len(rows):
            print(f"stored {len(rows) - len(known)} frames in "
                  f"{time.perf_counter() - started:.0f} s; embedding them", file=sys.stderr)
        eng.index.sync()
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small", help="small, large or a GGUF file")
    parser.add_argument("--keep", type=Path, help="build the home here and reuse it next time")
    parser.add_argument("--name", default="screen_qa")
    args = parser.parse_args()
    if not SCREENS.exists():
        print(f"skipped: {SCREENS} is not here")
        return 0
    logging.basicConfig(level=logging.WARNING)
    from memlane.core.paths import Paths
    from memlane.services.engine import Engine

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = args.keep or Path(tmp) / "home"
        ids = build(home)
        times = {rel: datetime.fromisoformat(rel.split("/")[1][:19].replace("_", "T", 1)
                                             .replace("-", ":").replace(":", "-", 2))
                 for rel in ids}
        now = (max(times.values()) + timedelta(days=1)).astimezone()
        with Engine(Paths(home)) as eng:
            eng.settings.answer.remember = False
            eng.settings.model.path = args.model
            assistant = eng.assistant()
            for question, gold, rel in QUESTIONS:
                answer = assistant.ask(question, now=now)
                near = {ids[r] for r in ids if r.split("/")[0] == rel.split("/")[0]
                        and abs((times[r] - times[rel]).total_seconds()) <= 600}
                cited = {int(e.hit.id.split(":")[1]) for e in answer.citations
                         if e.hit.kind == "frame"}
                given = {int(e.hit.id.split(":")[1]) for e in answer.evidence
                         if e.hit.kind == "frame"}
                rows.append({
                    "question": question, "gold": gold, "answer": answer.text,
                    "abstained": answer.abstained, "reason": answer.reason,
                    "draft": answer.draft, "f1": score(4, answer.text, answer.abstained, gold),
                    "frame_in_evidence": bool(near & given), "cites_frame": bool(near & cited),
                    "evidence_lines": len(answer.evidence),
                    "first_token_ms": answer.timings.get("first_token_ms"),
                })
                print(f"f1={rows[-1]['f1']:.2f} {question!r} -> {answer.text!r} "
                      f"(gold {gold!r})", file=sys.stderr, flush=True)
            model_name = assistant.model.name
    n = len(rows)
    summary = {
        "model": model_name, "questions": n,
        "f1": 100 * sum(r["f1"] for r in rows) / n,
        "frame_in_evidence": sum(r["frame_in_evidence"] for r in rows) / n,
        "cites_frame": sum(r["cites_frame"] for r in rows) / n,
        "abstained": sum(r["abstained"] for r in rows) / n,
        "evidence_lines_mean": sum(r["evidence_lines"] for r in rows) / n,
    }
    print(table(["question", "F1", "frame given", "cited", "answer"],
                [[r["question"][:48], r["f1"], r["frame_in_evidence"], r["cites_frame"],
                  r["answer"][:40]] for r in rows]))
    print(f"{model_name}: F1 {summary['f1']:.1f}; the frame was in the evidence for "
          f"{summary['frame_in_evidence']:.0%}, cited for {summary['cites_frame']:.0%}; "
          f"abstained {summary['abstained']:.0%}; {summary['evidence_lines_mean']:.1f} lines")
    write_result(args.name, {"summary": summary, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
