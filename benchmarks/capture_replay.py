"""Replay real desktop screenshots through the capture pipeline: gates, change detection, OCR, store, index.

Frames of ``../shared/data/screens/screenagent_dev/`` are fed in ``manifest.jsonl`` order, each at
its ``captured_at`` time, to the same ``CaptureService`` tick and ``OcrWorker`` the recorder
runs (only the screen grab is replaced by the recorded image). The whole replay runs twice in one
process, with OCR re-use of unchanged regions on and off, so the two are measured side by side.

Reports CPU seconds (this process plus tesseract children) per stored frame and per replayed
hour (the time spanned by each recorded session), bytes stored per frame and per hour, the
share of frames skipped as unchanged (and of the ticks a 5-second recorder would have taken over
those hours), OCR words per frame, and latency from tick to searchable. A subset also compares
OCR of the stored WebP with OCR of the source image (word recall), to show what lossy storage
costs. Skips cleanly when the data is absent.

    python benchmarks/capture_replay.py [--limit N] [--quality-sample N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import SHARED_DATA, percentile, table, write_result
from memlane.capture.change import ChangeDetector
from memlane.capture.privacy import ExclusionRules
from memlane.capture.recorder import Recorder, StillGrabber, to_pixels
from memlane.capture.windows import Rect, Snapshot, WindowInfo
from memlane.core.paths import Paths
from memlane.core.settings import Settings
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine
from memlane.services.ocr_worker import OcrOutcome

SCREENS = SHARED_DATA / "screens" / "screenagent_dev"
INTERVAL = 5.0


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class ReplayWindows:
    snap = Snapshot((), None)

    def snapshot(self) -> Snapshot:
        return self.snap

    def close(self) -> None:
        pass


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def replay(rows: list[dict[str, Any]], *, reuse: bool, embedder: OnnxEmbedder, root: Path) -> dict[str, Any]:
    home = root / ("reuse" if reuse else "full")
    settings = Settings()
    settings.capture.ocr_reuse = reuse
    engine = Engine(Paths(home), settings, embedder=embedder)
    grabber, windows = StillGrabber(np.zeros((1, 1), dtype=np.uint32)), ReplayWindows()
    recorder = Recorder(ExclusionRules(settings.privacy.exclude_apps, settings.privacy.exclude_titles),
                        ChangeDetector(), windows=windows, grabber=grabber)
    service = engine.capture_service(engine.store, recorder=recorder, env={"DISPLAY": ":replay"})
    outcomes: list[OcrOutcome] = []
    worker = engine.ocr_worker(on_done=outcomes.append)
    engine.index.sync()  # load the embedder and open Chroma before timing
    tick_cpu: list[float] = []
    latency: list[float] = []
    stored = skipped = 0
    start_cpu, start = cpu(), time.perf_counter()
    for row in rows:
        image = Image.open(SCREENS / row["path"]).convert("RGB")
        grabber.pixels = to_pixels(image)
        app = "screenagent"
        windows.snap = Snapshot((WindowInfo(1, row["task_prompt"][:80], app, rect=Rect(0, 0, image.width, image.height)),),
                                None)
        when = datetime.fromisoformat(row["captured_at"]).timestamp()
        c0, t0 = cpu(), time.perf_counter()
        report = service.tick(now=when)
        tick_cpu.append(cpu() - c0)
        if not report.stored:
            skipped += 1
            continue
        stored += len(report.stored)
        while worker.run_one() is not False:
            pass
        engine.index.sync()
        latency.append(time.perf_counter() - t0)
    total_cpu, wall = cpu() - start_cpu, time.perf_counter() - start
    # A few more ticks on an unchanged screen: the cost of a tick that stores nothing.
    idle_cpu = []
    for _ in range(20):
        c0 = cpu()
        service.tick(now=time.time())
        idle_cpu.append(cpu() - c0)
    service.close()
    engine.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = {
        "frames": dir_bytes(engine.paths.frames),
        "thumbnails": dir_bytes(engine.paths.thumbnails),
        "database": engine.paths.db.stat().st_size,
        "vectors": dir_bytes(engine.paths.vectors),
    }
    engine.close()
    return {
        "reuse": reuse, "frames_in": len(rows), "stored": stored, "skipped_unchanged": skipped,
        "cpu_s": total_cpu, "wall_s": wall, "tick_cpu_ms_p50": statistics.median(tick_cpu) * 1000,
        "idle_tick_cpu_ms_p50": statistics.median(idle_cpu) * 1000,
        "ocr_s_p50": statistics.median(o.seconds for o in outcomes),
        "words_per_frame": statistics.mean(o.words for o in outcomes),
        "reused_words_share": sum(o.reused for o in outcomes) / max(1, sum(o.words for o in outcomes)),
        "redacted_words": sum(o.redacted for o in outcomes),
        "latency_s_p50": statistics.median(latency), "latency_s_p95": percentile(latency, 95),
        "bytes": sizes, "home": str(home),
    }


def active_seconds(rows: list[dict[str, Any]]) -> float:
    """Time spanned by each recorded session (first to last frame, plus one interval), summed."""
    spans: dict[str, list[float]] = {}
    for row in rows:
        spans.setdefault(row["session"], []).append(datetime.fromisoformat(row["captured_at"]).timestamp())
    return sum(max(t) - min(t) + INTERVAL for t in spans.values())


def webp_recall(rows: list[dict[str, Any]], home: Path, n: int) -> float | None:
    """Word recall of OCR on stored WebP frames against OCR on the source screenshots."""
    from memlane.capture.ocr import TesseractOcr

    if n <= 0:
        return None
    engine = Engine(Paths(home))
    ocr = TesseractOcr("auto")
    paths = [p for (p,) in engine.store.sql("SELECT image_path FROM frames ORDER BY id LIMIT ?", [n])]
    engine.close()
    got = want = 0
    for row, rel in zip(rows, paths, strict=False):
        source = Counter(ocr.read(Image.open(SCREENS / row["path"])).text.split())
        stored = Counter(ocr.read(Image.open(home / rel)).text.split())
        got += sum((source & stored).values())
        want += sum(source.values())
    return got / want if want else None


def consolidate_replay(home: Path, embedder: OnnxEmbedder, hours: float,
                       model_calls: int) -> dict[str, Any]:
    """Episodes from the replayed screens: extractive on one copy, with the model on another."""
    import shutil

    out: dict[str, Any] = {}
    modes = [("extractive", 0)] + ([("model", model_calls)] if model_calls else [])
    for mode, calls in modes:
        copy = home.parent / f"consolidate-{mode}"
        shutil.copytree(home, copy)
        with Engine(Paths(copy), embedder=embedder) as engine:
            engine.settings.memory.model_min_seconds = 0
            frames = engine.store.counts()["frames"]
            t0 = time.perf_counter()
            report = engine.consolidate(use_model=bool(calls), max_model_calls=calls)
            seconds = time.perf_counter() - t0
            out[mode] = {"frames": frames, "episodes": report.episodes, "digests": report.digests,
                         "seconds": seconds, "seconds_per_replayed_hour": seconds / hours,
                         "model_calls": report.model_calls, "unusable": report.model_unusable,
                         "frames_per_episode": frames / max(report.episodes, 1)}
            print(f"consolidation ({mode}): {frames} frames -> {report.episodes} episodes, "
                  f"{report.digests} digests in {seconds:.1f} s ({seconds / hours:.1f} s per "
                  f"replayed hour); {report.model_calls} model calls, "
                  f"{report.model_unusable} unusable")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="replay only the first N frames")
    parser.add_argument("--model-calls", type=int, default=20,
                        help="model calls allowed when consolidating the replay (0: skip)")
    parser.add_argument("--quality-sample", type=int, default=20,
                        help="frames whose WebP OCR is compared with the source (0: skip)")
    args = parser.parse_args()
    manifest = SCREENS / "manifest.jsonl"
    if not manifest.exists():
        print(f"skipped: {manifest} is not there")
        return
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    if args.limit:
        rows = rows[: args.limit]
    hours = active_seconds(rows) / 3600
    embedder = OnnxEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [replay(rows, reuse=r, embedder=embedder, root=Path(tmp)) for r in (True, False)]
        recall = webp_recall(rows, Path(runs[0]["home"]), args.quality_sample)
        consolidation = consolidate_replay(Path(runs[0]["home"]), embedder, hours,
                                           args.model_calls)
    table_rows = []
    for run in runs:
        total = sum(run["bytes"].values())
        run["cpu_s_per_frame"] = run["cpu_s"] / max(1, run["stored"])
        run["cpu_s_per_hour"] = run["cpu_s"] / hours
        run["cpu_share_of_one_core"] = run["cpu_s"] / (hours * 3600)
        run["bytes_per_frame"] = total / max(1, run["stored"])
        run["bytes_per_hour"] = total / hours
        run["gb_per_month_8h_days"] = run["bytes_per_hour"] * 8 * 30 / 1e9
        ticks = hours * 3600 / INTERVAL
        run["ticks_at_5s"] = round(ticks)
        run["tick_skip_share_at_5s"] = 1 - run["stored"] / ticks
        table_rows.append([
            "on" if run["reuse"] else "off", run["stored"], run["skipped_unchanged"],
            run["cpu_s_per_frame"], run["cpu_s_per_hour"], run["ocr_s_p50"],
            run["words_per_frame"], run["reused_words_share"], run["bytes_per_frame"] / 1e3,
            run["bytes_per_hour"] / 1e6, run["latency_s_p50"], run["latency_s_p95"],
        ])
    print(f"{len(rows)} screenshots, {hours:.2f} replayed hours, interval {INTERVAL:.0f} s")
    print(table(["reuse", "stored", "unchanged", "CPU s/frame", "CPU s/hour", "OCR s p50",
                 "words/frame", "reused", "kB/frame", "MB/hour", "to-search p50 s", "p95 s"], table_rows))
    on, off = runs
    print(f"OCR re-use: CPU per frame {on['cpu_s_per_frame']:.2f} s vs {off['cpu_s_per_frame']:.2f} s"
          f" (ratio {on['cpu_s_per_frame'] / off['cpu_s_per_frame']:.2f})")
    print(f"tick CPU p50 {on['tick_cpu_ms_p50']:.1f} ms (storing) / {on['idle_tick_cpu_ms_p50']:.1f} ms (unchanged);"
          f" a 5 s recorder would skip {on['tick_skip_share_at_5s']:.1%} of {on['ticks_at_5s']} ticks")
    print(f"disk: {on['bytes_per_hour'] / 1e6:.1f} MB per replayed hour = "
          f"{on['gb_per_month_8h_days']:.1f} GB per month of 8-hour days ({on['bytes']})")
    if recall is not None:
        print(f"OCR word recall of stored WebP vs source, {args.quality_sample} frames: {recall:.3f}")
    path = write_result("capture_replay", {
        "frames": len(rows), "replayed_hours": hours, "interval_s": INTERVAL,
        "webp_ocr_word_recall": recall, "runs": runs, "consolidation": consolidation,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
