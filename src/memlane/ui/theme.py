"""The app's look: light, dark, or whichever the desktop prefers, switched while it runs.

Dark is Qt's Fusion style with a dark palette; light is the platform's own style and palette.
With ``[ui] theme = "auto"`` the desktop's colour-scheme preference decides (Qt reads it from the
platform, e.g. the freedesktop settings portal) and a change there is followed at once. Widgets
that draw their own colours ask :func:`colours` rather than hard-coding light-theme ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

_state: dict[str, object] = {}


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor(38, 40, 43),
        QPalette.ColorRole.ToolTipBase: window, QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(110, 168, 255),
        QPalette.ColorRole.Highlight: QColor(53, 116, 240),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 143, 150),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 122, 128))
    return p


def desktop_prefers_dark() -> bool:
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    return bool(app.styleHints().colorScheme() == Qt.ColorScheme.Dark)


def apply(choice: str) -> bool:
    """Use ``choice`` ("auto", "light" or "dark"); returns whether the app is dark now."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    if "style" not in _state:  # the platform's own, to come back to
        _state["style"] = app.style().name()
        app.styleHints().colorSchemeChanged.connect(
            lambda _scheme: apply(str(_state.get("choice", "auto")))
            if _state.get("choice") == "auto" else None)
    _state["choice"] = choice
    dark = choice == "dark" or (choice == "auto" and desktop_prefers_dark())
    if dark:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(_dark_palette())
    else:
        app.setStyle(QStyleFactory.create(str(_state["style"])) or app.style())
        app.setPalette(app.style().standardPalette())
    _state["dark"] = dark
    return dark


def is_dark() -> bool:
    return bool(_state.get("dark", False))


@dataclass(frozen=True)
class Colours:
    """What the app's own drawing uses, for the look in use."""

    text: str
    muted: str
    error: str
    chip_bg: str
    chip_fg: str
    mark_bg: str
    mark_fg: str


def colours() -> Colours:
    if is_dark():
        return Colours("#dfe1e5", "#9a9da3", "#ff8a80", "#27406a", "#d6e4ff", "#6b5a00",
                       "#fff6cc")
    return Colours("#222222", "#888888", "#8a1c1c", "#dde8f7", "#1a3d6b", "#fff3b0", "#000000")
