"""The timeline's lane: one day's frames as thumbnails in a row, and the frames-per-hour ruler.

:class:`TimelineModel` is a list model of a day's frames (from :mod:`memlane.memory.timeline`),
with each frame's run (consecutive frames of one app and window) and the app's colour; thumbnails
are decoded on the browse lane when first shown and cached. :class:`TimelineView` draws them with a
colour band per app, zooms by thumbnail width (never taller than the lane), puts each thumbnail
under its hour when the whole day fits, and adds keys: left/right frame, page up/down run,
Home/End of the day. :class:`ActivityStrip` shows frames per hour and jumps to an hour on click.
"""


from __future__ import annotations

import zlib
from collections import OrderedDict
from datetime import date, datetime
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
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
    QListView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from memlane.memory import timeline as tl
from memlane.ui.images import Images
from memlane.ui.tasks import Tasks

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
