"""The live recorder's own cost under Xvfb: CPU% and memory of `memlane capture` on two screens.

Starts a 1920x1080 Xvfb with openbox, then for each scenario runs ``memlane capture --for
SECONDS --no-drain`` at a 2-second interval in a fresh home and samples the process (with its
tesseract children) from ``/proc`` every second:

- ``static``: one window with text that never changes;
- ``terminal``: a window that prints a new line every second, scrolling like a terminal.

Reports average CPU% of one core over the whole run and after the first 20 s (start-up and the
first frame's OCR excluded), average and peak RSS, frames stored, and the OCR backlog left when
recording stopped (whether OCR keeps up). Target: under 2% of one core on the static screen.

    python benchmarks/capture_live.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, table, write_result

sys.path.insert(0, str(ROOT / "tests"))
from xserver import XServer  # the tests' Xvfb + openbox + real windows helper

TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_S = 20.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its waited-for children (tesseract runs)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def scroll(win: object, stop: threading.Event) -> None:
    lines: list[str] = []
    n = 0
    while not stop.wait(1.0):
        n += 1
        lines = [*lines, f"{time.strftime('%H:%M:%S')} build step {n} compiled module_{n}.o ok"][-24:]
        win.send("lines " + "|".join(lines))  # type: ignore[attr-defined]


def run(scenario: str, seconds: float, xs: XServer, tmp: Path) -> dict[str, float | int | str]:
    home = tmp / scenario
    home.mkdir()
    (home / "settings.toml").write_text(
        "[capture]\ninterval_seconds = 2.0\n[privacy]\nidle_seconds = 0.0\n", encoding="utf-8"
    )
    win = xs.window(f"{scenario} - Terminal", "XTerm", ["$ tail -f build.log", "waiting for output"],
                    geometry="1400x900+0+0", font_size=22)
    stop = threading.Event()
    feeder = threading.Thread(target=scroll, args=(win, stop)) if scenario == "terminal" else None
    env = {**xs.env, "MEMLANE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlane", "capture", "--for", str(seconds), "--no-drain"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if feeder:
        feeder.start()
    samples: list[tuple[float, float, float]] = []  # wall, cpu, rss
    start = time.perf_counter()
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter() - start, cpu_seconds(proc.pid), rss_mb(proc.pid)))
        except (OSError, IndexError, ValueError):
            break
        time.sleep(1.0)
    proc.wait()
    stop.set()
    if feeder:
        feeder.join()
    win.close()
    wall, used, _ = samples[-1]
    steady = [s for s in samples if s[0] >= WARMUP_S]
    steady_pct = (
        100 * (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
        if len(steady) > 2 else float("nan")
    )
    db = sqlite3.connect(str(home / "memlane.db"))
    frames = db.execute("SELECT count(*) FROM frames").fetchone()[0]
    backlog = db.execute("SELECT count(*) FROM jobs WHERE state != 'done'").fetchone()[0]
    db.close()
    rss = [s[2] for s in samples if s[2] > 0]
    return {
        "scenario": scenario, "seconds": round(wall, 1), "cpu_pct_total": 100 * used / wall,
        "cpu_pct_steady": steady_pct, "rss_mb_avg": sum(rss) / len(rss), "rss_mb_peak": max(rss),
        "frames_stored": frames, "ocr_backlog_at_stop": backlog,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    if not (shutil.which("Xvfb") and shutil.which("openbox")):
        print("skipped: needs Xvfb and openbox")
        return
    xs = XServer(size="1920x1080")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = [run(s, args.seconds, xs, Path(tmp)) for s in ("static", "terminal")]
    finally:
        xs.stop()
    print(f"memlane capture --for {args.seconds:.0f} at a 2 s interval on a 1920x1080 Xvfb")
    print(table(["scenario", "CPU % (all)", f"CPU % (after {WARMUP_S:.0f} s)", "RSS avg MB",
                 "RSS peak MB", "frames", "OCR backlog"],
                [[r["scenario"], r["cpu_pct_total"], r["cpu_pct_steady"], r["rss_mb_avg"],
                  r["rss_mb_peak"], r["frames_stored"], r["ocr_backlog_at_stop"]] for r in results]))
    print(f"wrote {write_result('capture_live', {'interval_s': 2.0, 'results': results})}")


if __name__ == "__main__":
    main()
