"""What pytest-qt would give us (it is not in our package index): an offscreen QApplication and
waits that keep the event loop turning, so queued signals from worker threads are delivered."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication


def qapp() -> QApplication:
    app = QApplication.instance() or QApplication(["memlane-tests"])
    assert isinstance(app, QApplication)
    return app


def pump(ms: int = 0) -> None:
    """Process events for ``ms`` milliseconds (at least once)."""
    app = qapp()
    end = time.monotonic() + ms / 1000
    app.processEvents()
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def wait_until(cond: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        qapp().processEvents()
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or cond}")


def wait_idle(tasks: object, timeout: float = 30.0) -> None:
    """Until every task started through ``tasks`` has delivered its result (or error)."""
    wait_until(lambda: tasks.busy() == 0, timeout, "background tasks")  # type: ignore[attr-defined]
    pump(20)
