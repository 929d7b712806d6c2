"""The capture service: ticks of the recorder stored as frames, OCR worked off in the background.

It composes :mod:`memlane.capture` with :mod:`memlane.memory`. :class:`CaptureService` runs one
tick (pause and display checks, the recorder's tick, then each changed monitor's frame written as
WebP and thumbnail and stored *with* its OCR job in one transaction) and records when things last
happened in the ``state`` table, which :func:`capture_status` reports instead of flags.
:func:`run_recorder` schedules ticks with apscheduler, runs the
:class:`~memlane.services.ocr_worker.OcrWorker` in a thread, and holds a lock file so there is
one recorder per home folder.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any

import numpy as np

from memlane.capture.backends import choose_backend
from memlane.capture.change import ChangeDetector, signature
from memlane.capture.fingerprint import dhash
from memlane.capture.privacy import SELF_COVERED, ExclusionRules
from memlane.capture.recorder import Recorder, Shot, Tick
from memlane.capture.windows import WindowInfo
from memlane.core.errors import (
    MemlaneError,
    RecorderBusy,
    RecorderError,
    SettingsError,
    StorageError,
)
from memlane.core.paths import Paths
from memlane.core.settings import Settings
from memlane.memory.forget import sweep_files
from memlane.memory.frames import FrameFiles
from memlane.memory.jobs import JobQueue
from memlane.memory.records import FrameIn, iso
from memlane.memory.store import Store
from memlane.services.ocr_worker import Handoff, OcrWorker
from memlane.services.upkeep import Chores, Upkeep

log = logging.getLogger(__name__)

PAUSE_KEY = "capture.paused_until"
TICK_KEY = "capture.last_tick"
DAY_KEY = "capture.today"
LAST_KEY = "capture.last."  # + monitor key: the last stored frame of that monitor
TOKEN_KEY = "capture.portal_token"  # the ScreenCast portal's restore token (a secret)


class StoredToken:
    """The portal's restore token, kept in the store's ``state`` table: in the home folder, and
    encrypted with everything else when encryption is on."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self) -> str | None:
        return self.store.get_state(TOKEN_KEY) or None

    def save(self, token: str | None) -> None:
        if token:
            self.store.set_state(TOKEN_KEY, token)
        else:
            self.store.set_states({}, delete=[TOKEN_KEY])


# -- pause -----------------------------------------------------------------------------------


def pause(store: Store, minutes: float | None, now: float | None = None) -> float | None:
    """Pause capture (for ``minutes``, or until resumed); returns when it ends (None: never)."""
    now = time.time() if now is None else now
    until = None if minutes is None else now + minutes * 60.0
    store.set_state(PAUSE_KEY, "forever" if until is None else repr(until))
    return until


def resume(store: Store) -> None:
    store.set_states({}, delete=[PAUSE_KEY])


def paused_until(store: Store, now: float | None = None) -> float | bool | None:
    """``False`` when not paused, ``None`` when paused until resumed, else the end time."""
    raw = store.get_state(PAUSE_KEY)
    if raw is None:
        return False
    if raw == "forever":
        return None
    until = float(raw)
    return until if until > (time.time() if now is None else now) else False


