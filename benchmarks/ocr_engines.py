"""The OCR engines side by side: what they read, what it costs, how much memory they hold.

Each engine (``tesseract``: the program per read; ``tesserocr``: tesseract kept loaded;
``rapidocr``: PP-OCR in onnxruntime) runs in a fresh process of its own on the same images:

- **ScreenQA** (``../shared/data/screenqa``): the human-verified text of real Android screens. The
  data set has no pictures, so each screen's TEXT and BUTTON strings in Latin script are drawn at
  their annotated boxes on a 1080x1920 canvas (DejaVu Sans); the words are real UI text, the
  rendering is ours.
- **ScreenAgent** (``../shared/data/screens``): six real 1024x768 desktop frames, English and
  Chinese, with the words and lines a person checked by eye written down below (:data:`HAND`).

Reported per engine: word recall (the share of reference words the engine read), character
error rate (each reference string against the stretch of OCR text that matches it best,
Levenshtein distance over reference characters, whitespace and case ignored), CPU ms per full
frame and per changed region (one text line of a 1920x1080 frame), and peak RSS of the process.
Median CPU times.

    python benchmarks/ocr_engines.py [--screens 30] [--engines tesseract,tesserocr,rapidocr]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, SHARED_DATA, table, write_result

SCREENQA = SHARED_DATA / "screenqa" / "screen_annotation_valid.csv"
SCREENS = SHARED_DATA / "screens" / "screenagent_dev"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# Checked by eye on the frames themselves (2026-12-02): words visible on each frame, and whole
# lines copied character for character.
HAND: dict[str, dict[str, list[str]]] = {
    "02ea503d419c440cbda9e42263706d6a/2023-12-20_19-35-28-168194.jpg": {
        "en": ["Microsoft", "Bing", "IMAGES", "VIDEOS", "ACADEMIC", "MAPS", "TOOLS", "results",
               "Content", "Neumann"],
        "zh": ["冯诺依曼", "百度百科", "数学家", "人物生平", "主要成就", "个人生活", "概览", "颁奖"],
        "lines": ["艾森豪威尔为冯·诺依曼颁奖", "About 1,950,000 results", "计算机之父、博弈论之父"],
    },
    "036b8d742b484c3f9512c1ab41b48956/2023-12-20_20-02-41-435514.jpg": {
        "en": ["Blizzard", "Entertainment", "toutiao"],
        "zh": ["暴雪", "头条搜索", "资讯", "视频", "图片", "洛阳市", "气象台", "相关自然现象",
               "大雪", "炸弹气旋", "雨夹雪"],
        "lines": ["多大的雪才是暴雪?为何“观感”不同?一文科普", "Blizzard Entertainment"],
    },
    "1707c19bc8d1476698ccbdefe06537ad/2023-12-20_19-44-50-575191.jpg": {
        "en": ["Import", "bookmarks", "Getting", "Started", "Top", "Sites", "baidu", "wikihow",
               "zhihu", "ifeng", "Highlights", "Search"],
        "zh": ["秋果酒店", "中国新闻", "央视网"],
        "lines": ["Search with Bing or enter address", "Search the Web"],
    },
    "05f7b82ed5d74dbe9c7888b427fcc571/2023-12-19_14-02-53-125976.jpg": {
        "en": ["chocolate", "cake", "Recipes", "Homemade", "Quick", "protein", "sodium",
               "Allrecipes", "Easy", "BBC", "Good", "Food"],
        "zh": ["国内版", "国际版"],
        "lines": ["Looks like you're searching in English.",
                  "Try our international version for better English language search results.",
                  "About 5,230,000 results"],
    },
    "0bdb194d494c4033b24733d2afd99700/2023-12-20_11-44-11-733214.jpg": {
        "en": ["fastapi", "import", "uvicorn", "Hello", "World", "EXPLORER", "LEARNPYTHON",
               "TERMINAL", "supervisor", "Werkzeug", "production", "websocket"],
        "zh": [],
        "lines": ["uvicorn.run(app, host='127.0.0.1', port=8000)",
                  "Summary: FastAPI framework, high performance, easy to learn, fast to code, "
                  "ready for", "from fastapi import FastAPI"],
    },
    "343e786189aa4ba8b2293bc48a895d67/2023-12-23_16-56-11-099028.jpg": {
        "en": ["bilibili", "Picture", "mode", "brave", "heart"],
        "zh": ["宝可梦", "数码宝贝", "进化", "番剧", "直播", "游戏中心", "会员购", "漫画", "赛事",
               "弹幕列表", "视频选集", "喷火龙", "水箭龟", "新玩堂"],
        "lines": ["【转载】宝可梦用数码宝贝的方式会怎么进化呢？",
                  "This video is playing in Picture-in-Picture mode."],
    },
}

ELEMENT = re.compile(r"\b(TEXT|BUTTON) ([^()]+?) (\d+) (\d+) (\d+) (\d+)(?=[,)]| \(|$)")
LATIN = re.compile(r"^[\x20-\x7e\u00a0-\u024f]+$")  # the engines read Latin and Chinese scripts
WORDS = re.compile(r"\w+", re.UNICODE)


def screenqa_screens(count: int) -> list[tuple[str, list[tuple[str, tuple[int, int, int, int]]]]]:
    """``count`` screens with their visible strings and boxes (x1, x2, y1, y2 in 0..999)."""
    import csv

    csv.field_size_limit(10**8)
    out = []
    with SCREENQA.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            found = []
            for _, text, x1, x2, y1, y2 in ELEMENT.findall(row["screen_annotation"]):
                text = text.strip()
                box = (int(x1), int(x2), int(y1), int(y2))
                if (WORDS.search(text) and LATIN.match(text) and box[1] > box[0]
                        and box[3] > box[2] and not re.match(r"\d+ \d+ \d+ \d+", text)):
                    found.append((text, box))
            # A button and the text inside it name the same words: keep the innermost of
            # overlapping elements, so no two are drawn over each other.
            found.sort(key=lambda item: (item[1][1] - item[1][0]) * (item[1][3] - item[1][2]))
            items: list[tuple[str, tuple[int, int, int, int]]] = []
            for text, box in found:
                if not any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3]
                           for _, b in items):
                    items.append((text, box))
            if len(items) >= 4:
                out.append((row["screen_id"], items))
            if len(out) >= count:
                break
    return out


def render_screen(items: list[tuple[str, tuple[int, int, int, int]]]) -> Any:
    from PIL import Image, ImageDraw, ImageFont

    width, height = 1080, 1920
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for text, (x1, x2, y1, y2) in items:
        left, top = x1 * width / 1000, y1 * height / 1000
        box_w, box_h = (x2 - x1) * width / 1000, (y2 - y1) * height / 1000
        size = max(14, min(48, int(box_h * 0.6)))
        while True:  # the largest size at which the text, wrapped to the box, fits in it
            font = ImageFont.truetype(FONT, size)
            lines = wrap(text, font, box_w - 8)
            if size <= 14 or len(lines) * size * 1.25 <= box_h:
                break
            size -= 2
        y = top + max(0.0, (box_h - len(lines) * size * 1.25) / 2)
        for line in lines:
            draw.text((left + 4, y), line, fill=(33, 33, 33), font=font)
            y += size * 1.25
    return image


def wrap(text: str, font: Any, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def squash(text: str) -> str:
    return "".join(text.lower().split())


def line_errors(reference: list[str], text: str) -> tuple[int, int]:
    """Edit distance of each reference string to the stretch of ``text`` that matches it best
    (whitespace and case ignored, so wrapped lines and the engine's own line breaks don't count)."""
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Levenshtein

    hyp = squash(text)
    errors = chars = 0
    for ref in reference:
        r = squash(ref)
        chars += len(r)
        if not hyp:
            errors += len(r)
            continue
        found = fuzz.partial_ratio_alignment(r, hyp)
        piece = hyp[found.dest_start:found.dest_end] if found else ""
        errors += min(len(r), int(Levenshtein.distance(r, piece)))
    return errors, chars


def word_hits(words: list[str], text: str, cjk: bool) -> int:
    if cjk:
        flat = squash(text)
        return sum(1 for w in words if w in flat)
    have: dict[str, int] = {}
    for w in WORDS.findall(text.lower()):
        have[w] = have.get(w, 0) + 1
    hits = 0
    for w in words:
        for part in WORDS.findall(w.lower()):
            if have.get(part, 0) > 0:
                have[part] -= 1
                hits += 1
    return hits


def cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the tesseract program's runs
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker(engine_name: str, screens: int) -> dict[str, Any]:
    """Run one engine over every image in this process; return its numbers."""
    from PIL import Image

    from memlane.capture.engines import make_engine

    engine = make_engine(engine_name, "auto")
    out: dict[str, Any] = {"engine": engine_name, "languages": engine.languages}
    rss_start = peak_rss_mb()
    full_ms: list[float] = []

    def read(image: Any) -> Any:
        start = cpu_now()
        result = engine.read(image)
        full_ms.append(1000 * (cpu_now() - start))
        return result

    # ScreenQA, drawn
    words = hit = errors = chars = 0
    for _, items in screenqa_screens(screens):
        result = read(render_screen(items))
        text = result.text
        ref_words = [w for t, _ in items for w in WORDS.findall(t)]
        words += len(ref_words)
        hit += word_hits(ref_words, text, cjk=False)
        e, c = line_errors([t for t, _ in items], text)
        errors, chars = errors + e, chars + c
    out["screenqa"] = {"screens": screens, "words": words, "word_recall": hit / max(1, words),
                       "cer": errors / max(1, chars)}
    # ScreenAgent, checked by hand
    got = {"en": [0, 0], "zh": [0, 0]}
    errors = chars = 0
    for rel, truth in HAND.items():
        result = read(Image.open(SCREENS / rel).convert("RGB"))
        for lang in ("en", "zh"):
            got[lang][0] += word_hits(truth[lang], result.text, cjk=lang == "zh")
            got[lang][1] += len(truth[lang])
        e, c = line_errors(truth["lines"], result.text)
        errors, chars = errors + e, chars + c
    out["screenagent"] = {
        "frames": len(HAND), "en_recall": got["en"][0] / got["en"][1],
        "zh_recall": got["zh"][0] / got["zh"][1], "en_words": got["en"][1],
        "zh_words": got["zh"][1], "line_cer": errors / max(1, chars),
    }
    # one changed line of a 1920x1080 frame
    frame = Image.new("RGB", (1920, 1080), "white")
    frame.paste(Image.open(SCREENS / next(iter(HAND))).convert("RGB"), (0, 0))
    region = [(176, 355, 620, 40)]  # a line of the Bing result, as a changed rectangle
    region_ms = []
    for _ in range(5):
        start = cpu_now()
        engine.read_regions(frame, region)
        region_ms.append(1000 * (cpu_now() - start))
    out["cpu_ms_full_frame_median"] = statistics.median(full_ms)
    out["cpu_ms_region_median"] = statistics.median(region_ms)
    out["images"] = len(full_ms)
    out["rss_mb_peak"] = peak_rss_mb()
    out["rss_mb_before_engine"] = rss_start
    engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", type=int, default=30)
    parser.add_argument("--engines", default="tesseract,tesserocr,rapidocr")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.screens)))
        return
    if not (SCREENQA.exists() and SCREENS.exists()):
        print(f"skipped: {SHARED_DATA} is not here (ScreenQA and ScreenAgent are needed)")
        return
    results = []
    for name in args.engines.split(","):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--screens", str(args.screens)],
            capture_output=True, text=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            cwd=ROOT, check=False,
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["wall_s"] = time.perf_counter() - started
        results.append(result)
    rows = [[
        r["engine"], r["languages"], r["screenqa"]["word_recall"], r["screenqa"]["cer"],
        r["screenagent"]["en_recall"], r["screenagent"]["zh_recall"],
        r["screenagent"]["line_cer"], r["cpu_ms_full_frame_median"], r["cpu_ms_region_median"],
        r["rss_mb_peak"],
    ] for r in results]
    print(f"{args.screens} ScreenQA screens (drawn) + {len(HAND)} ScreenAgent frames (hand-checked)")
    print(table(["engine", "languages", "ScreenQA word recall", "ScreenQA CER", "SA en recall",
                 "SA zh recall", "SA line CER", "CPU ms/frame", "CPU ms/region",
                 "peak RSS MB"], rows))
    print(f"wrote {write_result('ocr_engines', {'screens': args.screens, 'results': results})}")


if __name__ == "__main__":
    main()
