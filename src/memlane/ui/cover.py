"""A cover over Memlane's own windows while another app has focus, on desktops that hide where
windows are.

Memlane never records itself: on X11 and sway the recorder paints its windows out, because it
knows where they are. On GNOME and KDE under Wayland it knows only that they are open, and an
open excluded window stops every monitor from being stored. Memlane's windows would then stop all
recording while they are merely open behind others. :class:`PrivacyCover` instead hides their
contents whenever the app loses focus (a plain panel with one line), so a frame that shows a
Memlane window shows nothing of the memory; the recorder, told so by the session's
``MEMLANE_SELF_COVERED`` mark, then records the other windows.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel, QWidget

TEXT = ("Memlane hides its contents while you work in other windows, so your memories are "
        "never recorded twice.\nClick here to continue.")


class PrivacyCover(QObject):
    """Covers every visible top-level Memlane window while the application is not active.

    An app started from GNOME's overview never gets focus, so its state never changes: the
    windows are also checked once the event loop runs, and a second later (Wayland hands focus
    over a moment after a window maps; if it comes, the cover goes).
    """

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.covers: dict[int, QLabel] = {}
        app.applicationStateChanged.connect(self._changed)
        for delay_ms in (0, 1000):
            QTimer.singleShot(delay_ms, self.check)

    def _active(self) -> bool:
        return self.app.applicationState() == Qt.ApplicationState.ApplicationActive

    def check(self) -> None:
        """Cover the open windows now if the app does not have focus."""
        if not self._active():
            self._changed(Qt.ApplicationState.ApplicationInactive)

    def _changed(self, state: Qt.ApplicationState) -> None:
        if state == Qt.ApplicationState.ApplicationActive:
            for cover in self.covers.values():
                cover.hide()
            return
        for window in self.app.topLevelWidgets():
            if window.isVisible() and not isinstance(window, QLabel):
                self._cover(window)

    def _cover(self, window: QWidget) -> None:
        cover = self.covers.get(id(window))
        if cover is None or cover.parent() is not window:
            cover = QLabel(TEXT, window)
            cover.setObjectName("privacyCover")
            cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cover.setWordWrap(True)
            cover.setAutoFillBackground(True)
            cover.setStyleSheet("QLabel#privacyCover { background: #2b2b2b; color: #d0d0d0; "
                                "font-size: 15px; padding: 40px; }")
            self.covers[id(window)] = cover
        cover.setGeometry(window.rect())
        cover.raise_()
        cover.show()
        cover.repaint()  # now, before a recorder tick can see the window


def needed(platform: str | None = None) -> bool:
    """Whether this session's desktop hides where windows are (Wayland without sway's IPC)."""
    import os

    platform = platform or QGuiApplication.platformName()
    return platform.startswith("wayland") and not os.environ.get("SWAYSOCK")
