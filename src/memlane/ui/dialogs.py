"""Dialogs: settings, the first-run explanation, a conversation, and errors said plainly.

:class:`SettingsDialog` edits the settings a person changes, with a "Test model" button, and writes
them back with :func:`memlane.core.settings.save_settings`, comments kept; it shows the data folder
with how to move it and manages the autostart entry (:mod:`memlane.services.desktop`).
:class:`FirstRunDialog` says what is captured, where it is stored, that nothing leaves the machine
and how to pause or delete, before recording starts. :class:`ConversationDialog` shows a
conversation with one message marked (a citation).
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from memlane.core.errors import LockedError, MemlaneError
from memlane.core.settings import Settings
from memlane.memory.crypto import MIN_PASSPHRASE, Keys, unlock
from memlane.memory.timeline import MessageRow
from memlane.services.desktop import autostart_enabled, autostart_path
from memlane.services.encryption import keyring_set
from memlane.ui.tasks import Tasks
from memlane.ui.theme import colours


def _lines(values: list[str]) -> str:
    return "\n".join(values)


_PLAIN = re.compile(r"[\w' -]+")  # words a person writes: no pattern characters


def _shown(pattern: str) -> str:
    inner = pattern[2:-2] if pattern.startswith("\\b") and pattern.endswith("\\b") else None
    return inner if inner is not None and _PLAIN.fullmatch(inner) else pattern


def title_rules_text(patterns: list[str]) -> str:
    """Title patterns as people read them: "\\bIncognito\\b" shows as "Incognito"."""
    return _lines([_shown(p) for p in patterns])


def title_rules(text: str, before: Sequence[str] = ()) -> list[str]:
    """A line as it was shown keeps its pattern; a new line of plain words becomes a whole-word
    pattern; anything else is a regular expression."""
    known = {_shown(p): p for p in before}
    return [known.get(line) or (f"\\b{line}\\b" if _PLAIN.fullmatch(line) else line)
            for line in _unlines(text)]


def _unlines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class SettingsDialog(QDialog):
    """Edit settings; :meth:`result_settings` is what to save when accepted."""

    def __init__(self, settings: Settings, home: Path, tasks: Tasks,
                 test_model: Callable[[str], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Memlane settings")
        self.settings = copy.deepcopy(settings)
        self.tasks = tasks
        self.test_model = test_model
        form = QFormLayout()

        self.interval = QDoubleSpinBox()
        self.interval.setRange(1.0, 600.0)
        self.interval.setDecimals(1)
        self.interval.setSuffix(" s")
        self.interval.setValue(settings.capture.interval_seconds)
        form.addRow("Capture every", self.interval)
        self.monitors = QLineEdit(settings.capture.monitors)
        self.monitors.setToolTip('"all", or monitor numbers (1 is the first), e.g. "1" or "1,3"')
        form.addRow("Monitors", self.monitors)
        self.change = QDoubleSpinBox()
        self.change.setRange(0.0, 50.0)
        self.change.setDecimals(1)
        self.change.setSuffix(" % of the screen")
        self.change.setValue(settings.capture.min_change_percent)
        form.addRow("Store a frame when at least", self.change)
        self.idle = QDoubleSpinBox()
        self.idle.setRange(0.0, 86400.0)
        self.idle.setDecimals(0)
        self.idle.setSuffix(" s (0 = never pause)")
        self.idle.setValue(settings.privacy.idle_seconds)
        form.addRow("Pause when idle for", self.idle)
        self.apps = QPlainTextEdit(_lines(settings.privacy.exclude_apps))
        self.apps.setToolTip("One app per line (WM_CLASS or process name); never stored")
        self.apps.setMaximumHeight(90)
        form.addRow("Never record these apps", self.apps)
        self._titles_before = list(settings.privacy.exclude_titles)
        self.titles = QPlainTextEdit(title_rules_text(settings.privacy.exclude_titles))
        self.titles.setToolTip("One rule per line: words a window title must contain (whole "
                               "words, any case), or a regular expression")
        self.titles.setMaximumHeight(90)
        form.addRow("…or windows whose title has", self.titles)
        self.redact = QCheckBox("Blank card numbers, IBANs, keys and passwords read on screen")
        self.redact.setChecked(settings.privacy.redact)
        form.addRow("Redaction", self.redact)
        self.frames_days = QDoubleSpinBox()
        self.frames_days.setRange(0.0, 36500.0)
        self.frames_days.setDecimals(0)
        self.frames_days.setSuffix(" days (0 = keep them)")
        self.frames_days.setValue(settings.retention.frames_days)
        self.keep_text = QCheckBox(
            "Keep their thumbnail and text (unchecked: forget them entirely)")
        self.keep_text.setChecked(settings.retention.keep_text)
        form.addRow("Delete screenshots older than", self.frames_days)
        form.addRow("", self.keep_text)
        self.languages = QLineEdit(settings.ocr.languages)
        self.languages.setToolTip('Tesseract languages, e.g. "eng" or "eng+deu"; "auto" picks')
        form.addRow("OCR languages", self.languages)

        self.model = QLineEdit(settings.model.path)
        self.model.setToolTip('"default" is the embedded model; or choose any GGUF file')
        browse = QPushButton("Choose GGUF…")
        default = QPushButton("Embedded default")
        self.test = QPushButton("Test model")
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        row = QHBoxLayout()
        for w in (self.model, browse, default, self.test):
            row.addWidget(w)
        form.addRow("Answering model", row)
        form.addRow("", self.test_result)
        folder = QLabel(str(home))
        folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_folder = QPushButton("Open data folder")
        self.folder_note = QLabel("")
        self.folder_note.setWordWrap(True)
        self.folder_note.setVisible(False)
        open_folder.clicked.connect(lambda: self._open_folder(home))
        frow = QHBoxLayout()
        frow.addWidget(folder, 1)
        frow.addWidget(open_folder)
        form.addRow("Data folder", frow)
        form.addRow("", self.folder_note)
        move = QLabel("<small>To keep your memory elsewhere, quit and start Memlane with "
                      "<code>--home DIR</code> or <code>MEMLANE_HOME</code>.</small>")
        move.setWordWrap(True)
        form.addRow("", move)
        self.journal = QLineEdit(settings.journal.folder)
        self.journal.setPlaceholderText("off: choose a folder, e.g. your Obsidian vault")
        self.journal.setToolTip("One Markdown file per day, updated every hour while recording "
                                "(as `memlane journal FOLDER`); other files are never touched")
        choose_journal = QPushButton("Choose…")
        choose_journal.clicked.connect(self._choose_journal)
        jrow = QHBoxLayout()
        jrow.addWidget(self.journal, 1)
        jrow.addWidget(choose_journal)
        form.addRow("Write a daily journal to", jrow)
        self.mcp_write = QCheckBox("Let connected programs (memlane mcp) store notes and forget")
        self.mcp_write.setToolTip("Off: AI assistants connected over MCP can only search and read."
                                  " Help > Connected programs shows every call.")
        self.mcp_write.setChecked(settings.mcp.allow_write)
        form.addRow("Other programs", self.mcp_write)
        self.theme = QComboBox()
        for value, label in (("auto", "Follow the desktop"), ("light", "Light"),
                             ("dark", "Dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.ui.theme)))
        form.addRow("Appearance", self.theme)
        self.autostart = QCheckBox("Start Memlane in the tray when I log in")
        self.autostart.setChecked(autostart_enabled())
        self.autostart.setToolTip(str(autostart_path()))
        form.addRow("Start at login", self.autostart)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b03a2e")
        self.problem.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(QLabel("<small>Changes apply to the recorder at once (it restarts) and "
                                "to answers from the next question.</small>"))
        layout.addWidget(buttons)

        browse.clicked.connect(self._choose_model)
        default.clicked.connect(lambda: self.model.setText("default"))
        self.test.clicked.connect(self._test_model)
        self.adjustSize()

    def _open_folder(self, home: Path) -> None:
        """Open the folder in the file manager; where none opens it, say where it is."""
        from PySide6.QtWidgets import QApplication

        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(home))):
            self.folder_note.setText(f"Opened {home} in the file manager.")
        else:
            QApplication.clipboard().setText(str(home))
            self.folder_note.setText(f"No file manager could open it here. The folder is {home} "
                                     "(copied, to paste in a file manager or a terminal).")
        self.folder_note.setVisible(True)

    def accept(self) -> None:
        """Save only settings that load: otherwise say what is wrong and keep every edit."""
        problem = self.check()
        if problem is None:
            self.problem.setVisible(False)
            super().accept()
            return
        message, field = problem
        self.problem.setText(message)
        self.problem.setVisible(True)
        if field is not None:
            field.setFocus()
            if isinstance(field, QLineEdit):
                field.selectAll()

    def check(self) -> tuple[str, QWidget | None] | None:
        """What is wrong with the edits (a sentence and the field), or None."""
        import tomllib

        from memlane.capture.privacy import ExclusionRules
        from memlane.core.errors import SettingsError
        from memlane.core.settings import dump_settings, parse_settings

        candidate = self.result_settings(copy.deepcopy(self.settings))
        try:
            ExclusionRules(candidate.privacy.exclude_apps, candidate.privacy.exclude_titles)
        except ValueError as exc:
            return f"Windows titled: {exc}. Fix the pattern or remove it.", self.titles
        try:
            parse_settings(tomllib.loads(dump_settings(candidate)))
        except SettingsError as exc:
            fields: dict[str, QWidget] = {"monitors": self.monitors,
                                          "languages": self.languages, "path": self.model}
            field = next((w for key, w in fields.items() if f"] {key}" in str(exc)), None)
            return str(exc).removeprefix("settings: "), field
        return None

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.model.setText(path)

    def _choose_journal(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the daily journal",
                                                self.journal.text() or str(Path.home()))
        if path:
            self.journal.setText(path)

    def _test_model(self) -> None:
        path = self.model.text().strip() or "default"
        self.test.setEnabled(False)
        self.test_result.setText("Loading the model and asking it to say hello…")

        def done(reply: str) -> None:
            self.test.setEnabled(True)
            self.test_result.setText(f"Works: {html.escape(reply)}")

        def failed(exc: Exception) -> None:
            self.test.setEnabled(True)
            self.test_result.setText(f"<span style='color:#c0392b'>{html.escape(str(exc))}</span>")

        self.tasks.run("test model", lambda _t: self.test_model(path), on_done=done,
                       on_error=failed, owner=self)

    def result_settings(self, into: Settings | None = None) -> Settings:
        s = self.settings if into is None else into
        s.capture.interval_seconds = self.interval.value()
        s.capture.monitors = self.monitors.text().strip() or "all"
        s.capture.min_change_percent = self.change.value()
        s.privacy.idle_seconds = self.idle.value()
        s.privacy.exclude_apps = _unlines(self.apps.toPlainText())
        s.privacy.exclude_titles = title_rules(self.titles.toPlainText(),
                                               self._titles_before)
        s.privacy.redact = self.redact.isChecked()
        s.ocr.languages = self.languages.text().strip() or "auto"
        s.model.path = self.model.text().strip() or "default"
        s.retention.frames_days = self.frames_days.value()
        s.retention.keep_text = self.keep_text.isChecked()
        s.journal.folder = self.journal.text().strip()
        s.mcp.allow_write = self.mcp_write.isChecked()
        s.ui.theme = str(self.theme.currentData() or "auto")
        return s


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

    def __init__(self, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.accept()


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
