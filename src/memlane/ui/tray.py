"""The system-tray icon: the recorder's state at a glance, pause/resume, open and quit.

Shown only where the desktop has a tray (:attr:`Tray.available`); without one, closing the
window quits the app instead of hiding it. The icon's tooltip follows the status line, and the
pause action stores the pause in the database like the status bar's button.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from memlane.ui.mainwindow import ICON, MainWindow, Services
from memlane.ui.status import pause_menu
from memlane.ui.tasks import Tasks


class Tray(QObject):
    quitRequested = Signal()

    def __init__(self, window: MainWindow, services: Services, tasks: Tasks) -> None:
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.services = services
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon = QSystemTrayIcon(QIcon(str(ICON)), self)
        menu = QMenu()
        self.open_action = QAction("Open Memlane", menu)
        self.pause_action = QAction("Pause recording", menu)
        self.pause_for = QMenu("Pause for…", menu)
        pause_menu(self.pause_for, lambda minutes: self.window.status.set_pause(True, minutes))
        quit_action = QAction("Quit Memlane", menu)
        # Wayland: the desktop's dialog shows for a focused window, so the window comes first
        self.allow_action = QAction("Allow screen recording…", menu)
        self.allow_action.setVisible(False)
        self.allow_action.triggered.connect(self.allow_recording)
        menu.addAction(self.allow_action)
        menu.addAction(self.open_action)
        menu.addAction(self.pause_action)
        menu.addMenu(self.pause_for)
        menu.addSeparator()
        menu.addAction(quit_action)
        self.menu = menu
        self.icon.setContextMenu(menu)
        self.icon.setToolTip("Memlane")
        self.open_action.triggered.connect(self.show_window)
        self.pause_action.triggered.connect(self.toggle_pause)
        quit_action.triggered.connect(self.quitRequested.emit)
        self.icon.activated.connect(
            lambda reason: self.show_window()
            if reason == QSystemTrayIcon.ActivationReason.Trigger else None)
        window.status.updated.connect(self._status)
        if self.available:
            self.icon.show()

    def show_window(self) -> None:
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def allow_recording(self) -> None:
        self.show_window()
        self.window.status.ask_grant()

    def toggle_pause(self) -> None:
        paused = self.window.status.info.get("state") == "paused"
        self.window.status.set_pause(not paused, None)

    def _status(self, info: dict[str, Any]) -> None:
        state = str(info.get("state", ""))
        self.pause_action.setText("Resume recording" if state == "paused" else "Pause recording")
        self.pause_for.menuAction().setVisible(state != "paused")
        self.allow_action.setVisible(self.window.status.allow.isVisibleTo(self.window.status))
        self.icon.setToolTip(f"Memlane: {self.window.status.label.text()}".replace(
            "<b>", "").replace("</b>", ""))

    def hide(self) -> None:
        self.icon.hide()
