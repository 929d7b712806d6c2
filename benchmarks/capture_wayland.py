"""The recorder's cost on Wayland (GNOME: ScreenCast portal + PipeWire + AT-SPI) against X11 (mss +
EWMH), side by side in one run, at the same resolution and on the same screens.

Starts a 1280x800 Xvfb with openbox and a headless GNOME session (mutter with one 1280x800
virtual monitor, xdg-desktop-portal-gnome, PipeWire; see ``tests/wayland_session.py``). On each,
one Qt window fills the screen, drawn by the same program: ``static`` text that never changes, or
``typing``, a line that grows by three characters every 0.3 s. For each screen, in alternating
order over ``--reps`` repetitions, ``memlane capture --for SECONDS --no-drain`` runs in a fresh
home (the Wayland home granted once, beforehand, through the portal's dialog answered over AT-SPI)
and ``/proc`` is sampled every second. Reported per path and screen: CPU % of one core after the
first 20 s, average RSS of the recorder, frames stored; what recording adds to the desktop's own
processes (Xvfb; mutter, PipeWire, WirePlumber and the portals), measured against 20 s with the
window alone just before; and, in a separate process on each
desktop, the median time of one tick's window snapshot plus grab (``tick_to_frame_ms``). Medians
over the repetitions, and the Wayland/X11 ratios.

    python benchmarks/capture_wayland.py [--seconds 60] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, table, write_result

sys.path.insert(0, str(ROOT / "tests"))
from capture_live import WARMUP_S, cpu_seconds, rss_mb
from wayland_session import GnomeSession, approve_dialog, gnome_missing
from xserver import XServer, have_x

INTERVAL_S = 5.0
SIZE = (1280, 800)

SCREEN = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel
TEXT = ("Dear Ana, thanks for the notes from Thursday. I moved the review to Monday at ten and "
        "booked the small room on the third floor. ") * 20
app = QApplication([])
app.setApplicationName("notes")
label = QLabel("$ notes.txt\nMeeting notes, week 49\n")
label.setWindowTitle("notes.txt - Editor")
label.setFont(QFont("DejaVu Sans Mono", 18))
label.setStyleSheet("background: white; color: black; padding: 20px;")
label.resize(int(sys.argv[2]), int(sys.argv[3]))
label.show()
n = [0]
def grow():
    n[0] += 3
    label.setText("$ notes.txt\nMeeting notes, week 49\n\n" + TEXT[:n[0]][-70:])
if sys.argv[1] == "typing":
    timer = QTimer(); timer.timeout.connect(grow); timer.start(300)
app.exec()
"""

TICK = r"""
import statistics, sys, time
from memlane.capture.backends import choose_backend
from memlane.memory.store import Store
from memlane.services.recorder import StoredToken
store = Store(sys.argv[1])
backend = choose_backend(None, StoredToken(store))
times = []
for i in range(int(sys.argv[2]) + 3):
    start = time.perf_counter()
    backend.windows.snapshot()
    backend.grabber.prepare()
    for rect in backend.grabber.monitors():
        backend.grabber.grab(rect)
    if i >= 3:
        times.append(1000 * (time.perf_counter() - start))
    time.sleep(0.5)
backend.grabber.reset()
print(statistics.median(times))
"""


