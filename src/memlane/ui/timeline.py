"""The timeline panel: a day of memories under a day navigator, screens and chats together.

:class:`TimelinePanel` puts the lane of thumbnails and the hour ruler (:mod:`memlane.ui.lane`)
under previous/next day (skipping empty days), a calendar marking the days with screens or chats,
the day's summary and its conversations as links, and follows the recorder while today is shown.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from PySide6.QtCore import (
    QDate,
    QModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
)
from PySide6.QtWidgets import (
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from memlane.core.text import plural
from memlane.memory import timeline as tl
from memlane.ui.images import Images
from memlane.ui.lane import FRAME_ROLE, ActivityStrip, TimelineModel, TimelineView
from memlane.ui.tasks import Task, Tasks


class TimelinePanel(QWidget):
    """Day navigator, activity strip and the lane; says which frame is chosen."""

    frameChosen = Signal(int)
    dayShown = Signal(object)
    noFrames = Signal(object)  # the day shown has no screens (its date)
    menuRequested = Signal(object, object)  # a FrameRow right-clicked, the global position
    conversationChosen = Signal(str)  # a record id, "message:N": open its conversation

    def __init__(self, tasks: Tasks, store_fn: Any, images: Images,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.store_fn = store_fn  # the browse lane's store (called on that lane only)
        self.model = TimelineModel(tasks, images, self)
        self.view = TimelineView(self)
        self.view.setModel(self.model)
        self.strip = ActivityStrip(self)
        self._loading: Task | None = None
        self._reselecting = False

        self.prev_btn = QPushButton("◀ Earlier day")
        self.next_btn = QPushButton("Later day ▶")
        self.today_btn = QPushButton("Today")
        self.date_edit = QDateEdit(self)
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.summary = QLabel("")
        self.chats = QLabel("")
        self.chats.setTextFormat(Qt.TextFormat.RichText)
        self.chats.setToolTip("The conversations of this day: click one to read it")
        self.chats.linkActivated.connect(self.conversationChosen.emit)
        self.chats.setVisible(False)
        self.day_chats: list[tl.DayChat] = []
        self.zoom = QSlider(Qt.Orientation.Horizontal)
        self.zoom.setRange(40, 360)
        self.zoom.setValue(self.view.thumb_width)
        self.zoom.setMaximumWidth(160)
        self.zoom.setToolTip("Zoom: small thumbnails show the whole day")

        nav = QHBoxLayout()
        for w in (self.prev_btn, self.date_edit, self.next_btn, self.today_btn, self.summary):
            nav.addWidget(w)
        nav.addStretch(1)
        nav.addWidget(QLabel("Zoom"))
        nav.addWidget(self.zoom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(nav)
        layout.addWidget(self.chats)
        layout.addWidget(self.strip)
        layout.addWidget(self.view, 1)

        self.prev_btn.clicked.connect(lambda: self.step_day(-1))
        self.next_btn.clicked.connect(lambda: self.step_day(1))
        self.today_btn.clicked.connect(lambda: self.show_day(date.today()))
        self.date_edit.dateChanged.connect(self._date_edited)
        self.zoom.valueChanged.connect(self.view.set_zoom)
        self.strip.hourClicked.connect(self._jump_hour)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.date_edit.calendarWidget().currentPageChanged.connect(self._mark_month)

    # -- navigation ------------------------------------------------------------------------------

    def show_day(self, day: date, frame_id: int | None = None, *,
                 keep_view: bool = False) -> Task:
        """Load a day and select ``frame_id`` (else its last frame); ``keep_view`` keeps the
        lane where it is (new frames arriving)."""
        start, end = tl.day_bounds(day)

        def load(_t: Task) -> tuple[list[tl.FrameRow], list[tl.DayChat]]:
            store = self.store_fn()
            return tl.frames_between(store, start, end), tl.conversations_between(store, start, end)

        self._loading = self.tasks.run(
            "load day", load, lane="browse", owner=self,
            on_done=lambda got: self._day_loaded(day, *got, frame_id=frame_id,
                                                 keep_view=keep_view))
        return self._loading

    def follow(self, last_frame: float | None) -> Task | None:
        """Show frames stored since the day was loaded, when the day shown is today; the
        selection stays, unless it was on the newest frame (then the new newest is shown)."""
        day = self.model.day
        if day != date.today() or last_frame is None:
            return None
        newest = self.model.frames[-1].time if self.model.frames else None
        if newest is not None and last_frame <= newest:
            return None
        if self._loading is not None and not self._loading.finished.is_set():
            return None  # a day (or a frame someone chose) is loading: that wins
        current = self.current_frame()
        at_end = current is None or (bool(self.model.frames)
                                     and current.id == self.model.frames[-1].id)
        return self.show_day(day, None if at_end else current.id if current else None,
                             keep_view=not at_end)

    def show_frame(self, frame_id: int, at: float) -> Task:
        """Open the day holding a frame and select it."""
        return self.show_day(date.fromtimestamp(at), frame_id)

    def show_latest(self) -> Task:
        return self.tasks.run(
            "latest day", lambda _t: tl.latest_day(self.store_fn()),
            on_done=lambda day: self.show_day(day or date.today()), lane="browse", owner=self)

    def step_day(self, step: int) -> None:
        current = self.model.day or date.today()
        self.tasks.run(
            "step day", lambda _t: tl.nearest_day(self.store_fn(), current, step),
            on_done=lambda day: self.show_day(day) if day else self.summary.setText(
                "No earlier memories" if step < 0 else "No later memories"),
            lane="browse", owner=self)

    def _date_edited(self, qdate: QDate) -> None:
        day = qdate.toPython()
        if day != self.model.day:
            self.show_day(day)  # type: ignore[arg-type]

    def _day_loaded(self, day: date, frames: list[tl.FrameRow],
                    chats: list[tl.DayChat] | None = None, *, frame_id: int | None = None,
                    keep_view: bool = False) -> None:
        chats = chats or []
        scroll = self.view.horizontalScrollBar().value()
        self._reselecting = keep_view  # the same frame again: the viewer keeps what it shows
        self.model.set_day(day, frames)
        self.day_chats = chats
        self.date_edit.blockSignals(True)
        self.date_edit.setDate(QDate(day.year, day.month, day.day))
        self.date_edit.blockSignals(False)
        self.strip.set_counts(tl.per_hour(frames, self.model.day_start))
        self.summary.setText(day_summary(len(frames), len(self.model.runs), chats))
        self.chats.setText(chat_links(chats))
        self.chats.setVisible(bool(chats))
        self._mark_month(day.year, day.month)
        if frames:
            row = self.model.row_of(frame_id) if frame_id else None
            if keep_view and row is not None:
                self.view.setCurrentIndex(self.model.index(row, 0))
                self.view.horizontalScrollBar().setValue(scroll)
            else:
                self.view.select_row(len(frames) - 1 if row is None else row)
        else:
            self.noFrames.emit(day)
        self._reselecting = False
        self.dayShown.emit(day)

    def _menu(self, pos: Any) -> None:
        frame = self.view.indexAt(pos).data(FRAME_ROLE)
        if isinstance(frame, tl.FrameRow):
            self.menuRequested.emit(frame, self.view.viewport().mapToGlobal(pos))

    def _jump_hour(self, hour: int) -> None:
        row = self.model.row_at_or_after(self.model.day_start + hour * 3600)
        if row is not None:
            self.view.select_row(row)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        frame = current.data(FRAME_ROLE)
        if frame is not None and not self._reselecting:
            self.frameChosen.emit(frame.id)

    def _mark_month(self, year: int, month: int) -> None:
        """Bold the days of the shown month that have memories."""
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        since, until = tl.day_bounds(first)[0], tl.day_bounds(after)[0]
        calendar = self.date_edit.calendarWidget()

        def mark(days: dict[date, dict[str, int]]) -> None:
            from PySide6.QtGui import QTextCharFormat

            calendar.setDateTextFormat(QDate(), QTextCharFormat())
            for day, n in days.items():
                fmt = QTextCharFormat()
                fmt.setFontWeight(700)
                fmt.setBackground(QColor(210, 228, 250) if n["frames"] else QColor(226, 240, 214))
                fmt.setToolTip(", ".join(plural(n[k], k[:-1]) for k in ("frames", "messages")
                                         if n[k]))
                calendar.setDateTextFormat(QDate(day.year, day.month, day.day), fmt)
            self.marked = days

        self.tasks.run("month", lambda _t: tl.days_with_memories(self.store_fn(), since, until),
                       on_done=mark, lane="browse", owner=self)

    def current_frame(self) -> tl.FrameRow | None:
        frame = self.view.currentIndex().data(FRAME_ROLE)
        return frame if isinstance(frame, tl.FrameRow) else None


def day_summary(frames: int, runs: int, chats: list[tl.DayChat]) -> str:
    parts = [f"{plural(frames, 'frame')} in {plural(runs, 'activity')}" if frames
             else "No screens recorded this day"]
    if chats:
        parts.append(f"{plural(len(chats), 'conversation')} "
                     f"({plural(sum(c.messages for c in chats), 'message')})")
    elif not frames:
        parts = ["Nothing recorded this day"]
    return " · ".join(parts)


def chat_links(chats: list[tl.DayChat], limit: int = 6) -> str:
    """The day's conversations as links (``message:N`` opens the first message of the day)."""
    import html

    links = [f"<a href='message:{c.first_message}'>{html.escape(c.title[:60])}</a>"
             f" <span style='color:#777'>{datetime.fromtimestamp(c.start):%H:%M}, "
             f"{plural(c.messages, 'message')}</span>" for c in chats[:limit]]
    more = f" and {len(chats) - limit} more" if len(chats) > limit else ""
    return "Chats: " + " · ".join(links) + more if chats else ""
