"""The main window: search and "what Memlane knows" on the left, the frame in the middle, the chat
on the right, the timeline along the bottom and the recorder's honest status underneath.

:class:`Services` is what the window needs from the engine: the :class:`Engine` (used on the
engine lane only) and a second, read-only-in-practice :class:`Store` connection for the browse
lane. The window wires the parts together: choosing a frame on the timeline opens it in the
viewer; a search result or a chat citation jumps the timeline to that moment (or opens the cited
conversation); forgetting reloads what is shown.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from memlane import __version__
from memlane.core.paths import Paths
from memlane.core.settings import Settings, save_settings
from memlane.memory import timeline as tl
from memlane.memory.crypto import Keys
from memlane.memory.forget import Scope
from memlane.memory.records import Hit, parse_record_id
from memlane.memory.store import Store
from memlane.services.capture_status import capture_status
from memlane.services.desktop import autostart_enabled, set_autostart
from memlane.services.engine import Engine
from memlane.ui import theme
from memlane.ui.chat import ChatPane
from memlane.ui.dialogs import ConnectedDialog, ConversationDialog, show_error
from memlane.ui.images import Images
from memlane.ui.importing import import_files
from memlane.ui.knows import KnowsPanel
from memlane.ui.memory_menu import Memory, build_menu, forgotten_text
from memlane.ui.search import SearchPanel
from memlane.ui.settings_dialog import SettingsDialog
from memlane.ui.status import RecorderSupervisor, StatusWidget, set_paused
from memlane.ui.tasks import Task, Tasks
from memlane.ui.timeline import TimelinePanel
from memlane.ui.viewer import FrameViewer

log = logging.getLogger(__name__)

ICON = Path(__file__).parent / "assets" / "memlane.svg"


class Services:
    """The engine for the engine lane and a store connection for the browse lane."""

    def __init__(self, home: Path, engine: Engine | None = None,
                 assistant_fn: Callable[[str], Any] | None = None,
                 keys: Keys | None = None) -> None:
        self.paths = Paths(home)
        self.engine = engine or Engine(self.paths, keys=keys)
        self.keys = self.engine.keys
        self._browse: Store | None = None
        self._assistant_fn = assistant_fn
        self.images = Images(self.engine.frame_files)  # stateless: safe on the browse lane

    def browse_store(self) -> Store:
        if self._browse is None:
            self._browse = self.engine.open_store()
        return self._browse

    def assistant(self, conversation: str) -> Any:
        if self._assistant_fn is not None:
            return self._assistant_fn(conversation)
        return self.engine.assistant(conversation)

    def status(self) -> dict[str, Any]:
        return capture_status(self.browse_store(), self.engine.settings, self.paths)

    def grant_recording(self) -> int:
        """Wayland: the desktop's permission to record, asked over the app's window (a
        connection of its own: the wait is the person's, and may be long)."""
        from memlane.services.recorder import grant_recording

        store = self.engine.open_store()
        try:
            return grant_recording(store)
        finally:
            store.close()

    def warm_model(self) -> float:
        """Load the answering model and its fixed prompt (any thread: only the model is used)."""
        from memlane.services.assistant import warm

        return warm(self.engine.model)

    def measure_model(self, progress: Callable[[str], None],
                      cancelled: Callable[[], bool] | None = None) -> Any:
        """With ``[model] path = "auto"`` and no pick yet: measure this machine once (background
        lane; the models load in their own processes) and return the Choice, else None."""
        from memlane.services.model_setup import measure, needs_measuring

        if not needs_measuring(self.paths, self.engine.settings):
            return None
        return measure(self.paths, self.engine.settings, progress=progress, cancelled=cancelled)

    def use_measured_model(self) -> float:
        """Engine lane, after a measurement: load the model it picked (and its prompt prefix)."""
        from memlane.services.assistant import warm

        self.engine.apply_settings(self.engine.settings)
        return warm(self.engine.model)

    def close(self) -> None:
        if self._browse is not None:
            self._browse.close()
        self.engine.close()


class MainWindow(QMainWindow):
    quitRequested = Signal()
    firstPainted = Signal()

    def __init__(self, services: Services, tasks: Tasks,
                 supervisor: RecorderSupervisor | None = None, *, demo: bool = False) -> None:
        super().__init__()
        self.services = services
        self.tasks = tasks
        self.supervisor = supervisor
        self.hide_on_close = False
        self.confirm_forget = True  # tests answer the questions themselves
        self.setAcceptDrops(True)  # screenshots, folders and chat exports dropped are imported
        self.no_menus = False  # tests build the right-click menus without showing them
        self.first_paint: float | None = None  # epoch seconds (startup timing, in gui.log)
        self.setWindowTitle("Memlane — demo memory" if demo else "Memlane")
        self.setWindowIcon(QIcon(str(ICON)))
        store_fn = services.browse_store

        def engine_fn() -> Engine:
            return services.engine

        self.timeline = TimelinePanel(tasks, store_fn, services.images, self)
        self.viewer = FrameViewer(tasks, store_fn, services.images, self)
        self.search = SearchPanel(tasks, engine_fn, store_fn, services.images, self)
        self.knows = KnowsPanel(tasks, engine_fn, store_fn, self)
        self.chat = ChatPane(tasks, services.assistant, store_fn, self,
                             warm_fn=services.warm_model)
        self.chat.measure_fn = services.measure_model
        self.chat.switch_fn = services.use_measured_model
        self.status = StatusWidget(tasks, services.status,
                                   lambda paused, minutes: set_paused(store_fn(), paused,
                                                                      minutes), self,
                                   grant_fn=services.grant_recording)
        self.status.demo = demo
        self.status.toggle.setVisible(not demo)
        self.left = QTabWidget(self)
        self.left.addTab(self.search, "Search")
        self.left.addTab(self.knows, "What Memlane knows")

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.left)
        top.addWidget(self.viewer)
        top.addWidget(self.chat)
        top.setSizes([360, 720, 380])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(self.timeline)
        main.setSizes([560, 240])
        self.setCentralWidget(main)
        self.statusBar().addPermanentWidget(self.status)  # messages show to its left
        self._menus()
        self.resize(QSize(1460, 900))
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None and (screen.width() < 1460 or screen.height() < 900):
            self.resize(QSize(int(screen.width() * 0.95), int(screen.height() * 0.9)))

        self.timeline.frameChosen.connect(self.viewer.show_frame)
        self.timeline.menuRequested.connect(
            lambda f, at: self.memory_menu(Memory(f"frame:{f.id}", f.app), at))
        self.viewer.menuRequested.connect(
            lambda d, at: self.memory_menu(Memory(f"frame:{d.row.id}", d.row.app, d.text), at))
        self.search.menuRequested.connect(
            lambda h, at: self.memory_menu(
                Memory(h.id, h.app if h.kind == "frame" else ""), at))
        self.timeline.noFrames.connect(self.viewer.show_empty)
        self.timeline.conversationChosen.connect(self.open_record)
        self.status.updated.connect(self._follow_recording)
        self.search.hitChosen.connect(self.open_hit)
        self.search.searched.connect(self.viewer.set_terms)
        self.chat.citationChosen.connect(self.open_record)
        self.knows.frameChosen.connect(self.timeline.show_frame)
        self.knows.forgotten.connect(lambda _r: self.reload())
        if supervisor is not None:
            supervisor.changed.connect(self._supervisor_changed)

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        act = QAction("Import chat export…", self)
        act.triggered.connect(self.import_chat)
        file.addAction(act)
        act = QAction("Import screenshots…", self)
        act.triggered.connect(self.import_screenshots)
        file.addAction(act)
        act = QAction("Import a folder of screenshots…", self)
        act.triggered.connect(self.import_folder)
        file.addAction(act)
        act = QAction("Export memory…", self)
        # not connected directly: ``triggered`` passes ``checked`` (False), read as no path
        act.triggered.connect(lambda: self.export_memory())
        file.addAction(act)
        act = QAction("Settings…", self)
        act.setShortcut(QKeySequence.StandardKey.Preferences)
        act.triggered.connect(self.open_settings)
        file.addAction(act)
        file.addSeparator()
        act = QAction("Quit", self)
        act.setShortcut(QKeySequence.StandardKey.Quit)
        act.triggered.connect(self.quitRequested.emit)
        file.addAction(act)
        go = self.menuBar().addMenu("&Go")
        act = QAction("Search", self)
        act.setShortcut(QKeySequence.StandardKey.Find)
        act.triggered.connect(self.focus_search)
        go.addAction(act)
        act = QAction("Ask", self)
        act.setShortcut(QKeySequence("Ctrl+L"))
        act.triggered.connect(self.chat.input.setFocus)
        go.addAction(act)
        act = QAction("Today", self)
        act.setShortcut(QKeySequence("Ctrl+T"))
        act.triggered.connect(self.timeline.today_btn.click)
        go.addAction(act)
        help_menu = self.menuBar().addMenu("&Help")
        act = QAction("Connected programs…", self)
        act.triggered.connect(lambda: self.show_connected())
        help_menu.addAction(act)
        act = QAction("About Memlane", self)
        act.triggered.connect(self.about)
        help_menu.addAction(act)

    def focus_search(self) -> None:
        self.left.setCurrentWidget(self.search)
        self.search.query.setFocus()

    # -- start and reload ------------------------------------------------------------------------

    def start(self) -> None:
        self.timeline.show_latest()
        self.chat.load_history()
        self.knows.refresh()
        self.search.load_apps()
        self.status.refresh()

    def reload(self) -> None:
        day = self.timeline.model.day
        if day is not None:
            self.timeline.show_day(day)
        self.search.load_apps()
        self.search.run()

    # -- opening memories ------------------------------------------------------------------------

    def open_hit(self, hit: Hit) -> None:
        self.open_record(hit.id)

    def open_record(self, record_id: str) -> Task | None:
        """Show a memory: a frame on the timeline, a message in its conversation."""
        try:
            kind, rowid = parse_record_id(record_id)
        except ValueError:
            return None
        store_fn = self.services.browse_store
        if kind == "frame":
            def found(row: tl.FrameRow | None) -> None:
                if row is None:
                    self.statusBar().showMessage("That memory has been deleted.", 5000)
                else:
                    self.timeline.show_frame(row.id, row.time)

            return self.tasks.run("find frame", lambda _t: tl.frame_row(store_fn(), rowid),
                                  on_done=found, lane="browse", owner=self)
        if kind == "message":
            def show(conv: tuple[str, list[tl.MessageRow]] | None) -> None:
                if conv is None:
                    self.statusBar().showMessage("That message has been deleted.", 5000)
                    return
                dialog = ConversationDialog(conv[0], conv[1], rowid, self)
                dialog.setModal(False)
                dialog.show()
                self.conversation_dialog = dialog

            return self.tasks.run("open conversation",
                                  lambda _t: tl.conversation_of(store_fn(), rowid),
                                  on_done=show, lane="browse", owner=self)
        self.left.setCurrentWidget(self.knows)
        return None

    # -- actions ---------------------------------------------------------------------------------

    def import_chat(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a chat export", str(Path.home()),
            "Chat exports (*.json *.jsonl *.txt *.md *.zip);;All files (*)")
        if path:
            self.import_files([Path(path)])

    def import_screenshots(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import screenshots", str(Path.home()),
            "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)")
        if paths:
            self.import_files([Path(p) for p in paths])

    def import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a folder of screenshots",
                                                str(Path.home()))
        if path:
            self.import_files([Path(path)])

    def import_files(self, paths: list[Path]) -> Task | None:
        """Screenshots, folders of them, chat exports and archives (what a drop imports)."""
        self.importing = import_files(self, paths)
        return self.importing

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_files(paths)

    def export_memory(self, path: str | None = None) -> Task | None:
        """Write a portable archive of everything (File > Export memory)."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export your memory", str(Path.home() / "memlane-export.zip"),
                "Memlane archives (*.zip)")
        if not path:
            return None
        self.statusBar().showMessage(f"Exporting to {path}…")

        def done(report: Any) -> None:
            self.statusBar().showMessage(
                f"Exported {sum(report.counts.values())} records and {report.files} images to "
                f"{path} ({report.bytes / 1e6:.1f} MB).", 10000)

        return self.tasks.run(
            "export", lambda _t: self.services.engine.export(Path(path)), on_done=done,
            on_error=lambda e: show_error(self, "Export failed", str(e)), owner=self)

    def open_settings(self) -> SettingsDialog:
        engine = self.services.engine
        dialog = SettingsDialog(engine.settings, engine.paths.home, self.tasks,
                                engine.probe_model, self)
        dialog.accepted.connect(lambda: self._save_settings(dialog))
        dialog.setModal(False)
        dialog.show()
        self.settings_dialog = dialog
        return dialog

    def _save_settings(self, dialog: SettingsDialog) -> None:
        self.apply_settings(dialog.result_settings(), dialog.autostart.isChecked())

    def apply_settings(self, new: Settings, autostart: bool | None = None,
                       message: str = "Settings saved.") -> Task:
        """Save settings, use them, and restart the recorder with them."""
        engine = self.services.engine

        def save(_t: Task) -> None:
            save_settings(engine.paths.settings, new)
            engine.apply_settings(new)
            if autostart is not None and autostart != autostart_enabled():
                set_autostart(autostart, engine.paths.home)

        def saved(_r: object) -> None:
            self.statusBar().showMessage(message, 5000)
            theme.apply(new.ui.theme)
            self.chat.redraw()
            if self.supervisor is not None and self.supervisor.running():
                self.status.restarting_since = time.time()  # not "stopped" while it restarts
                self.supervisor.stop()
                self.supervisor.start()

        return self.tasks.run("save settings", save, on_done=saved,
                              on_error=lambda e: show_error(self, "Settings not saved", str(e)),
                              owner=self)

    # -- the right-click menu of a memory ---------------------------------------------------------

    def memory_menu(self, memory: Memory, at: QPoint) -> QMenu:
        menu = build_menu(self, memory, self)
        self.last_menu = menu
        if not self.no_menus:
            menu.popup(at)
        return menu

    def forget(self, scope: Scope) -> Task:
        """Forget what ``scope`` covers (on the engine lane); say what went, show what is left."""
        def done(result: Any) -> None:
            plan, _report = result
            self.statusBar().showMessage(forgotten_text(plan.counts()), 8000)
            self.reload()
            self.knows.refresh()

        return self.tasks.run(
            "forget", lambda _t: self.services.engine.forget(scope), on_done=done,
            on_error=lambda e: show_error(self, "Not forgotten", str(e)), owner=self)

    def exclude_app(self, app: str) -> Task:
        new = copy.deepcopy(self.services.engine.settings)
        new.privacy.exclude_apps = [*new.privacy.exclude_apps, app]
        dialog = getattr(self, "settings_dialog", None)
        if dialog is not None and dialog.isVisible():  # its Save must not undo this
            dialog.settings.privacy.exclude_apps = list(new.privacy.exclude_apps)
            dialog.apps.appendPlainText(app)
        return self.apply_settings(new, message=f"{app} is never recorded from now on.")

    def show_connected(self) -> ConnectedDialog:
        from memlane.services.external import read_calls

        log_path = self.services.paths.mcp_log
        dialog = ConnectedDialog(read_calls(log_path), log_path, self)
        dialog.setModal(False)
        dialog.show()
        self.connected_dialog = dialog
        return dialog

    def about(self) -> None:
        QMessageBox.about(
            self, "About Memlane",
            f"<b>Memlane {__version__}</b><br>A private, searchable memory of your computer "
            f"life.<br>Everything stays in {self.services.paths.home}; nothing leaves this "
            "machine.")

    def _follow_recording(self, info: dict[str, Any]) -> None:
        last = info.get("last_stored_frame")
        if isinstance(last, str):
            self.timeline.follow(datetime.fromisoformat(last).timestamp())

    def _supervisor_changed(self, what: str) -> None:
        if self.supervisor is not None:
            self.status.supervisor_note = self.supervisor.gave_up if what == "gave up" else ""
        self.status.refresh()

    def paintEvent(self, event: QPaintEvent) -> None:
        first = self.first_paint is None
        if first:
            self.first_paint = time.time()
        super().paintEvent(event)
        if first:
            self.firstPainted.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.hide_on_close:
            event.ignore()
            self.hide()
            return
        event.accept()
        self.quitRequested.emit()
