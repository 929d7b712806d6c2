"""The desktop app: cold start to first paint, memory at idle, and whether the UI stays responsive.

1. Start-up: ``python -m memlane gui --no-record`` on the demo memory, offscreen, N times; from
   spawning the process to the window's first paint and to the timeline showing its day (both
   logged by the app in ``logs/gui.log``), and the process's RSS 5 s after start (idle).
2. Responsiveness, in one process and one run: a 20 ms timer on the UI thread while (a) nothing
   happens, (b) the real default model answers a question in the chat, (c) the vector index is
   rebuilt on the engine lane, (d) "Consolidate now" runs with the model on every episode, (e) the
   memory is exported, (f) a question is asked while consolidation runs, (g) ``memlane capture``
   records a 1920x1080 Xvfb into the same home every 2 s while today's timeline follows it (when
   Xvfb and openbox are there). Reports the timer's median and worst gap, how long loading a day (browse lane) takes in each state, and the
   answer's first-token time alone and beside consolidation.
3. How long the demo memory takes to build (what ``memlane gui --demo`` waits for).

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/gui_app.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import table, write_result

STARTUP = re.compile(r"startup: app created ([\d.]+), first paint ([\d.]+), timeline ready ([\d.]+)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def startup(home: Path, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first_paint_s": [], "timeline_ready_s": [], "idle_rss_mb": []}
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    for _ in range(runs):
        log = home / "logs" / "gui.log"
        log.unlink(missing_ok=True)
        t0 = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "memlane", "--home", str(home), "gui", "--no-record",
             "--quit-after", "7"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5.0)
        out["idle_rss_mb"].append(rss_mb(proc.pid))
        proc.wait(60)
        m = STARTUP.search(log.read_text())
        if not m:
            raise SystemExit(f"no startup line in {log}")
        out["first_paint_s"].append(float(m[2]) - t0)
        out["timeline_ready_s"].append(float(m[3]) - t0)
    return out


def responsiveness(home: Path) -> list[list[object]]:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from memlane.ui.mainwindow import MainWindow, Services
    from memlane.ui.tasks import Tasks

    app = QApplication.instance() or QApplication(["memlane-bench"])

    def wait_until(cond: object, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            if time.monotonic() > end:
                raise SystemExit(f"timed out after {timeout} s waiting for {what}")
            app.processEvents()
            time.sleep(0.005)

    def wait_idle(tasks: Tasks, timeout: float) -> None:
        wait_until(lambda: tasks.busy() == 0, timeout, "background tasks")

    services = Services(home)
    tasks = Tasks()
    window = MainWindow(services, tasks)
    window.show()
    window.start()
    wait_idle(tasks, 60)
    warming = window.chat.warm()  # what the app does when it opens: load the model, read the
    wait_until(warming.finished.is_set, 300, "the model")  # fixed prompt; answers are measured
    yesterday = date.today() - timedelta(days=1)
    rows: list[list[object]] = []

    def measure(name: str, start_work: object) -> None:
        ticks: list[float] = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(20)
        done = threading.Event()
        start_work(done)  # type: ignore[operator]
        time.sleep(0)
        t0 = time.perf_counter()
        window.timeline.model.frames = []
        window.timeline.show_day(yesterday)
        wait_until(lambda: window.timeline.model.frames, 60, "day")
        day_ms = (time.perf_counter() - t0) * 1000
        wait_until(done.is_set, 600, name)
        wait_idle(tasks, 600)
        wait_until(lambda: time.perf_counter() - t0 > 1.0, 5, "a second of ticks")
        timer.stop()
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(ticks)]
        rows.append([name, len(ticks), statistics.median(gaps), max(gaps), day_ms])

    def idle(done: threading.Event) -> None:
        threading.Timer(3.0, done.set).start()

    def answer(done: threading.Event) -> None:
        task = window.chat.ask("What was the cheapest flight to Lisbon I looked at yesterday?")
        assert task is not None
        threading.Thread(target=lambda: (task.finished.wait(), done.set()), daemon=True).start()

    def reindex(done: threading.Event) -> None:
        tasks.run("reindex", lambda _t: services.engine.reindex(), on_done=lambda _r: done.set())

    def consolidate(done: threading.Event) -> None:
        services.engine.settings.memory.model_min_seconds = 0  # the model on every episode
        task = window.knows.consolidate()
        threading.Thread(target=lambda: (task.finished.wait(), done.set()), daemon=True).start()

    def export(done: threading.Event) -> None:
        out = home.parent / "bench-export.zip"
        task = window.export_memory(str(out))
        assert task is not None
        threading.Thread(target=lambda: (task.finished.wait(), done.set()), daemon=True).start()

    first_tokens: dict[str, float] = {}
    window.chat.answered.connect(
        lambda a: first_tokens.setdefault(current[0], a.timings.get("first_token_ms", 0.0)))
    current = ["model answering"]

    def answer_while_consolidating(done: threading.Event) -> None:
        consolidate(threading.Event())
        wait_until(lambda: window.knows.note.text().startswith("Consolidating"), 120,
                   "consolidation to start")
        answered = threading.Event()
        answer(answered)

        def then_stop() -> None:  # the rest of consolidation is measured on its own
            answered.wait()
            running = window.knows._consolidating
            if running is not None:
                running.cancel()
                running.finished.wait()
            done.set()

        threading.Thread(target=then_stop, daemon=True).start()

    measure("idle", idle)
    measure("model answering", answer)
    measure("reindex (engine lane)", reindex)
    measure("exporting", export)
    current[0] = "answering while consolidating"
    measure("answering while consolidating", answer_while_consolidating)
    measure("consolidating (background lane)", consolidate)  # what the stop left
    recording_rows = recording(measure, window, home)
    current[0] = "model answering again (warm, alone)"  # the like-for-like baseline
    measure("model answering again", answer)
    for name, ms in first_tokens.items():
        rows.append([f"first token: {name}", "", "", "", round(ms)])
    rows += recording_rows
    window.status.timer.stop()
    tasks.wait()
    services.close()
    return rows


def recording(measure: object, window: object, home: Path) -> list[list[object]]:
    """The UI while ``memlane capture`` records a 1920x1080 Xvfb showing a terminal that prints
    a line a second into this home (today's timeline shown, so it follows the new frames)."""
    if not (shutil.which("Xvfb") and shutil.which("openbox")):
        print("recording: skipped (needs Xvfb and openbox)")
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from xserver import XServer

    xs = XServer(size="1920x1080")
    stop = threading.Event()
    try:
        win = xs.window("build - Terminal", "XTerm", ["$ tail -f build.log"],
                        geometry="1400x900+0+0", font_size=22)

        def scroll() -> None:
            lines: list[str] = []
            n = 0
            while not stop.wait(1.0):
                n += 1
                lines = [*lines, f"{time.strftime('%H:%M:%S')} step {n} ok"][-24:]
                win.send("lines " + "|".join(lines))

        feeder = threading.Thread(target=scroll, daemon=True)
        feeder.start()
        (home / "settings.toml").write_text(
            "[capture]\ninterval_seconds = 2.0\n[privacy]\nidle_seconds = 0.0\n",
            encoding="utf-8")
        env = {**xs.env, "MEMLANE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        window.timeline.show_day(date.today())  # type: ignore[attr-defined]

        def record(done: threading.Event) -> None:
            proc = subprocess.Popen([sys.executable, "-m", "memlane", "capture", "--for", "40"],
                                    env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            threading.Thread(target=lambda: (proc.wait(), done.set()), daemon=True).start()

        measure("recording (memlane capture, 2 s)", record)  # type: ignore[operator]
        frames = window.timeline.model.frames  # type: ignore[attr-defined]
        print(f"recording: the timeline of today holds {len(frames)} frames after it")
        return []
    finally:
        stop.set()
        xs.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from memlane.services.demo import build_demo

    tmp = Path(tempfile.mkdtemp(prefix="memlane-gui-bench-"))
    try:
        t0 = time.perf_counter()
        home = build_demo(tmp / "demo")
        demo_s = time.perf_counter() - t0
        print(f"Demo memory built in {demo_s:.1f} s")
        from memlane.memory.store import Store
        from memlane.ui.app import FIRST_RUN_KEY

        store = Store(home / "memlane.db")
        store.set_state(FIRST_RUN_KEY, "1")
        store.close()
        start = startup(home, args.runs)
        print(f"Start-up, offscreen, demo memory, {args.runs} runs (median / max):")
        print(table(["measure", "median", "max"],
                    [[k, statistics.median(v), max(v)] for k, v in start.items()]))
        rows = responsiveness(home)
        print("\nUI thread while work runs (20 ms timer; loading a day on the browse lane):")
        print(table(["while", "ticks", "gap p50 ms", "gap max ms", "load day ms"], rows))
        write_result("gui_app", {
            "demo_build_s": round(demo_s, 1),
            "startup": {k: {"median": statistics.median(v), "max": max(v), "runs": v}
                        for k, v in start.items()},
            "responsiveness": [dict(zip(["while", "ticks", "gap_p50_ms", "gap_max_ms",
                                         "load_day_ms"], r, strict=True)) for r in rows],
        })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
