"""The right-click menu of a memory (a thumbnail, the frame in the viewer, a search hit).

One menu everywhere: copy its text, open its conversation, forget it, forget the last 5, 15 or
60 minutes, and never record its app again. Forgetting asks first and says what it covers; "never
record" adds the app to the privacy exclusions, saves the settings and restarts the recorder, as
the Settings window does. The work runs through the window's task lanes; the menu only decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QWidget

from memlane.core.text import plural

if TYPE_CHECKING:
    from memlane.ui.mainwindow import MainWindow

RECENT_MINUTES = (5, 15, 60)


@dataclass(frozen=True)
class Memory:
    """What a menu is about: a record id, its app (for screens), its text when known."""

    record_id: str
    app: str = ""
    text: str | None = None


def build_menu(window: MainWindow, memory: Memory, parent: QWidget) -> QMenu:
    menu = QMenu(parent)
    kind = memory.record_id.split(":", 1)[0]
    copy = menu.addAction("Copy text")
    copy.triggered.connect(lambda: copy_text(window, memory))
    if kind == "message":
        menu.addAction("Open the conversation").triggered.connect(
            lambda: window.open_record(memory.record_id))
    menu.addSeparator()
    what = {"frame": "this screen", "message": "this message", "episode": "this episode",
            "fact": "this fact"}.get(kind, "this memory")
    menu.addAction(f"Forget {what}…").triggered.connect(
        lambda: forget_ids(window, [memory.record_id], what))
    recent = menu.addMenu("Forget the last…")
    for minutes in RECENT_MINUTES:
        label = "hour" if minutes == 60 else f"{minutes} minutes"
        recent.addAction(f"{label}…").triggered.connect(
            lambda _c=False, m=minutes: forget_recent(window, m))
    if kind == "frame" and memory.app:
        menu.addSeparator()
        menu.addAction(f"Never record {memory.app}…").triggered.connect(
            lambda: never_record(window, memory.app))
    return menu


def copy_text(window: MainWindow, memory: Memory) -> None:
    def put(text: str | None) -> None:
        QApplication.clipboard().setText(text or "")
        window.statusBar().showMessage("Copied." if text else "This memory has no text.", 4000)

    if memory.text is not None:
        put(memory.text)
        return
    from memlane.memory.records import parse_record_id
    from memlane.memory.timeline import frame_detail

    kind, rowid = parse_record_id(memory.record_id)
    store_fn = window.services.browse_store

    def load(_t: object) -> str | None:
        if kind == "frame":
            detail = frame_detail(store_fn(), rowid)
            return detail.text if detail else None
        hits = store_fn().hits([(kind, rowid)])
        hit = hits.get((kind, rowid))
        return hit.snippet if hit else None

    window.tasks.run("copy text", load, on_done=put, lane="browse", owner=window)


def _confirmed(window: MainWindow, question: str) -> bool:
    if not window.confirm_forget:
        return True
    return QMessageBox.question(
        window, "Forget", question + " Images, text, search index and anything learned from "
        "it go for good; this cannot be undone.") == QMessageBox.StandardButton.Yes


def forget_ids(window: MainWindow, ids: list[str], what: str) -> None:
    from memlane.memory.forget import Scope

    if _confirmed(window, f"Forget {what}?"):
        window.forget(Scope(ids=tuple(ids)))


def forget_recent(window: MainWindow, minutes: int) -> None:
    import time

    from memlane.memory.forget import Scope

    since = time.time() - minutes * 60  # from the click, however long the question stays open
    label = "hour" if minutes == 60 else f"{minutes} minutes"
    if _confirmed(window, f"Forget everything from the last {label}?"):
        window.forget(Scope(since=since))


def never_record(window: MainWindow, app: str) -> None:
    settings = window.services.engine.settings
    if app in settings.privacy.exclude_apps:
        window.statusBar().showMessage(f"{app} is already never recorded.", 5000)
        return
    if window.confirm_forget and QMessageBox.question(
            window, "Never record", f"Never record {app} again? Its windows are left out of "
            "every capture (Settings lists it; remove it there to record it again). What was "
            "already recorded stays until you forget it.") != QMessageBox.StandardButton.Yes:
        return
    window.exclude_app(app)


def forgotten_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"Forgotten: {plural(total, 'memory')}." if total else "Nothing to forget there."
