"""The timeline: one day's frames as a horizontal lane of thumbnails, grouped into activity runs.

:class:`TimelineModel` is a list model of a day's frames (from :mod:`memlane.memory.timeline`),
with each frame's run (consecutive frames of one app and window) and the app's colour; thumbnails
are decoded on the browse lane when first shown and cached. :class:`TimelineView` draws them with a
colour band per app and a gap between runs, zooms by thumbnail width (a whole day fits at the
smallest size), and adds keys: left/right frame, page up/down run, Home/End of the day.
:class:`ActivityStrip` shows frames per hour and jumps to an hour on click. :class:`TimelinePanel`
puts them under a day navigator (previous/next day with memories, a calendar marking those days).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from datetime import date, datetime
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSlider,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from memlane.core.text import plural
from memlane.memory import timeline as tl
from memlane.ui.images import Images
from memlane.ui.tasks import Task, Tasks

FRAME_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ROLE = Qt.ItemDataRole.UserRole + 2
COLOR_ROLE = Qt.ItemDataRole.UserRole + 3
THUMB_CACHE = 600
RUN_GAP = 10  # pixels between activity runs


def app_color(app: str) -> QColor:
    """A stable colour per app name."""
    if not app:
        return QColor(150, 150, 150)
    return QColor.fromHsv(zlib.crc32(app.encode()) % 360, 150, 215)


class TimelineModel(QAbstractListModel):
    """A day's frames with their runs; thumbnails load in the background."""

    def __init__(self, tasks: Tasks, images: Images, parent: Any = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.images = images
        self.frames: list[tl.FrameRow] = []
        self.runs: list[tl.Run] = []
        self.run_of: list[int] = []
        self._rows: dict[int, int] = {}  # frame id -> row (every arriving thumbnail asks)
        self.day: date | None = None
        self.day_start = 0.0
        self._thumbs: OrderedDict[int, QPixmap] = OrderedDict()
        self._loading: set[int] = set()

    # -- Qt model --------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.frames)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or index.row() >= len(self.frames):
            return None
        frame = self.frames[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return datetime.fromtimestamp(frame.time).strftime("%H:%M:%S")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self.data(index)}  {frame.app}\n{frame.title}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(frame)
        if role == FRAME_ROLE:
            return frame
        if role == RUN_ROLE:
            return self.run_of[index.row()]
        if role == COLOR_ROLE:
            return app_color(frame.app)
        return None

    # -- content ---------------------------------------------------------------------------------

    def set_day(self, day: date, frames: list[tl.FrameRow]) -> None:
        self.beginResetModel()
        self.day = day
        self.day_start = tl.day_bounds(day)[0]
        self.frames = frames
        self.runs = tl.segment(frames)
        self.run_of = [i for i, run in enumerate(self.runs) for _ in run.frames]
        self._rows = {f.id: i for i, f in enumerate(frames)}
        self.endResetModel()

    def row_of(self, frame_id: int) -> int | None:
        return self._rows.get(frame_id)

    def row_at_or_after(self, t: float) -> int | None:
        for i, f in enumerate(self.frames):
            if f.time >= t:
                return i
        return len(self.frames) - 1 if self.frames else None

    def run_start(self, row: int, step: int) -> int:
        """First row of the run ``step`` runs away from the one holding ``row``."""
        if not self.frames:
            return 0
        run = max(0, min(len(self.runs) - 1, self.run_of[row] + step))
        return self.run_of.index(run)

    # -- thumbnails ------------------------------------------------------------------------------

    def _thumbnail(self, frame: tl.FrameRow) -> QPixmap | None:
        pixmap = self._thumbs.get(frame.id)
        if pixmap is not None:
            self._thumbs.move_to_end(frame.id)
            return pixmap
        if frame.id not in self._loading and frame.thumb_path:
            self._loading.add(frame.id)
            rel = frame.thumb_path
            fid = frame.id
            self.tasks.run(
                "thumbnail", lambda _t: self.images.load(rel),
                on_done=partial(self._loaded, fid),
                on_error=lambda _e: self._loading.discard(fid),
                lane="browse", owner=self,
            )
        return None

    def _loaded(self, frame_id: int, image: QImage) -> None:
        self._loading.discard(frame_id)
        if image.isNull():
            return
        self._thumbs[frame_id] = QPixmap.fromImage(image)
        while len(self._thumbs) > THUMB_CACHE:
            self._thumbs.popitem(last=False)
        row = self.row_of(frame_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


class FrameDelegate(QStyledItemDelegate):
    """Thumbnail, app colour band and time; a gap before the first frame of each run."""

    def __init__(self, view: TimelineView) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        w = self.view.fitted_width()
        gaps = self.view.lead_gaps()
        if gaps:  # the whole day fits: each thumbnail sits under its hour on the ruler
            lead = gaps[index.row()] if index.row() < len(gaps) else 0
            return QSize(w + 6 + lead, int(w * 0.625) + 30)
        model = index.model()
        first = index.row() > 0 and index.data(RUN_ROLE) != model.index(
            index.row() - 1, 0).data(RUN_ROLE)
        return QSize(w + 6 + (RUN_GAP if first else 0), int(w * 0.625) + 30)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        rect: QRect = option.rect  # type: ignore[attr-defined]
        w = self.view.fitted_width()
        left = rect.right() - w - 3
        box = QRect(left, rect.top() + 3, w, int(w * 0.625))
        painter.save()
        selected = bool(option.state & option.state.State_Selected)  # type: ignore[attr-defined]
        painter.fillRect(box.adjusted(-3, -3, 3, 25), QColor(52, 101, 164) if selected
                         else QColor(0, 0, 0, 0))
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap):
            painter.drawPixmap(box, pixmap.scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))
        else:
            painter.fillRect(box, QColor(225, 225, 225))
        band = QRect(left, box.bottom() + 2, w, 5)
        painter.fillRect(band, index.data(COLOR_ROLE))
        if w >= 90:
            painter.setPen(QColor(255, 255, 255) if selected
                           else self.view.palette().color(QPalette.ColorRole.Text))
            painter.drawText(QRect(left, band.bottom() + 1, w, 16),
                             Qt.AlignmentFlag.AlignLeft, index.data())
        painter.restore()


