"""Honest status: what the recorder is doing, said from facts, and the recorder kept alive.

:class:`StatusWidget` polls :func:`~memlane.services.capture_status.capture_status` every few
seconds on the browse lane and shows recording / paused / excluded window / idle / locked /
waiting / stopped / error with the reason the recorder gave, the time since the last stored
frame and the OCR backlog, with a one-click pause/resume (stored in the database, so the
recorder and the CLI see it too).
:class:`RecorderSupervisor` runs ``memlane capture`` as a child process (capture and OCR never share
the UI's process or threads), restarts it when it dies - at most a few times in a row, then it says
so instead of looping - and stops it with SIGTERM on quit.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from memlane.capture.wayland import GRANT_HINT, NOW_HINT
from memlane.core.errors import RecorderBusy, SettingsError
from memlane.core.launch import module_command
from memlane.memory.crypto import Keys
from memlane.services import recorder as cap
from memlane.ui.tasks import Task, Tasks

log = logging.getLogger(__name__)

COLOURS = {"recording": "#2e9d4f", "unchanged": "#2e9d4f", "paused": "#c08a00",
           "excluded": "#7a5bbf", "idle": "#7a7a7a", "locked": "#7a7a7a",
           "waiting": "#7a7a7a",
           "stopped": "#7a7a7a", "error": "#c0392b", "wayland": "#c0392b", "starting": "#2e7dbf"}
MAX_RESTARTS = 3
RESTART_WINDOW_S = 600.0


def ago(seconds: float | None) -> str:
    """When the recorder last stored a frame (imported screenshots are not recordings)."""
    if seconds is None:
        return "nothing recorded yet"
    if seconds < 90:
        return f"last recorded {seconds:.0f} s ago"
    if seconds < 5400:
        return f"last recorded {seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"last recorded {seconds / 3600:.0f} h ago"
    return f"last recorded {seconds / 86400:.0f} days ago"


RESTART_GRACE_S = 30.0  # how long a recorder restarted by the app may take to report in


class RecorderSupervisor(QObject):
    """Keeps one ``memlane capture`` child running while the app is open."""

    changed = Signal(str)

    def __init__(self, home: Path, keys: Keys | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.keys = keys
        self.proc: QProcess | None = None
        self.deaths: list[float] = []
        self.gave_up = ""
        self.stopping = False

    def start(self) -> None:
        if self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning:
            return
        self.stopping = False
        proc = QProcess(self)
        unlock = ["--key-stdin"] if self.keys is not None else []
        program, *args = module_command("memlane", "--home", str(self.home), *unlock, "capture",
                                        "--no-drain", "--exit-with-parent")
        proc.setProgram(program)
        proc.setArguments(args)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("MEMLANE_PARENT_PID", str(os.getpid()))  # --exit-with-parent checks it
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
        proc.setStandardOutputFile(QProcess.nullDevice())
        proc.finished.connect(lambda code, _status: self._finished(code))
        proc.start()
        if self.keys is not None:  # the key, never the passphrase, and never on the command line
            proc.write((self.keys.token() + "\n").encode("ascii"))
            proc.closeWriteChannel()
        self.proc = proc
        self.changed.emit("started")

    def _finished(self, code: int) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW_S] + [now]
        if code in (0, RecorderBusy.exit_code):  # told to stop, or another recorder runs
            self.changed.emit("exited")
            return
        if code == SettingsError.exit_code:
            self.gave_up = "the recorder cannot read settings.toml; fix it in Settings"
            self.changed.emit("gave up")
            return
        if len(self.deaths) > MAX_RESTARTS:
            self.gave_up = (f"the recorder stopped {len(self.deaths)} times in "
                            f"{RESTART_WINDOW_S / 60:.0f} minutes (exit code {code}); see "
                            f"{self.home / 'logs'} and use Resume to try again")
            log.error("%s", self.gave_up)
            self.changed.emit("gave up")
            return
        log.warning("the recorder exited with code %s; restarting it", code)
        QTimer.singleShot(2000, self.start)

    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def stop(self, wait_ms: int = 8000) -> None:
        self.stopping = True
        if self.proc is not None and self.running():
            self.proc.terminate()  # SIGTERM: the recorder finishes its tick and exits
            if not self.proc.waitForFinished(wait_ms):
                self.proc.kill()
                self.proc.waitForFinished(2000)


class StatusWidget(QWidget):
    """One line: a coloured state, its reason, time since the last frame, OCR backlog."""

    updated = Signal(dict)

    def __init__(self, tasks: Tasks, status_fn: Callable[[], dict[str, Any]],
                 pause_fn: Callable[[bool, float | None], None], parent: QWidget | None = None,
                 interval_ms: int = 3000,
                 grant_fn: Callable[[], int] | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.status_fn = status_fn
        self.pause_fn = pause_fn
        self.grant_fn = grant_fn
        self.info: dict[str, Any] = {}
        self.supervisor_note = ""
        self.restarting_since: float | None = None  # the app restarts the recorder (settings)
        self.demo = False  # a sample memory: nothing is recorded
        self.dot = QLabel("●")
        self.label = QLabel("Checking the recorder…")
        self.toggle = QToolButton()
        self.toggle.setText("Pause")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toggle.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.toggle.setToolTip("Pause screen capture until you resume, or for a while (the "
                               "arrow); kept across restarts")
        self.pause_choices = QMenu(self.toggle)
        pause_menu(self.pause_choices, lambda minutes: self.set_pause(True, minutes))
        self.toggle.setMenu(self.pause_choices)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.dot)
        layout.addWidget(self.label, 1)
        # Wayland: the desktop asks the person, once, and only for a visible, focused app
        self.allow = QToolButton()
        self.allow.setText("Allow screen recording")
        self.allow.setToolTip("Your desktop asks whether Memlane may record the screen; the "
                              "answer is kept, so it asks once")
        self.allow.setVisible(False)
        self.allow.clicked.connect(self.ask_grant)
        layout.addWidget(self.allow)
        layout.addWidget(self.toggle)
        self.toggle.clicked.connect(self._toggle)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(interval_ms)
        self._inflight: Task | None = None

    def refresh(self) -> Task | None:
        if self._inflight is not None and not self._inflight.finished.is_set():
            return None
        self._inflight = self.tasks.run("status", lambda _t: self.status_fn(),
                                        on_done=self.show, on_error=self._failed,
                                        lane="browse", owner=self)
        return self._inflight

    def show(self, info: dict[str, Any]) -> None:  # type: ignore[override]
        self.info = info
        state = str(info.get("state", "error"))
        reason = str(info.get("reason", ""))
        if self.supervisor_note and state in ("stopped", "error"):
            reason = self.supervisor_note
        if self.restarting_since is not None:
            if state == "stopped" and time.time() - self.restarting_since < RESTART_GRACE_S:
                state, reason = "starting", "restarting the recorder with the new settings"
            else:
                self.restarting_since = None
        if self.demo:
            state, reason = "stopped", "sample memory; nothing is recorded in the demo"
        self.dot.setStyleSheet(f"color: {COLOURS.get(state, '#7a7a7a')}; font-size: 16px")
        label = {"unchanged": "recording", "recording": "recording"}.get(state, state)
        if info.get("needs_grant") and state in ("error", "waiting") and not self.demo:
            # the recorder's reason says why; the button beside says what to do
            hint = f": {GRANT_HINT}"
            if state == "error":
                label = "not allowed"
                reason = reason.split(hint, 1)[0] if hint in reason else (
                    "your desktop has not allowed Memlane to record")
            else:  # it resumes by itself; the button records what can be recorded meanwhile
                reason = reason.split(NOW_HINT, 1)[0].split(hint, 1)[0]
        backlog = int(info.get("ocr_backlog", 0))
        parts = [f"<b>{label.capitalize()}</b>"]
        if reason and state not in ("recording", "unchanged"):
            parts.append(reason)
        parts.append(ago(info.get("seconds_since_last_frame")))
        if backlog:
            behind = float(info.get("ocr_behind_seconds") or 0.0)
            text = f"OCR backlog {backlog}"
            if behind >= 60:
                text += f", {behind / 60:.0f} min behind"
            if info.get("ocr_waiting"):
                text += f" (waiting: {info['ocr_waiting']})"
            parts.append(text)
        if info.get("ocr_failed"):
            parts.append(f"{info['ocr_failed']} frame(s) could not be read")
        self.label.setText(" · ".join(parts))
        self.label.setToolTip(" · ".join(re.sub(r"<[^>]+>", "", part) for part in parts))
        paused = state == "paused"
        self.toggle.setText("Resume" if paused else "Pause")
        self.toggle.setPopupMode(QToolButton.ToolButtonPopupMode.DelayedPopup if paused
                                 else QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.toggle.setMenu(None if paused else self.pause_choices)  # type: ignore[arg-type]
        self.allow.setVisible(bool(info.get("needs_grant")) and self.grant_fn is not None
                              and not self.demo)
        self.updated.emit(info)

    def ask_grant(self) -> Task | None:
        """Ask the desktop for permission to record (its dialog, over this window)."""
        if self.grant_fn is None:
            return None
        grant_fn = self.grant_fn
        self.allow.setEnabled(False)
        self.allow.setText("Waiting for your answer…")

        def done(monitors: object) -> None:
            self.allow.setEnabled(True)
            self.allow.setText("Allow screen recording")
            self.allow.setVisible(False)
            self.label.setText(f"<b>Starting</b> · screen recording allowed on {monitors} "
                               "monitor(s)")
            self.refresh()

        def failed(exc: Exception) -> None:
            self.allow.setEnabled(True)
            self.allow.setText("Allow screen recording")
            self._failed(exc)

        return self.tasks.run("grant", lambda _t: grant_fn(), on_done=done, on_error=failed,
                              lane="desktop", owner=self)

    def _failed(self, exc: Exception) -> None:
        self.dot.setStyleSheet(f"color: {COLOURS['error']}; font-size: 16px")
        self.label.setText(f"<b>Error</b> · cannot read the status: {exc}")

    def _toggle(self) -> None:
        self.set_pause(self.info.get("state") != "paused", None)

    def set_pause(self, paused: bool, minutes: float | None) -> Task:
        """Pause (for ``minutes``, or until resumed) or resume; the line says so at once."""
        self.toggle.setEnabled(False)

        def done(_r: object) -> None:
            self.toggle.setEnabled(True)
            self.refresh()

        def failed(exc: Exception) -> None:
            self.toggle.setEnabled(True)
            self._failed(exc)

        return self.tasks.run("pause", lambda _t: self.pause_fn(paused, minutes), on_done=done,
                              on_error=failed, lane="browse", owner=self)


def set_paused(store: Any, paused: bool, minutes: float | None = None) -> None:
    """Pause (for ``minutes``, or until resumed) or resume recording."""
    if paused:
        cap.pause(store, minutes)
    else:
        cap.resume(store)


def minutes_to_midnight(now: datetime | None = None) -> float:
    now = now or datetime.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    return (midnight - now).total_seconds() / 60


# The ways to pause, for the status bar's and the tray's menus: label, minutes (None: until
# resumed; a callable: worked out when chosen).
PAUSE_CHOICES: tuple[tuple[str, float | Callable[[], float] | None], ...] = (
    ("For 15 minutes", 15.0), ("For 1 hour", 60.0), ("Until tomorrow", minutes_to_midnight),
    ("Until I resume", None),
)


def pause_menu(menu: QMenu, pause: Callable[[float | None], object]) -> None:
    """Fill ``menu`` with the pause choices, each calling ``pause(minutes)``."""
    for label, minutes in PAUSE_CHOICES:
        action = menu.addAction(label)
        action.triggered.connect(
            lambda _c=False, m=minutes: pause(m() if callable(m) else m))
