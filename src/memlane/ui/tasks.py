"""The one way the GUI runs engine work: off the UI thread, results and errors back on it.

Every call into the engine goes through :meth:`Tasks.run` (in the spirit of Anki's
``CollectionOp``): the function runs on a worker thread with a :class:`Task` for reporting
progress and noticing cancellation, while ``on_done``, ``on_error`` and ``on_progress`` always run
on the main thread, so no worker touches a widget. Work is queued in *lanes*, one thread each:
``engine`` for the shared engine's connection and model, ``browse`` for quick reads on a second
connection, so browsing stays instant while an answer streams, and ``background`` for long work
on an engine of its own (consolidation), so a question never waits behind it. While a
``foreground`` task runs (an answer), background work that calls :meth:`Tasks.yield_to_foreground`
between its steps waits. A task cancelled before it started never runs. A result for a widget
that has been closed is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

LANES = ("engine", "browse", "background", "desktop")  # desktop: waits on the desktop's dialogs


class Cancelled(Exception):
    """Raised inside a task (by :meth:`Task.check`) when the person cancelled it."""


class _Relay(QObject):
    """Lives on the main thread; signals emitted from a worker arrive there (queued)."""

    done = Signal(object)
    failed = Signal(object, str)
    progress = Signal(object)


class Task:
    """A handle given to the work function and returned to the caller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cancel = threading.Event()
        self.finished = threading.Event()
        self._relay = _Relay()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(self.name)

    def progress(self, value: Any) -> None:
        """Report progress (from the worker thread); delivered to ``on_progress``."""
        self._relay.progress.emit(value)


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[[Task], Any]) -> None:
        super().__init__()
        self.task = task
        self.fn = fn

    def run(self) -> None:
        try:
            self.task.check()  # stopped while it waited in its lane
            result = self.fn(self.task)
        except Exception as exc:  # every failure is delivered, never lost in a thread
            if not (isinstance(exc, Cancelled) or self.task.cancelled):
                log.warning("task %s failed: %s", self.task.name, exc)
                log.debug("%s", traceback.format_exc())
            self.task._relay.failed.emit(exc, traceback.format_exc())
        else:
            self.task._relay.done.emit(result)
        finally:
            self.task.finished.set()


class Tasks(QObject):
    """Queues of background work, one thread per lane."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for lane in LANES:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1)
            pool.setExpiryTimeout(-1)
            self._pools[lane] = pool
        self._live: set[Task] = set()
        self._foreground = 0  # foreground tasks queued or running (main thread only)
        self._foreground_idle = threading.Event()
        self._foreground_idle.set()

    def yield_to_foreground(self, task: Task) -> None:
        """Wait (on a worker thread) while a foreground task is queued or running; returns at
        once when ``task`` is cancelled."""
        while not self._foreground_idle.wait(0.1):
            if task.cancelled:
                return

    def run(
        self, name: str, fn: Callable[[Task], Any], *,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[Exception], object] | None = None,
        on_progress: Callable[[Any], object] | None = None,
        lane: str = "engine", owner: QObject | None = None, foreground: bool = False,
    ) -> Task:
        """Run ``fn(task)`` in ``lane``; callbacks run on the main thread.

        With ``owner``, callbacks are skipped once that widget is destroyed. A ``foreground``
        task makes background work wait until it is done.
        """
        task = Task(name)
        relay = task._relay
        self._live.add(task)
        if foreground:
            self._foreground += 1
            self._foreground_idle.clear()

        def alive() -> bool:  # checked when the result arrives; no connection to clean up
            return owner is None or shiboken6.isValid(owner)

        def finish() -> None:
            if foreground and task in self._live:
                self._foreground -= 1
                if self._foreground == 0:
                    self._foreground_idle.set()
            self._live.discard(task)

        def done(result: Any) -> None:
            finish()
            if alive() and on_done is not None:
                on_done(result)

        def failed(exc: Exception, trace: str) -> None:
            finish()
            if not alive():
                return
            if on_error is not None:
                on_error(exc)
            elif not isinstance(exc, Cancelled):
                log.error("unhandled failure in %s: %s\n%s", name, exc, trace)

        relay.done.connect(done)
        relay.failed.connect(failed)
        if on_progress is not None:
            relay.progress.connect(lambda v: on_progress(v) if alive() else None)
        self._pools[lane].start(_Runnable(task, fn))
        return task

    def busy(self) -> int:
        return len(self._live)

    def names(self) -> list[str]:
        """The tasks queued or running (logged when quitting has to leave some behind)."""
        return sorted(task.name for task in self._live)

    def cancel_all(self) -> None:
        for task in list(self._live):
            task.cancel()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Cancel nothing, wait at most ``timeout_ms`` in all for queued work to finish (used
        on quit); whether every lane is idle."""
        deadline = time.monotonic() + timeout_ms / 1000
        return all(pool.waitForDone(max(0, int((deadline - time.monotonic()) * 1000)))
                   for pool in self._pools.values())