class TimelineView(QListView):
    """The horizontal lane, with zoom and episode-wise keyboard navigation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_width = 200
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setItemDelegate(FrameDelegate(self))
        self.setMinimumHeight(150)
        self._gaps_key: tuple[object, ...] | None = None
        self._gaps: list[int] = []

    def lead_gaps(self) -> list[int]:
        """Per frame, the space before its thumbnail that puts it where its time falls under
        the hour ruler; empty when the day's thumbnails do not all fit in the lane (then they
        follow each other, a gap between activities)."""
        model = self.model()
        if not isinstance(model, TimelineModel) or not model.frames:
            return []
        w = self.fitted_width() + 6
        room = self.viewport().width()
        key = (model.day, len(model.frames), model.frames[0].id, model.frames[-1].id, w, room)
        if self._gaps_key == key:
            return self._gaps
        gaps: list[int] = []
        n = len(model.frames)
        if n * w <= room:
            x = 0
            for i, frame in enumerate(model.frames):
                target = int((frame.time - model.day_start) / 86400 * room)
                target = min(target, room - (n - i) * w)  # leave room for the rest
                gaps.append(max(0, target - x))
                x += gaps[-1] + w
        self._gaps_key, self._gaps = key, gaps
        return gaps

    def fitted_width(self) -> int:
        """The zoom's thumbnail width, made smaller when the lane is too low to show a
        thumbnail with its colour band and time."""
        room = self.viewport().height() - 32
        return max(40, min(self.thumb_width, int(room / 0.625)))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.scheduleDelayedItemsLayout()

    def set_zoom(self, width: int) -> None:
        self.thumb_width = width
        self.scheduleDelayedItemsLayout()
        current = self.currentIndex()
        if current.isValid():
            self.scrollTo(current, QAbstractItemView.ScrollHint.PositionAtCenter)

    def select_row(self, row: int) -> None:
        idx = self.model().index(row, 0)
        self.setCurrentIndex(idx)
        self.scrollTo(idx, QAbstractItemView.ScrollHint.PositionAtCenter)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        model = self.model()
        if not isinstance(model, TimelineModel) or not model.frames:
            super().keyPressEvent(event)
            return
        row = max(0, self.currentIndex().row())
        key = event.key()
        if key == Qt.Key.Key_PageDown:
            self.select_row(model.run_start(row, 1))
        elif key == Qt.Key.Key_PageUp:
            start = model.run_start(row, 0)
            self.select_row(model.run_start(row, -1) if start == row else start)
        elif key == Qt.Key.Key_Home:
            self.select_row(0)
        elif key == Qt.Key.Key_End:
            self.select_row(len(model.frames) - 1)
        else:
            super().keyPressEvent(event)


class ActivityStrip(QWidget):
    """Frames per hour of the day as bars; a click asks to jump to that hour."""

    hourClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts = [0] * 24
        self.setMinimumHeight(34)
        self.setToolTip("Frames per hour; click an hour to jump there")

    def set_counts(self, counts: list[int]) -> None:
        self.counts = counts
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        width = self.width() / 24
        top = max(self.counts) or 1
        for hour, n in enumerate(self.counts):
            x = int(hour * width)
            h = int((self.height() - 14) * n / top)
            painter.fillRect(x + 1, self.height() - 14 - h, max(1, int(width) - 2), h,
                             QColor(52, 101, 164))
            if hour % 3 == 0:
                painter.setPen(QColor(90, 90, 90))
                painter.drawText(x + 2, self.height() - 2, f"{hour:02d}")
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hour = int(event.position().x() / max(1, self.width()) * 24)
        self.hourClicked.emit(max(0, min(23, hour)))


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