def screen(env: dict[str, str], mode: str, platform: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", SCREEN, mode, str(SIZE[0]), str(SIZE[1] - 40)],
                            env={**env, "QT_QPA_PLATFORM": platform}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    return proc


DESKTOP = {"x11": ("Xvfb",), "wayland": ("mutter", "pipewire", "wireplumber",
                                          "xdg-desktop-por")}  # comm is cut at 15 characters


def desktop_cpu(path: str) -> float:
    """CPU seconds so far of the processes that serve the screen on ``path``'s desktop."""
    import os

    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
                name = fh.read().strip()
            if name in DESKTOP[path]:
                total += cpu_seconds(int(pid))
        except (OSError, IndexError, ValueError):
            continue
    return total


def record(env: dict[str, str], home: Path, seconds: float, path: str) -> dict[str, float]:
    # what the desktop costs with the window alone, then while the recorder runs
    base_start, base_cpu = time.perf_counter(), desktop_cpu(path)
    time.sleep(WARMUP_S)
    base = 100 * (desktop_cpu(path) - base_cpu) / (time.perf_counter() - base_start)
    proc = subprocess.Popen([sys.executable, "-m", "memlane", "capture", "--for", str(seconds),
                             "--no-drain"], env={**env, "MEMLANE_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=(home / "capture.log").open("w"))
    samples: list[tuple[float, float, float, float]] = []
    start = time.perf_counter()
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter() - start, cpu_seconds(proc.pid), rss_mb(proc.pid),
                            desktop_cpu(path)))
        except (OSError, IndexError, ValueError):
            break
        time.sleep(1.0)
    proc.wait()
    steady = [s for s in samples if s[0] >= WARMUP_S]
    span = steady[-1][0] - steady[0][0]
    cpu = 100 * (steady[-1][1] - steady[0][1]) / span
    desktop = 100 * (steady[-1][3] - steady[0][3]) / span - base
    rss = statistics.mean(s[2] for s in steady if s[2] > 0)
    out = subprocess.run(["sqlite3", str(home / "memlane.db"), "SELECT count(*) FROM frames"],
                         capture_output=True, text=True, check=False).stdout.strip()
    frames = int(out) if out.isdigit() else -1
    if frames <= 0:
        print((home / "capture.log").read_text(errors="replace")[-1500:], file=sys.stderr)
    return {"cpu_pct": cpu, "rss_mb": rss, "frames": frames, "desktop_extra_cpu_pct": desktop,
            "total_cpu_pct": cpu + desktop}


def fresh_home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir()
    (home / "settings.toml").write_text(
        f"[capture]\ninterval_seconds = {INTERVAL_S}\n[privacy]\nidle_seconds = 0.0\n")
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    if not have_x() or gnome_missing():
        print(f"skipped: needs Xvfb, openbox and a headless GNOME ({gnome_missing()})")
        return
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        xs = XServer(size=f"{SIZE[0]}x{SIZE[1]}")
        try:
            with GnomeSession(root / "gnome", monitors=(f"{SIZE[0]}x{SIZE[1]}",)) as gnome:
                granted = fresh_home(root, "granted")
                approver = approve_dialog(gnome.env)
                subprocess.run([sys.executable, "-m", "memlane", "capture", "--grant"],
                               env={**gnome.env, "MEMLANE_HOME": str(granted)}, check=True,
                               capture_output=True, timeout=120)
                approver.wait(30)
                token = subprocess.run(
                    ["sqlite3", str(granted / "memlane.db"),
                     "SELECT value FROM state WHERE key = 'capture.portal_token'"],
                    capture_output=True, text=True, check=True).stdout.strip()
                paths = {"x11": (xs.env, "xcb"), "wayland": (gnome.env, "wayland")}
                for rep in range(args.reps):
                    for mode in ("static", "typing"):
                        order = ["x11", "wayland"] if rep % 2 == 0 else ["wayland", "x11"]
                        for path in order:
                            env, platform = paths[path]
                            home = fresh_home(root, f"{path}-{mode}-{rep}")
                            if path == "wayland":  # the grant, as the person gave it once
                                subprocess.run([sys.executable, "-c",
                                                "import sys; from memlane.memory.store import "
                                                "Store; Store(sys.argv[1]).set_state("
                                                "'capture.portal_token', sys.argv[2])",
                                                str(home / "memlane.db"), token], check=True)
                            win = screen(env, mode, platform)
                            try:
                                result = record(env, home, args.seconds, path)
                                tick = subprocess.run(
                                    [sys.executable, "-c", TICK, str(home / "memlane.db"),
                                     str(args.ticks)], env=env, capture_output=True, text=True,
                                    timeout=300)
                                result["tick_to_frame_ms"] = float(tick.stdout.strip() or "nan")
                            finally:
                                win.kill()
                            rows.setdefault((path, mode), []).append(result)
                            print(json.dumps({"path": path, "screen": mode, "rep": rep,
                                              **result}), flush=True)
        finally:
            xs.stop()
    summary = []
    for mode in ("static", "typing"):
        med = {path: {k: statistics.median(r[k] for r in rows[(path, mode)])
                      for k in ("cpu_pct", "rss_mb", "frames", "tick_to_frame_ms",
                                "desktop_extra_cpu_pct", "total_cpu_pct")}
               for path in ("x11", "wayland")}
        summary.append({"screen": mode, **{f"{p}_{k}": v for p, d in med.items()
                                           for k, v in d.items()},
                        "cpu_ratio": med["wayland"]["cpu_pct"] / med["x11"]["cpu_pct"],
                        "total_cpu_ratio": (med["wayland"]["total_cpu_pct"]
                                            / med["x11"]["total_cpu_pct"]),
                        "rss_ratio": med["wayland"]["rss_mb"] / med["x11"]["rss_mb"]})
    print(f"memlane capture --for {args.seconds:.0f} at a {INTERVAL_S:.0f} s interval, "
          f"{SIZE[0]}x{SIZE[1]}, medians of {args.reps} runs each")
    print(table(["screen", "X11 CPU %", "Wayland CPU %", "ratio", "+desktop X11",
                 "+desktop Wayland", "total ratio", "X11 RSS MB", "Wayland RSS MB",
                 "ratio", "X11 tick ms", "Wayland tick ms", "frames X11/Wayland"],
                [[s["screen"], s["x11_cpu_pct"], s["wayland_cpu_pct"], s["cpu_ratio"],
                  s["x11_desktop_extra_cpu_pct"], s["wayland_desktop_extra_cpu_pct"],
                  s["total_cpu_ratio"],
                  s["x11_rss_mb"], s["wayland_rss_mb"], s["rss_ratio"],
                  s["x11_tick_to_frame_ms"], s["wayland_tick_to_frame_ms"],
                  f"{s['x11_frames']:.0f}/{s['wayland_frames']:.0f}"] for s in summary]))
    print(f"wrote {write_result('capture_wayland', {'interval_s': INTERVAL_S, 'seconds': args.seconds, 'summary': summary, 'runs': {f'{p}/{m}': r for (p, m), r in rows.items()}})}")


if __name__ == "__main__":
    main()
