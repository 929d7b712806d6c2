"""Render the app's main views on the demo memory to PNG files (``make screenshots``).

Run as ``python -m memlane.ui.screenshots [OUT_DIR]`` (default ``docs/screenshots``) with
``QT_QPA_PLATFORM=offscreen``. It builds the sample memory in a temporary folder, opens the main
window, searches, opens a frame, asks the real default model a question (pass ``--fake-model`` to
skip loading it) and saves: the timeline with a frame and a search, the chat with a cited answer,
"What Memlane knows", the timeline at the smallest usable and a large window size, the
right-click menu of a memory, the settings window, the connected programs' log and the first-run
explanation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _pump(app: object, until: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        if until():
            break
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


class _CannedModel:
    """Used only with --fake-model: a fixed answer, so pictures need no model load."""

    name = "canned (screenshots)"

    def stream(self, messages: Sequence[dict[str, str]], **_: object) -> Iterator[str]:
        yield from ("The cheapest ", "was Ryanair FR 1446 ", "at EUR 89 [1].")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--fake-model", action="store_true",
                        help="answer with a canned reply instead of the real default model")
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from memlane.services.demo import build_demo
    from memlane.ui.dialogs import FirstRunDialog
    from memlane.ui.mainwindow import MainWindow, Services
    from memlane.ui.tasks import Tasks

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = build_demo(Path(tmp) / "demo")
        services = Services(home)
        if args.fake_model:
            canned = _CannedModel()
            services = Services(home, services.engine,
                                lambda key: services.engine.assistant(key, model=canned))
        tasks = Tasks()
        window = MainWindow(services, tasks, demo=True)
        window.resize(1460, 900)  # the offscreen screen is small; the pictures are not
        window.show()
        window.start()
        _pump(app, lambda: tasks.busy() == 0, 30)
        window.search.run("cheapest flight to Lisbon")
        _pump(app, lambda: tasks.busy() == 0, 30)
        flights = [h for h in window.search.hits if h.kind == "frame" and "Ryanair" in h.snippet
                   and date.fromtimestamp(h.time) == date.today() - timedelta(days=1)]
        if flights:
            window.open_hit(flights[-1])
        _pump(app, lambda: tasks.busy() == 0, 30)
        window.grab().save(str(out / "timeline.png"))

        task = window.chat.ask("What was the cheapest flight to Lisbon I looked at yesterday?")
        _pump(app, lambda: task is not None and task.finished.is_set() and tasks.busy() == 0,
              300)
        window.grab().save(str(out / "chat.png"))

        window.left.setCurrentWidget(window.knows)
        window.knows.tabs.setCurrentWidget(window.knows.activities)
        _pump(app, lambda: tasks.busy() == 0, 30)
        window.grab().save(str(out / "knows.png"))

        window.left.setCurrentWidget(window.search)
        for width, height in ((900, 600), (1920, 1080)):  # the smallest usable and a large one
            window.resize(width, height)
            _pump(app, lambda: tasks.busy() == 0, 5)
            window.grab().save(str(out / f"timeline-{width}x{height}.png"))
        window.resize(1460, 900)
        window.timeline.show_day(date.today() - timedelta(days=1))
        _pump(app, lambda: tasks.busy() == 0, 30)
        window.confirm_forget = False
        window.no_menus = True
        frame = window.timeline.current_frame()
        if frame is not None:  # the right-click menu of a thumbnail, drawn beside the window
            from memlane.ui.memory_menu import Memory

            menu = window.memory_menu(Memory(f"frame:{frame.id}", frame.app), window.pos())
            menu.grab().save(str(out / "memory-menu.png"))

        dialog = window.open_settings()
        _pump(app, lambda: True, 1)
        dialog.grab().save(str(out / "settings.png"))
        dialog.close()
        connected = window.show_connected()
        _pump(app, lambda: True, 1)
        connected.grab().save(str(out / "connected.png"))
        connected.close()
        first = FirstRunDialog(Path.home() / ".local/share/memlane")
        first.show()
        _pump(app, lambda: True, 1)
        first.grab().save(str(out / "first-run.png"))
        first.close()
        tasks.wait()
        window.status.timer.stop()
        services.close()
    for name in sorted(p.name for p in out.glob("*.png")):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
