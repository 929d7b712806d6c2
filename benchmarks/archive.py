"""Export, restore and forget at scale: 10k frames and 100k messages over ten days.

Builds a store with synthetic but realistically sized records (messages of 8-30 words, frames with
one OCR block of ~60 words, a 640x400 WebP and its thumbnail each), then measures in one run:
``memlane export`` of everything (and its archive size), verifying and restoring that archive into
an empty home (rows and files; the vector rebuild is measured separately on a sample, since its
rate is the embedder's), ``forget`` of one day and of everything, with database sizes before
and after. Run: ``python benchmarks/archive.py [--frames 10000] [--messages 100000]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw

from _common import table, write_result
from memlane.core.paths import Paths
from memlane.memory.archive import export_archive, import_archive, verify_archive
from memlane.memory.forget import Scope
from memlane.memory.records import ConversationIn, FrameIn, MessageIn, OcrBlockIn
from memlane.memory.store import Store
from memlane.services.engine import Engine

WORDS = ("meeting flight lisbon budget report invoice dentist friday monday coffee ramen train "
         "ticket hotel review draft code release test deploy bug sprint lunch dinner gym run "
         "book movie concert birthday gift sister brother mother project design email call "
         "price euro cheap seat window aisle bag rain jacket museum tram ferry").split()
DAY = 86400.0


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def build(home: Path, frames: int, messages: int, start: float) -> None:
    rng = random.Random(7)
    paths = Paths(home)
    paths.ensure()
    store = Store(paths.db)
    image = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(image)
    for y in range(10, 390, 24):
        draw.text((10, y), sentence(rng, 6, 10), fill=(20, 20, 20))
    frame_bytes, thumb_bytes = Path(home / "f.webp"), Path(home / "t.webp")
    image.save(frame_bytes, "WEBP", quality=70)
    image.resize((320, 200)).save(thumb_bytes, "WEBP", quality=70)
    span = 10 * DAY
    batch = []
    for i in range(frames):
        t = start + span * i / frames
        rel = f"frames/{i // 1000}/{i}.webp"
        trel = f"thumbnails/{i // 1000}/{i}.webp"
        for src, dst in ((frame_bytes, rel), (thumb_bytes, trel)):
            (home / dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, home / dst)
        words = sentence(rng, 50, 70)
        batch.append(FrameIn(t, rng.choice(["firefox", "code", "terminal"]), f"window {i % 40}",
                             rel, trel, 640, 400, frame_bytes.stat().st_size, "", None,
                             origin="capture", blocks=(OcrBlockIn(0, words),)))
    for f in batch:
        store.add_frame(f)
    per_conv = 100
    convs = []
    for c in range(messages // per_conv):
        base = start + span * c / (messages // per_conv)
        convs.append(ConversationIn("jsonl", f"c{c}", f"conversation {c}", base, tuple(
            MessageIn(str(m), rng.choice(["me", "Sam", "Ana"]), sentence(rng, 8, 30),
                      base + m * 60) for m in range(per_conv))))
    for i in range(0, len(convs), 50):
        store.import_conversations(convs[i:i + 50])
    store.close()
    frame_bytes.unlink()
    thumb_bytes.unlink()


def db_mb(home: Path) -> float:
    return sum(p.stat().st_size for p in home.glob("memlane.db*")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--embed-sample", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="memlane-archive-bench-"))
    rows = []
    result: dict[str, object] = {"frames": args.frames, "messages": args.messages}
    try:
        home = tmp / "home"
        start = datetime(2026, 1, 5).timestamp()
        t0 = time.perf_counter()
        build(home, args.frames, args.messages, start)
        print(f"built {args.frames} frames + {args.messages} messages in "
              f"{time.perf_counter() - t0:.0f} s")
        store = Store(Paths(home).db)
        out = tmp / "export.zip"
        report = export_archive(store, home, out, work=Paths(home).work)
        store.close()
        rows.append(["export (VACUUM INTO + zip)", report.seconds, out.stat().st_size / 1e6])
        t0 = time.perf_counter()
        verify_archive(out)
        rows.append(["verify archive", time.perf_counter() - t0, None])
        restored = tmp / "restored"
        Paths(restored).ensure()
        store = Store(Paths(restored).db)
        report = import_archive(store, restored, out)
        store.close()
        rows.append(["restore rows + files (incl. verify)", report.seconds, db_mb(restored)])
        # The vector rebuild after a restore runs at the embedder's rate: measured on a sample
        # of the restored messages in a home of their own.
        sample = tmp / "sample"
        build(sample, 0, args.embed_sample, start)
        with Engine(Paths(sample)) as engine:
            t0 = time.perf_counter()
            n = engine.index.sync()
            rate = n / (time.perf_counter() - t0)
        result["vector_rebuild_records_per_s"] = rate
        before = db_mb(home)
        with Engine(Paths(home)) as engine:
            day = start + 3 * DAY
            _, rep = engine.forget(Scope(since=day, until=day + DAY))
            assert rep is not None
            rows.append([f"forget one day ({sum(rep.counts.values())} records)", rep.seconds,
                         db_mb(home)])
            _, rep = engine.forget(Scope(everything=True))
            assert rep is not None
            rows.append([f"forget everything ({sum(rep.counts.values())} records)", rep.seconds,
                         db_mb(home)])
        print(table(["operation", "seconds", "MB after (archive or db)"],
                    [[r[0], r[1], "" if r[2] is None else f"{r[2]:.1f}"] for r in rows]))
        print(f"database before forgetting: {before:.1f} MB")
        if rate:
            total = args.frames + args.messages
            print(f"vector rebuild: {rate:.0f} records/s on a {args.embed_sample} sample -> "
                  f"{total / rate / 60:.1f} min for all {total} records")
        result["rows"] = [{"operation": r[0], "seconds": r[1], "mb": r[2]} for r in rows]
        result["db_mb_before_forget"] = before
        write_result("archive", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
