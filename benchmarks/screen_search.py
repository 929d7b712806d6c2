"""Finding words that were on screen, English and Chinese: real ScreenAgent frames through search.

Stores the 214 ScreenAgent desktop frames (``../shared/data/screens``) at their capture times,
read by the OCR engine named (default: the app's default), then asks search for each word that a
person checked by eye on six of the frames (``benchmarks/ocr_engines.py``'s ``HAND``), and counts
how often *that* frame is among the first five hits, English words and Chinese words apart.
Each word is asked twice in the same run: with the CJK pair index and with it switched off
(today's default before it), so the difference is the index's, not the OCR's.

It also counts, for a few words, the frames whose stored text contains them against the frames
the keyword half of search returns (the text was read but the index could not find it).

    python benchmarks/screen_search.py [--engine tesserocr] [--keep /tmp/screen-search-home]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import SHARED_DATA, table, write_result
from ocr_engines import HAND, SCREENS

ONLY_TEXT = ["sohu", "baidu", "bing", "bilibili", "toutiao", "陆风", "携程", "百度", "暴雪", "头条",
             "数码宝贝", "冯诺依曼"]


def build(home: Path, engine_name: str) -> dict[str, int]:
    from memlane.core.paths import Paths
    from memlane.services.engine import Engine
    from memlane.services.ingest import ingest_image

    rows = [json.loads(line) for line in (SCREENS / "manifest.jsonl").open(encoding="utf-8")]
    ids: dict[str, int] = {}
    with Engine(Paths(home)) as eng:
        eng.settings.ocr.engine = engine_name
        known = {r[0]: r[1] for r in eng.store.sql("SELECT title, id FROM frames")}
        started = time.perf_counter()
        for row in rows:
            rel = row["path"]
            if rel in known:
                ids[rel] = int(known[rel])
                continue
            at = datetime.fromisoformat(row["captured_at"]).timestamp()
            frame_id, _ = ingest_image(SCREENS / rel, store=eng.store, files=eng.frame_files,
                                       ocr=eng.ocr, at=at, app="screenagent", title=rel)
            if frame_id is not None:
                ids[rel] = frame_id
        if len(known) < len(rows):
            print(f"stored {len(rows) - len(known)} frames with {eng.ocr.name} in "
                  f"{time.perf_counter() - started:.0f} s; embedding them")
        eng.index.sync()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--keep", type=Path, help="build the home here and reuse it next time")
    args = parser.parse_args()
    if not SCREENS.exists():
        print(f"skipped: {SHARED_DATA / 'screens'} is not here")
        return
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        home = args.keep or Path(tmp) / "home"
        ids = build(home, args.engine)
        from memlane.core.paths import Paths
        from memlane.memory import retrieval
        from memlane.services.engine import Engine

        real_cjk = retrieval.cjk_query
        found: dict[str, dict[str, list[int]]] = {}
        misses: list[str] = []
        with Engine(Paths(home)) as eng:
            engine_used = eng.ocr.name if args.engine == "auto" else args.engine
            for setting, fn in (("with pair index", real_cjk), ("without", lambda _t: "")):
                retrieval.cjk_query = fn  # type: ignore[assignment]
                counts = found.setdefault(setting, {"en": [0, 0], "zh": [0, 0]})
                for rel, truth in HAND.items():
                    for lang in ("en", "zh"):
                        for word in truth[lang]:
                            hits = eng.search(word, kinds=("frame",), limit=5).hits
                            top = [int(h.id.split(":")[1]) for h in hits]
                            counts[lang][1] += 1
                            if ids.get(rel) in top:
                                counts[lang][0] += 1
                            elif setting == "with pair index":
                                misses.append(f"{lang} {word!r} ({rel.split('/')[0][:4]})")
            retrieval.cjk_query = real_cjk  # type: ignore[assignment]
            text_rows = []
            for word in ONLY_TEXT:
                flat = word.lower()
                have = {r[0] for r in eng.store.sql(
                    "SELECT DISTINCT frame_id FROM ocr_blocks WHERE instr(lower(replace("
                    "replace(text, ' ', ''), char(10), '')), ?) > 0", [flat])}
                keyword = {rowid for kind, rowid, _ in eng.retriever.keyword(
                    word, limit=1000, kinds=("frame",))}
                retrieval.cjk_query = lambda _t: ""  # type: ignore[assignment]
                before = {rowid for kind, rowid, _ in eng.retriever.keyword(
                    word, limit=1000, kinds=("frame",))}
                retrieval.cjk_query = real_cjk  # type: ignore[assignment]
                text_rows.append([word, len(have), len(before & have), len(keyword & have)])
    rows = [[setting, f"{c['en'][0]}/{c['en'][1]}", c["en"][0] / c["en"][1],
             f"{c['zh'][0]}/{c['zh'][1]}", c["zh"][0] / c["zh"][1]] for setting, c in found.items()]
    print(f"{len(ids)} ScreenAgent frames read by {engine_used}; hand-checked words, is their frame "
          "in the top 5?")
    print(table(["search", "English", "share", "Chinese", "share"], rows))
    print("\nframes whose stored text holds the word, and how many of those keyword search finds")
    print(table(["word", "frames with it", "found without pair index", "found with it"],
                text_rows))
    print("\nmissed with the pair index: " + ", ".join(misses))
    print(f"wrote {write_result('screen_search', {'engine': engine_used, 'top5': found, 'text': text_rows, 'missed': misses})}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
