"""Starting and stopping the desktop app: Qt, the window, the tray icon and the recorder.

:func:`run` is what ``memlane`` (no command) and ``memlane gui`` call. It opens the engine on the
home folder (or builds the sample memory for ``--demo`` in its own folder), shows the first-run
explanation once, starts the recorder child process when there is an X11 display and the person
agreed, puts an icon in the system tray (pause/resume, open, quit) when the desktop has one,
quits cleanly on SIGTERM or Ctrl-C, and installs an exception hook that logs an unexpected error
to ``logs/gui.log`` and says where it is, instead of vanishing. Quitting stops the recorder,
cancels running work and closes the engine.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from memlane.capture.privacy import SELF_COVERED
from memlane.core.errors import LockedError, MemlaneError
from memlane.core.paths import Paths
from memlane.memory.crypto import Keys, is_encrypted, unlock
from memlane.services.encryption import encrypt_home

if TYPE_CHECKING:  # Qt and the window load inside run(), after the command line is parsed
    from PySide6.QtWidgets import QApplication

    from memlane.ui.mainwindow import MainWindow, Services

log = logging.getLogger(__name__)
FIRST_RUN_KEY = "ui.first_run_done"
QUIT_GRACE_MS = 2500  # quitting waits this long for running work, twice at most


def _log_to(home: Path) -> Path:
    path = Paths(home).gui_log
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    return path


def _unlock(home: Path) -> Keys | None:
    """Keys for an encrypted home: from the system keyring, else the unlock dialog."""
    from memlane.services.encryption import keyring_get
    from memlane.ui.dialogs import UnlockDialog

    if not is_encrypted(home):
        return None
    keys = keyring_get(home)
    if keys is None:
        dialog = UnlockDialog(home)
        if dialog.exec() != UnlockDialog.DialogCode.Accepted:
            return None
        keys = dialog.keys
    return keys


def _application() -> QApplication:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from memlane.ui.mainwindow import ICON

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Memlane")
    app.setDesktopFileName("memlane")
    app.setWindowIcon(QIcon(str(ICON)))
    app.setQuitOnLastWindowClosed(False)
    return app


def _build_demo(app: QApplication) -> Path:
    """Build (or reuse) the sample memory behind a progress dialog; return its home."""
    from PySide6.QtWidgets import QProgressDialog

    from memlane.services.demo import build_demo, demo_home

    home = demo_home()
    progress = QProgressDialog("Building the sample memory (OCR of a dozen screens)…", "", 0, 1)
    progress.setCancelButton(None)
    progress.setMinimumDuration(0)
    progress.show()
    app.processEvents()

    def step(n: int, total: int) -> None:
        progress.setMaximum(total)
        progress.setValue(n)
        app.processEvents()

    try:
        build_demo(home, progress=step)
    finally:
        progress.close()
    return home


def _catch_errors(log_path: Path) -> None:
    """Log an unexpected error and say so in a dialog, instead of vanishing."""
    from PySide6.QtWidgets import QMessageBox

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        QMessageBox.critical(None, "Memlane hit an unexpected error",
                             f"{exc}\n\nDetails were written to {log_path}. Your memories are "
                             "safe; you can keep using Memlane.")

    sys.excepthook = hook


def _first_run(home: Path, services: Services, record: bool) -> tuple[Services, bool] | int:
    """Explain what is recorded, once; pause or encrypt as the person chose there (an exit code
    when encrypting failed)."""
    from PySide6.QtWidgets import QMessageBox

    from memlane.services.recorder import pause
    from memlane.ui.dialogs import FirstRunDialog
    from memlane.ui.mainwindow import Services

    store = services.browse_store()
    if store.get_state(FIRST_RUN_KEY) is not None:
        return services, record
    from memlane.capture.windows import display_server

    grant = services.grant_recording if display_server()[0] == "wayland" else None
    first = FirstRunDialog(home, grant_fn=grant)
    first.exec()
    if isinstance(first.grant_result, Exception):
        log.warning("screen recording was not allowed: %s", first.grant_result)
    record = record and first.record.isChecked()
    store.set_state(FIRST_RUN_KEY, "1")
    if not record:
        pause(store, None)
    passphrase = first.passphrase()
    if passphrase:
        services.close()  # the database changes form: no connection may stay open
        try:
            encrypt_home(Paths(home), passphrase)
            services = Services(home, keys=unlock(home, passphrase))
        except MemlaneError as exc:
            QMessageBox.critical(None, "Memlane could not encrypt your memory", str(exc))
            return exc.exit_code
    return services, record


def _log_startup(window: MainWindow, started: float) -> None:
    """Log app start, first paint and the first day shown, once all happened (benchmarks)."""
    timeline_ready: list[float] = []

    def startup_line() -> None:
        if window.first_paint is not None and timeline_ready:
            log.info("startup: app created %.3f, first paint %.3f, timeline ready %.3f (epoch s)",
                     started, window.first_paint, timeline_ready[0])

    def ready(_day: object) -> None:
        window.timeline.dayShown.disconnect(ready)
        timeline_ready.append(time.time())
        startup_line()

    window.timeline.dayShown.connect(ready)
    window.firstPainted.connect(startup_line)


def _watch_inbox(paths: Paths, window: MainWindow) -> object:
    """Act on requests a second ``memlane gui`` leaves (show the window, open a link)."""
    from PySide6.QtCore import QFileSystemWatcher

    from memlane.services import handoff

    def act() -> None:
        for request in handoff.take(paths):
            window.showNormal()
            window.raise_()
            window.activateWindow()
            record = handoff.record_of_link(request)
            log.info("handed over by another start: %s", record or request)
            if record is not None:
                window.open_record(record)

    paths.app_inbox.mkdir(parents=True, exist_ok=True)
    watcher = QFileSystemWatcher([str(paths.app_inbox)])
    watcher.directoryChanged.connect(lambda _path: act())
    act()  # what arrived while the app was starting
    return watcher


def run(home: Path, *, demo: bool = False, record: bool = True, hidden: bool = False,
        quit_after_ms: int | None = None, link: str | None = None) -> int:
    """Open the app (or hand ``link``, or "show", to the app already open); the exit code."""
    from memlane.services import handoff

    if demo:
        from memlane.services.demo import demo_home

        home = demo_home()
    lock = handoff.AppLock.take(Paths(home))
    if lock is None:
        handoff.send(Paths(home), link or handoff.SHOW)
        print(f"Memlane is already open on {home}; "
              + ("it opens the link there." if link else "it is shown there."), file=sys.stderr)
        return 0
    try:
        return _open(home, demo=demo, record=record, hidden=hidden, quit_after_ms=quit_after_ms,
                     link=link)
    finally:
        lock.release()


def _open(home: Path, *, demo: bool, record: bool, hidden: bool, quit_after_ms: int | None,
          link: str | None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from memlane.capture.windows import display_server
    from memlane.ui.mainwindow import MainWindow, Services
    from memlane.ui.status import RecorderSupervisor
    from memlane.ui.tasks import Tasks
    from memlane.ui.tray import Tray

    app = _application()
    if demo:
        home = _build_demo(app)
    _catch_errors(_log_to(home))
    try:
        keys = None if demo else _unlock(home)
        if keys is None and not demo and is_encrypted(home):
            return LockedError.exit_code  # the person chose Quit
        services = Services(home, keys=keys)
        if not demo:
            first = _first_run(home, services, record)
            if isinstance(first, int):
                return first
            services, record = first
    except MemlaneError as exc:
        QMessageBox.critical(None, "Memlane cannot start", str(exc))
        return exc.exit_code

    if not demo:
        from memlane.services.desktop import register_links

        try:
            register_links(home)
        except (OSError, ValueError) as exc:  # journal links then open nothing; the app works
            log.warning("cannot register memlane:// links: %s", exc)
    from memlane.ui import theme

    theme.apply(services.engine.settings.ui.theme)
    tasks = Tasks()
    supervisor = None
    from memlane.ui import cover

    if cover.needed():
        cover.PrivacyCover(app)
        os.environ[SELF_COVERED] = "1"  # the recorder child may record past Memlane's windows
    if record and not demo and display_server()[0] in ("x11", "wayland"):
        supervisor = RecorderSupervisor(home, services.keys)
        supervisor.start()
    window = MainWindow(services, tasks, supervisor, demo=demo)
    tray = Tray(window, services, tasks)
    window.hide_on_close = tray.available

    quitting: list[bool] = []

    def quit_app() -> None:
        if quitting:  # SIGTERM and the tray's Quit, say
            return
        quitting.append(True)
        window.status.timer.stop()
        window.hide()
        tray.hide()
        if supervisor is not None:
            supervisor.stop()
        tasks.cancel_all()  # work that checks between its steps stops within the grace
        if not tasks.wait(QUIT_GRACE_MS):
            # A prompt being read (an answer, the machine's measurement, consolidation) does
            # not look up until it is read: end the model processes it waits on.
            from memlane.models.runtime import stop_all

            log.info("quitting: stopped %d model process(es) for %s", stop_all(),
                     ", ".join(tasks.names()))
            if not tasks.wait(QUIT_GRACE_MS):
                # What is stored is committed transaction by transaction: leaving now loses
                # no more than a killed process would, and a logout is not held up.
                log.warning("quitting without waiting for %s", ", ".join(tasks.names()))
                logging.shutdown()
                os._exit(0)
        services.close()
        app.quit()

    window.quitRequested.connect(quit_app)
    tray.quitRequested.connect(quit_app)
    # SIGTERM (logout, `kill`) and Ctrl-C quit cleanly, stopping the recorder child too. Python
    # runs signal handlers only between bytecodes, so a timer wakes the interpreter now and then.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, quit_app))
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(300)
    _log_startup(window, time.time())
    if not (hidden and tray.available):
        window.show()
    window.start()
    window.chat.warm()  # the first question does not wait for the model to load
    window.chat.choose_model()  # "auto": measure this machine once, after that load
    inbox = _watch_inbox(Paths(home), window)  # noqa: F841 - watches while the app runs
    if link is not None:
        from memlane.services.handoff import record_of_link

        record_id = record_of_link(link)
        if record_id is not None:
            window.open_record(record_id)
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, quit_app)
    return int(app.exec())
