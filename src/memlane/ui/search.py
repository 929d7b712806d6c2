"""The search bar: hybrid search with filters, results with thumbnails and snippets.

Typing a query (or a time expression such as "flights last tuesday", which the engine turns into
a filter) and pressing Enter runs :meth:`memlane.services.engine.Engine.search` on the engine lane.
Filters narrow by date range, app or chat source, and kind. Each result shows its thumbnail
(frames), time, where it came from and a snippet; choosing one says so with :attr:`hitChosen`,
which the main window turns into a jump on the timeline or an open conversation.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDate, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from memlane.memory.records import ASSISTANT_SOURCE, KINDS, Hit
from memlane.memory.timeline import day_bounds
from memlane.ui.images import Images
from memlane.ui.tasks import Task, Tasks

CHATS_WITH_MEMLANE = "asked"  # the kind filter for your questions to Memlane and its answers
RANGES = ("Any time", "Today", "Yesterday", "Last 7 days", "Last 30 days", "Between dates")
KIND_LABELS = {"": "All kinds", "frame": "Screens", "message": "Messages",
               "episode": "Episodes", "fact": "Facts", CHATS_WITH_MEMLANE: "Chats with Memlane"}


def range_bounds(choice: str, start: date, end: date,
                 today: date | None = None) -> tuple[float | None, float | None]:
    """The epoch-second bounds of a date-range choice (local days)."""
    today = today or date.today()

    def at(day: date) -> float:
        return day_bounds(day)[0]

    if choice == "Today":
        return at(today), at(today + timedelta(days=1))
    if choice == "Yesterday":
        return at(today - timedelta(days=1)), at(today)
    if choice == "Last 7 days":
        return at(today - timedelta(days=6)), at(today + timedelta(days=1))
    if choice == "Last 30 days":
        return at(today - timedelta(days=29)), at(today + timedelta(days=1))
    if choice == "Between dates":
        return at(start), at(end + timedelta(days=1))
    return None, None


class SearchPanel(QWidget):
    hitChosen = Signal(object)
    searched = Signal(str)
    menuRequested = Signal(object, object)  # a Hit right-clicked, the global position

    def __init__(self, tasks: Tasks, engine_fn: Any, store_fn: Any, images: Images,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.engine_fn = engine_fn
        self.store_fn = store_fn
        self.images = images
        self.hits: list[Hit] = []
        self._task: Task | None = None

        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Search your memory: words, or e.g. \"flights yesterday\"")
        self.query.setToolTip("Words, a time (\"last week\") and a site: \"site:github.com\" "
                              "keeps screens of browser tabs on that site")
        self.query.setClearButtonEnabled(True)
        self.range = QComboBox(self)
        self.range.addItems(RANGES)
        self.since = QDateEdit(QDate.currentDate().addDays(-7), self)
        self.until = QDateEdit(QDate.currentDate(), self)
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setVisible(False)
        self.app = QComboBox(self)
        self.app.addItem("All apps", "")
        self.kind = QComboBox(self)
        for kind in ("", *KINDS, CHATS_WITH_MEMLANE):
            self.kind.addItem(KIND_LABELS[kind], kind)
        self.info = QLabel("")
        self.results = QListWidget(self)
        self.results.setIconSize(QSize(96, 60))
        self.results.setWordWrap(True)
        self.results.setAlternatingRowColors(True)

        filters = QHBoxLayout()
        for w in (self.range, self.since, self.until, self.app, self.kind):
            filters.addWidget(w)
        filters.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.query)
        layout.addLayout(filters)
        layout.addWidget(self.info)
        layout.addWidget(self.results, 1)

        self.query.returnPressed.connect(self.run)
        self.range.currentTextChanged.connect(self._range_changed)
        for combo in (self.app, self.kind):
            combo.activated.connect(lambda *_: self.run() if self.query.text().strip() else None)
        self.results.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results.customContextMenuRequested.connect(self._menu)
        self.results.itemActivated.connect(self._chosen)
        self.results.itemClicked.connect(self._chosen)

    def load_apps(self) -> None:
        from memlane.memory import timeline as tl

        def fill(apps: list[str]) -> None:
            current = self.app.currentData()
            self.app.clear()
            self.app.addItem("All apps", "")
            for app in apps:
                self.app.addItem(app, app)
            self.app.setCurrentIndex(max(0, self.app.findData(current)))

        self.tasks.run("apps", lambda _t: tl.apps(self.store_fn()), on_done=fill,
                       lane="browse", owner=self)

    def _range_changed(self, choice: str) -> None:
        between = choice == "Between dates"
        self.since.setVisible(between)
        self.until.setVisible(between)
        if self.query.text().strip():
            self.run()

    def run(self, query: str | None = None) -> Task | None:
        if query is not None:
            self.query.setText(query)
        text = self.query.text().strip()
        if not text:
            return None
        since, until = range_bounds(self.range.currentText(), self.since.date().toPython(),  # type: ignore[arg-type]
                                    self.until.date().toPython())  # type: ignore[arg-type]
        app = self.app.currentData() or None
        kind = self.kind.currentData()
        kinds = (kind,) if kind in KINDS else KINDS
        if kind == CHATS_WITH_MEMLANE:  # otherwise search leaves them out
            app, kinds = ASSISTANT_SOURCE, ("message",)
        self.info.setText("Searching…")
        self.searched.emit(text)
        self._task = self.tasks.run(
            "search", lambda _t: self.engine_fn().search(
                text, since=since, until=until, app=app, kinds=kinds, limit=30),
            on_done=self._show, on_error=self._failed, owner=self)
        return self._task

    def _failed(self, exc: Exception) -> None:
        self.info.setText(f"Search failed: {exc}")

    def _show(self, result: Any) -> None:
        self.hits = list(result.hits)
        self.results.clear()
        took = result.timings.get("total_ms")
        note = f" in {took:.0f} ms" if took else ""
        window = ""
        if result.time_range is not None and result.since is not None:
            window = f" · {datetime.fromtimestamp(result.since):%d %b}"
            if result.until is not None:
                window += f" – {datetime.fromtimestamp(result.until - 1):%d %b}"
        self.info.setText(f"{len(self.hits)} results{note}{window}" if self.hits
                          else "No memories match.")
        for hit in self.hits:
            when = datetime.fromtimestamp(hit.time)
            where = (f"{hit.app} — {hit.title}" if hit.kind == "frame"
                     else f"{hit.title or hit.app}" if hit.kind == "message" else hit.kind)
            words = hit.snippet.split()
            if hit.kind == "frame" and hit.title and " ".join(words).startswith(hit.title):
                words = words[len(hit.title.split()):]  # OCR of the title bar repeats it
            snippet = " ".join(words[:28]) + (" …" if len(words) > 28 else "")
            item = QListWidgetItem(f"{when:%a %d %b %Y %H:%M}  ·  {where}\n{snippet}")
            item.setData(Qt.ItemDataRole.UserRole, hit)
            self.results.addItem(item)
            if hit.kind == "frame":
                self._thumb(item, hit)

    def _thumb(self, item: QListWidgetItem, hit: Hit) -> None:
        from memlane.memory import timeline as tl

        frame_id = int(hit.source.get("frame_id", 0))

        def load(_t: Task) -> QImage | None:
            row = tl.frame_row(self.store_fn(), frame_id)
            return self.images.load(row.thumb_path) if row and row.thumb_path else None

        def put(image: QImage | None) -> None:
            if image is not None and not image.isNull():
                # RuntimeError: a newer search replaced the results meanwhile
                with contextlib.suppress(RuntimeError):
                    item.setIcon(QIcon(QPixmap.fromImage(image)))

        self.tasks.run("result thumbnail", load, on_done=put, lane="browse", owner=self)

    def _menu(self, pos: Any) -> None:
        item = self.results.itemAt(pos)
        hit = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if hit is not None:
            self.menuRequested.emit(hit, self.results.viewport().mapToGlobal(pos))

    def _chosen(self, item: QListWidgetItem) -> None:
        hit = item.data(Qt.ItemDataRole.UserRole)
        if hit is not None:
            self.hitChosen.emit(hit)