def _json_state(store: Store, key: str) -> dict[str, Any]:
    """A JSON object kept in the ``state`` table; ``{}`` when absent or unreadable."""
    try:
        value = json.loads(store.get_state(key) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def grant_recording(store: Store, dialog_s: float = 300.0) -> int:
    """Ask the desktop's portal for permission to record (from a process with a visible window),
    keep its restore token for the recorder; the number of monitors granted."""
    from memlane.capture.wayland import CaptureUnavailable, grant

    try:
        return grant(StoredToken(store), dialog_s=dialog_s)
    except CaptureUnavailable as exc:
        raise RecorderError(str(exc)) from None


# -- one tick --------------------------------------------------------------------------------


@dataclass
class TickReport:
    time: float
    state: str
    reason: str
    stored: list[int]
    unchanged: int
    private: int
    needs_grant: bool = False


@dataclass
class RecorderRun:
    """What a recorder run did, in constant memory (a recorder runs for weeks)."""

    ticks: int = 0
    stored: int = 0
    errors: int = 0
    last: TickReport | None = None

    def add(self, report: TickReport) -> None:
        self.ticks += 1
        self.stored += len(report.stored)
        self.errors += report.state == "error"
        self.last = report


class CaptureService:
    """Runs recorder ticks and stores what they produce. Use from one thread."""

    def __init__(
        self, paths: Paths, settings: Settings, store: Store, files: FrameFiles, *,
        recorder: Recorder | None = None, env: dict[str, str] | None = None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.store = store
        self.files = files
        cap, priv = settings.capture, settings.privacy
        self.detector = ChangeDetector(cap.min_change_percent)
        try:
            covered = (os.environ if env is None else env).get(SELF_COVERED) == "1"
            rules = ExclusionRules.of(priv, self_covered=covered)
        except ValueError as exc:
            raise MemlaneError(f"settings: [privacy] {exc}") from None
        idle = priv.idle_seconds if priv.idle_seconds > 0 else float("inf")
        self.backend = choose_backend(env, StoredToken(store)) if recorder is None else None
        if recorder is None:
            assert self.backend is not None
            recorder = Recorder(rules, self.detector, idle_limit_s=idle,
                                monitors=cap.monitor_set(), windows=self.backend.windows,
                                grabber=self.backend.grabber)
        self.recorder = recorder
        self.backend_name = (f"{self.backend.name} (windows: {self.backend.windows_name})"
                             if self.backend else self.recorder.grabber.name)
        self.recorder.detector = self.detector
        self.handoff: Handoff | None = None  # pixels for an OCR worker in this process
        self._last_frame: dict[str, int] = {}
        self._day = _json_state(self.store, DAY_KEY)
        self._seed()

    def close(self) -> None:
        """Close the recorder's display connection (the store is the caller's)."""
        self.recorder.close()

    def _seed(self) -> None:
        """Pick up the last stored frame per monitor from before a restart."""
        for key, value in self.store.sql(
            "SELECT key, value FROM state WHERE key LIKE ?", [LAST_KEY + "%"]
        ):
            try:
                info = json.loads(value)
                sig = np.frombuffer(bytes.fromhex(info["sig"]), dtype=np.uint32)
                sig = sig.reshape(info["shape"])
            except (ValueError, KeyError, TypeError):
                continue
            monitor = key[len(LAST_KEY):]
            self.detector.seed(monitor, sig)
            self._last_frame[monitor] = int(info["frame_id"])

    def tick(self, now: float | None = None) -> TickReport:
        now = time.time() if now is None else now
        report = TickReport(now, "recording", "", [], 0, 0)
        pause_end = paused_until(self.store, now)
        if pause_end is not False:
            report.state = "paused"
            report.reason = "until resumed" if pause_end is None else f"until {iso(pause_end)}"
        elif self.backend is not None and self.backend.grabber is None:
            report.state, report.reason = "error", self.backend.note
        else:
            self._record(self.recorder.tick(), report)
        self._note(report)
        return report

    def _record(self, tick: Tick, report: TickReport) -> None:
        report.state, report.reason = tick.state, tick.reason
        report.unchanged, report.private = tick.unchanged, tick.private
        report.needs_grant = tick.needs_grant
        for shot in tick.shots:
            try:
                report.stored.append(self._store_shot(shot, tick, report.time))
            except StorageError as exc:
                log.warning("could not store a frame: %s", exc)
                report.state, report.reason = "error", str(exc)
                break

    def _store_shot(self, shot: Shot, tick: Tick, now: float) -> int:
        image = shot.image()
        window = _window_for(shot, tick)
        handoff = self.handoff if self.handoff is not None and not self.handoff.full() else None
        stored = self.files.write(
            image, now, f"m{shot.monitor}-{uuid.uuid4().hex[:8]}", spool=handoff is None
        )
        key = shot.key
        prev = self._last_frame.get(key)
        job: dict[str, Any] = {"prev": prev}
        if prev is not None and shot.change.share < 1.0:
            job["changed"] = [list(r) for r in shot.change.rects]
            if shot.change.scroll is not None:  # what was read there moved by dy
                dy, bands = shot.change.scroll
                job["scroll"] = [dy, [list(b) for b in bands]]
        sig = signature(shot.pixels)
        last = {"frame_id": 0, "sig": sig.tobytes().hex(), "shape": list(sig.shape)}
        frame = FrameIn(
            time=now, app=window.app if window else "", title=window.title if window else "",
            image_path=stored.image_path, thumb_path=stored.thumb_path, width=stored.width,
            height=stored.height, bytes=stored.bytes, change_hash=dhash(image),
            content_sha256=None, monitor=shot.monitor, origin="capture",
            url=window.url if window else "",
        )
        try:
            frame_id = self.store.add_frame(frame, ocr_job=job)
            if frame_id is None:
                raise StorageError("the frame was not stored")
            self.store.set_state(LAST_KEY + key, json.dumps({**last, "frame_id": frame_id}))
        except BaseException:
            self.files.remove(stored)
            raise
        if handoff is not None:
            handoff.put(frame_id, image)
        self.detector.stored(key, shot.pixels)
        self._last_frame[key] = frame_id
        return frame_id

    def _note(self, report: TickReport) -> None:
        today = date.fromtimestamp(report.time).isoformat()
        if self._day.get("day") != today:
            self._day = {"day": today}
        day = self._day
        for name, n in (("stored", len(report.stored)), ("unchanged", report.unchanged),
                        ("private", report.private)):
            day[name] = day.get(name, 0) + n
        if report.state != "recording":
            day[report.state] = day.get(report.state, 0) + 1
        last = {"time": report.time, "state": report.state, "reason": report.reason,
                "pid": os.getpid(), "interval": self.settings.capture.interval_seconds,
                "backend": self.backend_name, "needs_grant": report.needs_grant}
        try:
            self.store.set_states({TICK_KEY: json.dumps(last), DAY_KEY: json.dumps(day)})
        except StorageError as exc:
            log.warning("could not record the capture state: %s", exc)


def _window_for(shot: Shot, tick: Tick) -> WindowInfo | None:
    """The window a frame is about: the focused one if it is on that monitor, else the topmost.

    Where the desktop does not say where windows are, the focused window names the frame only
    when there is one monitor; otherwise the frame's window is unknown, not guessed.
    """
    if tick.active is not None and not tick.active.placed:
        return tick.active if tick.monitors == 1 else None
    if tick.active is not None and tick.active.rect.intersect(shot.rect) is not None:
        return tick.active
    for window in reversed(tick.windows):
        if window.id not in tick.excluded and window.rect.intersect(shot.rect) is not None:
            return window
    return None


# -- running it ------------------------------------------------------------------------------


def recorder_pid(paths: Paths) -> int | None:
    """The pid of the recorder running on this home folder, or ``None`` (a fact: its lock)."""
    path = paths.recorder_lock
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


class RecorderLock:
    """An exclusive lock on ``<home>/recorder.lock`` naming the process that holds it."""

    def __init__(self, paths: Paths) -> None:
        self.path = paths.recorder_lock
        self._fh: IO[str] | None = None

    def __enter__(self) -> RecorderLock:
        fh = open(self.path, "a+", encoding="utf-8")  # held until __exit__
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise RecorderBusy(
                f"another Memlane recorder (pid {holder}) is already running on this home folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass(frozen=True)
class RecorderParts:
    """What a recording needs, built by the engine: the OCR worker runs on ``store`` (the
    caller's thread and the OCR thread, never at once), the capture service on a connection of
    its own, and each upkeep run on an engine of its own (``chores``)."""

    paths: Paths
    settings: Settings
    store: Store
    ocr_worker: Callable[[], OcrWorker]
    capture_service: Callable[[], CaptureService]
    chores: Callable[[], Chores]


def run_recorder(
    parts: RecorderParts, *, seconds: float | None = None, once: bool = False,
    drain: bool = True, on_tick: Callable[[TickReport], None] | None = None,
    stop: threading.Event | None = None,
) -> RecorderRun:
    """Record (one tick, ``seconds``, or until ``stop``/SIGTERM), then finish the OCR backlog."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    settings, paths = parts.settings, parts.paths
    if settings.capture.interval_seconds < 0.5:
        raise SettingsError("settings: [capture] interval_seconds must be at least 0.5")
    stop = stop or threading.Event()
    run = RecorderRun()
    with RecorderLock(paths):
        worker = parts.ocr_worker()
        worker.recover()  # jobs a killed recorder left running
        JobQueue(parts.store).purge_done()  # finished OCR jobs older than a day
        sweep_files(parts.store, paths.home, (paths.spool,))
        service = parts.capture_service()
        worker.handoff = service.handoff = Handoff()

        def tick() -> None:
            try:
                report = service.tick()
            except Exception as exc:  # never let one bad tick stop the schedule
                log.exception("capture tick failed")
                report = TickReport(time.time(), "error", f"capture failed: {exc}", [], 0, 0)
            run.add(report)
            if on_tick:
                on_tick(report)

        try:
            if once:
                tick()
            else:
                scheduler = BackgroundScheduler(
                    executors={"default": ThreadPoolExecutor(1),
                               "background": ThreadPoolExecutor(1)},
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
                )
                scheduler.add_job(
                    tick, "interval", seconds=settings.capture.interval_seconds,
                    next_run_time=datetime.now(),
                )
                upkeep = Upkeep(settings.memory, lambda: run.last.state if run.last else None,
                                parts.chores, settings.journal)
                scheduler.add_job(upkeep.run, "interval", minutes=5, executor="background",
                                  next_run_time=datetime.now() + timedelta(minutes=1))
                ocr_stop = threading.Event()
                thread = threading.Thread(target=worker.loop, args=(ocr_stop,), name="ocr")
                terms: list[int] = []
                old = _on_sigterm(terms)
                scheduler.start()
                thread.start()
                try:
                    _wait_for_stop(stop, terms, seconds)
                finally:
                    scheduler.shutdown(wait=True)
                    ocr_stop.set()
                    thread.join()
                    if old is not None:
                        signal.signal(signal.SIGTERM, old)
            if drain:
                worker.drain()
        finally:
            service.close()
            service.store.close()
    return run


def stop_with_parent(parent: int | None = None) -> None:
    """Get SIGTERM (a clean stop) when the parent process dies, e.g. the app was SIGKILLed.

    Linux's ``PR_SET_PDEATHSIG``; elsewhere a no-op. If the parent is already gone, stop now:
    ``parent`` is the pid the app said it has (``MEMLANE_PARENT_PID``), so an app killed before
    this ran is noticed too (``os.getppid()`` would already name the reaper).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    if parent is None:
        parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _on_sigterm(terms: list[int]) -> Any:
    """Note each SIGTERM in ``terms``; return the handler it replaces (None off the main thread).

    The handler takes no lock. One that called ``Event.set`` deadlocked when a second SIGTERM
    (the app dying, then a logout) arrived while the first was inside ``set``: the handler
    re-entered the Event's lock on the same thread and the recorder never exited.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: terms.append(1))


def _wait_for_stop(stop: threading.Event, terms: list[int], seconds: float | None,
                   poll_s: float = 0.25) -> None:
    """Block until ``stop`` is set, a SIGTERM was noted in ``terms``, or ``seconds`` pass."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not terms and not stop.is_set():
        left = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
        if left <= 0:
            return
        stop.wait(left)
