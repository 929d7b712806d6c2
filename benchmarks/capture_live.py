"""The live recorder's own cost under Xvfb: CPU%, memory and OCR delay of `memlane capture`.

Starts a 1920x1080 Xvfb with openbox, then for each OCR engine and each screen runs ``memlane
capture --for SECONDS --no-drain`` at the default 5-second interval in a fresh home and samples
the process (with its waited-for children, the tesseract program's runs) from ``/proc`` every
second. The screens:

- ``static``: one window with text that never changes;
- ``typing``: one line of the window grows by three characters every 0.3 s;
- ``terminal``: a window that prints a new line every second, scrolling like a terminal;
- ``video``: every pixel of the screen changes every second, with a subtitle line.

Reports CPU% of one core over the run after the first 20 s (start-up excluded), average and peak
RSS of the recorder process, frames stored, the OCR backlog when recording stopped, and p50/p95
of the time from a frame's tick until its text was stored (searchable by keyword). Each engine
runs every screen in the same invocation, so the engines are compared side by side.

    python benchmarks/capture_live.py [--seconds 120] [--engines tesseract,tesserocr]
        [--screens static,typing,terminal,video]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, percentile, table, write_result

sys.path.insert(0, str(ROOT / "tests"))
from xserver import XServer  # the tests' Xvfb + openbox + real windows helper

TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_S = 20.0
INTERVAL_S = 5.0  # the default


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


TYPED = ("Dear Ana, thanks for the notes from Thursday. I moved the review to Monday at ten and "
         "booked the small room on the third floor. ") * 20


def typing(win: object, stop: threading.Event) -> None:
    head = ["$ notes.txt", "Meeting notes, week 49", ""]
    n = 0
    while not stop.is_set():
        n += 3
        line = TYPED[:n][-90:]  # one line that grows, then scrolls sideways like an editor
        win.send("lines " + "|".join([*head, line]))  # type: ignore[attr-defined]


def video(win: object, stop: threading.Event) -> None:
    n = 0
    while not stop.wait(1.0):
        n += 1
        win.send(f"scene {n}")  # type: ignore[attr-defined]


def keep_awake(xs: XServer, stop: threading.Event) -> None:
    n = 0
    while not stop.wait(60.0):
        n += 1
        xs.xdotool("mousemove", str(1900 + n % 2), "1060")


FEEDERS = {"terminal": scroll, "typing": typing, "video": video}


def run(engine: str, scenario: str, seconds: float, xs: XServer, tmp: Path
        ) -> dict[str, float | int | str]:
    home = tmp / f"{engine}-{scenario}"
    home.mkdir()
    (home / "settings.toml").write_text(
        f'[capture]\ninterval_seconds = {INTERVAL_S}\n[privacy]\nidle_seconds = 0.0\n'
        f'[ocr]\nengine = "{engine}"\n', encoding="utf-8")
    win = xs.window(f"{scenario} - Terminal", "XTerm", ["$ tail -f build.log", "waiting for output"],
                    geometry="1920x1050+0+0", font_size=22)
    stop = threading.Event()
    feed = FEEDERS.get(scenario)
    feeder = threading.Thread(target=feed, args=(win, stop)) if feed else None
    env = {**xs.env, "MEMLANE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    log = (home / "capture.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlane", "capture", "--for", str(seconds), "--no-drain"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
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
    steady = [s for s in samples if s[0] >= WARMUP_S]
    steady_pct = (
        100 * (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
        if len(steady) > 2 else float("nan")
    )
    log.close()
    db = sqlite3.connect(str(home / "memlane.db"))
    frames = db.execute("SELECT count(*) FROM frames").fetchone()[0]
    backlog = db.execute("SELECT count(*) FROM jobs WHERE kind = 'ocr' AND state != 'done'"
                         ).fetchone()[0]
    delays = sorted(
        float(done) - float(at) for done, at in db.execute(
            "SELECT j.updated, f.time FROM jobs j JOIN frames f"
            " ON j.dedupe_key = 'frame:' || f.id WHERE j.kind = 'ocr' AND j.state = 'done'"))
    db.close()
    if not frames:  # say why, instead of a row of zeros
        print(f"{engine}/{scenario}: nothing stored; the recorder said:\n"
              + (home / "capture.log").read_text(errors="replace")[-1500:], file=sys.stderr)
    rss = [s[2] for s in samples if s[2] > 0]
    steady_rss = [s[2] for s in steady if s[2] > 0] or rss
    return {
        "engine": engine, "scenario": scenario, "seconds": round(samples[-1][0], 1),
        "cpu_pct_steady": steady_pct, "rss_mb_avg": sum(steady_rss) / len(steady_rss),
        "rss_mb_peak": max(rss), "frames_stored": frames, "ocr_backlog_at_stop": backlog,
        "searchable_p50_s": percentile(delays, 50) if delays else float("nan"),
        "searchable_p95_s": percentile(delays, 95) if delays else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--engines", default="tesseract,tesserocr")
    parser.add_argument("--screens", default="static,typing,terminal,video")
    args = parser.parse_args()
    if not (shutil.which("Xvfb") and shutil.which("openbox")):
        print("skipped: needs Xvfb and openbox")
        return
    xs = XServer(size="1920x1080")
    results = []
    awake = threading.Event()
    # The X server blanks the screen after ten minutes without input, and a blanked screen is
    # (rightly) not recorded: a pointer nudge every minute keeps it on for the whole run.
    nudge = threading.Thread(target=keep_awake, args=(xs, awake), daemon=True)
    nudge.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for scenario in args.screens.split(","):
                for engine in args.engines.split(","):
                    results.append(run(engine, scenario, args.seconds, xs, Path(tmp)))
                    print(json.dumps(results[-1]), flush=True)
    finally:
        awake.set()
        xs.stop()
    print(f"memlane capture --for {args.seconds:.0f} at a {INTERVAL_S:.0f} s interval on a "
          "1920x1080 Xvfb")
    print(table(["screen", "engine", f"CPU % (after {WARMUP_S:.0f} s)", "RSS avg MB",
                 "RSS peak MB", "frames", "OCR backlog", "searchable p50 s", "p95 s"],
                [[r["scenario"], r["engine"], r["cpu_pct_steady"], r["rss_mb_avg"],
                  r["rss_mb_peak"], r["frames_stored"], r["ocr_backlog_at_stop"],
                  r["searchable_p50_s"], r["searchable_p95_s"]] for r in results]))
    print(f"wrote {write_result('capture_live', {'interval_s': INTERVAL_S, 'results': results})}")


if __name__ == "__main__":
    main()
