"""Dialogs: the first-run explanation, unlocking, a conversation, connected programs, errors.

The Settings window is :mod:`memlane.ui.settings_dialog`. :class:`FirstRunDialog` says what is
captured, where it is stored, that nothing leaves the machine and how to pause or delete, before
recording starts. :class:`ConversationDialog` shows a conversation with one message marked (a
citation) and the one before it in sight; :class:`ConnectedDialog` lists the calls of programs
connected over MCP.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from memlane.core.errors import LockedError, MemlaneError
from memlane.memory.crypto import MIN_PASSPHRASE, Keys, unlock
from memlane.memory.timeline import MessageRow
from memlane.services.encryption import keyring_set
from memlane.ui.theme import colours

FIRST_RUN = """
<h2>Welcome to Memlane</h2>
<p><b>What it captures.</b> Every few seconds, a screenshot of what changed on your screens, the
text read from it (OCR, on this computer), the app and window title; and the chats you have with
Memlane or import. Password managers and private browser windows are never stored, card numbers,
IBANs, keys and passwords are blanked, and nothing is captured while the screen is locked or you
are away.</p>
<p><b>Where it is stored.</b> Only here: <code>{home}</code> (readable by your user only).</p>
<p><b>Nothing leaves this computer.</b> No cloud, no account, no telemetry: answers come from a
model that runs on this machine.</p>
<p><b>You stay in control.</b> Pause recording from the status bar or the tray icon. Delete any
moment, app or everything from <i>What Memlane knows</i> or with
<code>memlane forget</code>; deletion removes the images, the text and the search index.</p>
"""


class FirstRunDialog(QDialog):
    """What Memlane records and where, the recorder switch, and the encryption opt-in."""

    def __init__(self, home: Path, parent: QWidget | None = None,
                 grant_fn: Callable[[], int] | None = None) -> None:
        super().__init__(parent)
        self.grant_fn = grant_fn  # Wayland: ask the desktop's permission from this window
        self.granting: threading.Thread | None = None
        self.grant_result: int | Exception | None = None
        self.setWindowTitle("Welcome to Memlane")
        text = QLabel(FIRST_RUN.format(home=html.escape(str(home))))
        text.setWordWrap(True)
        self.record = QCheckBox("Start recording my screen now")
        self.record.setChecked(True)
        self.encrypt = QCheckBox("Encrypt my memory with a passphrase")
        self.encrypt.setToolTip("The database and every image are encrypted on disk; Memlane "
                                "asks for the passphrase at every start. If you forget it, the "
                                "memory cannot be recovered.")
        note = QLabel("<small>Asked at every start (or kept in the system keyring if you choose)."
                      " A forgotten passphrase cannot be recovered.</small>")
        note.setWordWrap(True)
        self.pass1 = _password_field("Passphrase (at least 8 characters)")
        self.pass2 = _password_field("The same passphrase again")
        for field in (self.pass1, self.pass2):
            field.setEnabled(False)
            self.encrypt.toggled.connect(field.setEnabled)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c0392b")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Got it")
        buttons.accepted.connect(self._accept)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.record)
        layout.addWidget(self.encrypt)
        layout.addWidget(note)
        layout.addWidget(self.pass1)
        layout.addWidget(self.pass2)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.setMinimumWidth(600)
        self.adjustSize()

    def passphrase(self) -> str | None:
        """The chosen passphrase when the person opted in to encryption."""
        return self.pass1.text() if self.encrypt.isChecked() else None

    def _accept(self) -> None:
        if self.encrypt.isChecked():
            if len(self.pass1.text()) < MIN_PASSPHRASE:
                self.problem.setText(f"The passphrase needs at least {MIN_PASSPHRASE} characters.")
                return
            if self.pass1.text() != self.pass2.text():
                self.problem.setText("The two passphrases differ.")
                return
        if self.record.isChecked() and self.grant_fn is not None:
            self._ask_grant(self.grant_fn)
            return
        self.accept()

    def _ask_grant(self, grant_fn: Callable[[], int]) -> None:
        """Ask the desktop now, while this window is visible and focused (GNOME shows its
        dialog for the focused app only); go on whatever the answer."""
        def ask() -> None:
            try:
                self.grant_result = grant_fn()
            except Exception as exc:  # refused, no portal: the status bar offers it again
                self.grant_result = exc

        for widget in self.findChildren(QDialogButtonBox):
            widget.setEnabled(False)
        self.problem.setStyleSheet("")
        self.problem.setText("Your desktop asks whether Memlane may record the screen: answer "
                             "its dialog.")
        self.granting = threading.Thread(target=ask, name="grant", daemon=True)
        self.granting.start()
        timer = QTimer(self)

        def check() -> None:
            if self.granting is not None and not self.granting.is_alive():
                timer.stop()
                self.accept()

        timer.timeout.connect(check)
        timer.start(200)


class UnlockDialog(QDialog):
    """Asks for the passphrase of an encrypted memory; :attr:`keys` is set once it is right."""

    def __init__(self, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.keys: Keys | None = None
        self.setWindowTitle("Unlock Memlane")
        intro = QLabel(f"Your memory in <code>{html.escape(str(home))}</code> is encrypted. "
                       "Enter its passphrase to open it.")
        intro.setWordWrap(True)
        self.passphrase = _password_field("Passphrase")
        self.remember = QCheckBox("Remember on this computer (system keyring): open without asking")
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c0392b")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Unlock")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Quit")
        buttons.accepted.connect(self.try_unlock)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (intro, self.passphrase, self.remember, self.problem, buttons):
            layout.addWidget(w)
        self.setMinimumWidth(460)

    def try_unlock(self) -> None:
        try:
            self.keys = unlock(self.home, self.passphrase.text())
        except LockedError:
            self.problem.setText("Wrong passphrase.")
            self.passphrase.selectAll()
            return
        if self.remember.isChecked():
            try:
                keyring_set(self.home, self.keys)
            except MemlaneError as exc:
                QMessageBox.warning(self, "Not remembered", str(exc))
        self.accept()


def _password_field(placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    return field


class ConversationDialog(QDialog):
    """A conversation, with the cited message highlighted and scrolled to."""

    def __init__(self, title: str, messages: list[MessageRow], mark: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.view = QTextBrowser(self)
        parts = []
        look = colours()
        for m in messages:
            when = datetime.fromtimestamp(m.time)
            style = (f" style='background:{look.mark_bg};color:{look.mark_fg}'" if m.id == mark
                     else "")
            parts.append(f"<p{style}><a name='m{m.id}'></a><small>{when:%a %d %b %Y %H:%M}"
                         f"</small><br><b>{html.escape(m.speaker or m.role)}:</b> "
                         f"{html.escape(m.text)}</p>")
        self.view.setHtml("".join(parts))
        ids = [m.id for m in messages]
        # the message before the cited one stays in sight (often the question it answers)
        at = ids.index(mark) if mark in ids else 0
        self.anchor = f"m{ids[max(0, at - 1)]}" if ids else ""
        self.resize(640, 480)
        self.view.scrollToAnchor(self.anchor)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.view.scrollToAnchor(self.anchor)  # again, now that the text is laid out


def show_error(parent: QWidget | None, title: str, message: str, log_path: Any = None) -> None:
    """A non-modal error box; the log path when there is one."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=parent)
    if log_path is not None:
        box.setInformativeText(f"Details are in {log_path}")
    box.setModal(False)
    box.show()


class ConnectedDialog(QDialog):
    """Every call other programs made over MCP, newest first: when, which client, which tool."""

    def __init__(self, calls: list[dict[str, Any]], log_path: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connected programs")
        intro = QLabel(
            "Programs you connect with <code>memlane mcp</code> (other AI assistants on this "
            "computer) can search and read your memory, never what your privacy settings "
            "exclude. Every call they made is listed here; what they asked is not kept."
            f"<br><small>Log: {html.escape(str(log_path))}</small>")
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(len(calls), 4, self)
        self.table.setHorizontalHeaderLabels(["When", "Program", "Tool", "Result"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, call in enumerate(reversed(calls)):
            when = str(call.get("time", ""))[:19].replace("T", " ")
            result = "ok" if call.get("ok") else f"error: {call.get('error', '')}"
            for col, text in enumerate((when, str(call.get("client", "")),
                                        str(call.get("tool", "")), result)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.resizeColumnsToContents()
        self.empty = QLabel("No program has connected yet. The README's “Use your memory from "
                            "other tools” section shows how to add Memlane to one.")
        self.empty.setWordWrap(True)
        self.empty.setVisible(not calls)
        self.table.setVisible(bool(calls))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(720, 420)
