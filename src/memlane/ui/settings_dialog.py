"""The Settings window: what a person changes, checked before it is saved, with every edit kept.

:class:`SettingsDialog` edits capture, privacy (excluded apps, and title rules shown as words),
retention, OCR languages, the model (with "Test model"), the journal folder, whether connected
programs may write, the look and "Start at login"; it writes them back with
:func:`memlane.core.settings.save_settings`, comments kept. Settings that would not load are named
and their field focused, and the dialog stays open with every edit.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Callable, Sequence
from pathlib import Path

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
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from memlane.core.settings import Settings
from memlane.services.desktop import autostart_enabled, autostart_path
from memlane.ui.tasks import Tasks


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
        self.ocr_engine = QComboBox()
        for value, label in (
            ("auto", "Automatic (tesseract kept loaded when installed)"),
            ("tesserocr", "Tesseract, kept loaded (light)"),
            ("tesseract", "Tesseract program, started for every frame"),
            ("rapidocr", "PP-OCR (best for Chinese, several times the CPU and memory)"),
        ):
            self.ocr_engine.addItem(label, value)
        self.ocr_engine.setCurrentIndex(max(0, self.ocr_engine.findData(settings.ocr.engine)))
        form.addRow("Read the screen with", self.ocr_engine)
        self.languages = QLineEdit(settings.ocr.languages)
        self.languages.setToolTip('Tesseract languages, e.g. "eng" or "eng+deu"; "auto" picks')
        form.addRow("OCR languages", self.languages)

        self.model = QLineEdit(settings.model.path)
        self.model.setToolTip('"auto": this machine is measured once and the embedded 1.5B model '
                              'answers when its first token is fast enough, else the 0.5B; '
                              '"small", "large", or any GGUF file')
        browse = QPushButton("Choose GGUF…")
        default = QComboBox()
        default.addItems(["Embedded…", "auto (measured)", "small (0.5B)", "large (1.5B)"])
        default.setToolTip("Use one of the models that come with Memlane")
        self.model_why = QLabel(_model_why(home, settings))
        self.model_why.setWordWrap(True)
        self.test = QPushButton("Test model")
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        row = QHBoxLayout()
        for w in (self.model, browse, default, self.test):
            row.addWidget(w)
        form.addRow("Answering model", row)
        form.addRow("", self.model_why)
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
        default.activated.connect(
            lambda i: self.model.setText(("", "auto", "small", "large")[i] or self.model.text()))
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
            ExclusionRules.of(candidate.privacy)
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
        path = self.model.text().strip() or "auto"
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
        s.ocr.engine = str(self.ocr_engine.currentData() or "auto")
        s.model.path = self.model.text().strip() or "auto"
        s.retention.frames_days = self.frames_days.value()
        s.retention.keep_text = self.keep_text.isChecked()
        s.journal.folder = self.journal.text().strip()
        s.mcp.allow_write = self.mcp_write.isChecked()
        s.ui.theme = str(self.theme.currentData() or "auto")
        return s


def _model_why(home: Path, settings: Settings) -> str:
    """Which model answers now, and why (the machine measurement's reason for "auto")."""
    from memlane.core.paths import Paths
    from memlane.services.model_setup import model_status

    status = model_status(Paths(home), settings)
    return f"Now: {status.get('name', status['setting'])} - {status['why']}"
