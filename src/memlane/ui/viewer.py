"""The frame viewer: one screenshot at full size with its OCR words as a selectable overlay.

It shows what the frame's row says (time, app, window title), the image scaled to fit (zoomable
with Ctrl+wheel), every OCR word as a faint box that becomes yellow when it matches the current
search terms, and the frame's text in a read-only pane where it can be selected and copied.
Images are decoded on the browse lane; a missing or unreadable image file is said in words.
"""

from __future__ import annotations

from datetime import date, datetime

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QPainter,
    QPen,
    QPixmap,
    QTextCharFormat,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from memlane.core.text import WORD, content_words, stem
from memlane.memory import timeline as tl
from memlane.ui.images import Images
from memlane.ui.tasks import Task, Tasks


def terms_of(text: str) -> set[str]:
    """The words worth highlighting, as stems: "flight" marks "Flights" as search found it;
    without stop words ("to", "the", "I")."""
    return {stem(w) for w in content_words(text) if len(w) > 1}


class _View(QGraphicsView):
    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            self.scale(factor, factor)
        else:
            super().wheelEvent(event)


class FrameViewer(QWidget):
    menuRequested = Signal(object, object)  # the FrameDetail shown, the global position

    def __init__(self, tasks: Tasks, store_fn: object, images: Images,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.store_fn = store_fn
        self.images = images
        self.detail: tl.FrameDetail | None = None
        self.terms: set[str] = set()
        self._boxes: list[tuple[QGraphicsRectItem, str]] = []

        self.header = QLabel("Choose a moment on the timeline")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setMinimumWidth(80)  # one line: a long title is cut with "…" (full in tip)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._header_parts: tuple[str, str] | None = None
        self.show_boxes = QCheckBox("Show text boxes")
        self.show_boxes.setChecked(True)
        self.scene = QGraphicsScene(self)
        self.view = _View(self.scene, self)
        self.view.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.view.setBackgroundBrush(QColor(40, 40, 40))
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setPlaceholderText("The text read from this frame appears here.")

        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.show_boxes)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.view)
        split.addWidget(self.text)
        split.setSizes([440, 110])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.show_boxes.toggled.connect(self._toggle_boxes)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(
            lambda pos: self.menuRequested.emit(self.detail, self.view.mapToGlobal(pos))
            if self.detail is not None else None)

    def show_frame(self, frame_id: int) -> Task:
        def load(_t: Task) -> tuple[tl.FrameDetail | None, QImage | None]:
            detail = tl.frame_detail(self.store_fn(), frame_id)  # type: ignore[operator]
            if detail is None:
                return detail, None
            if detail.row.image_path:
                return detail, self.images.load(detail.row.image_path)
            if detail.row.thumb_path and detail.width:  # thinned by retention: the thumbnail,
                thumb = self.images.load(detail.row.thumb_path)  # at the frame's size so
                if not thumb.isNull():  # the word boxes still line up
                    return detail, thumb.scaled(detail.width, detail.height)
            return detail, None

        return self.tasks.run("open frame", load, on_done=self._loaded, lane="browse", owner=self)

    def set_terms(self, query: str) -> None:
        self.terms = terms_of(query)
        self._paint_terms()

    # -- drawing ---------------------------------------------------------------------------------

    def show_empty(self, day: date) -> None:
        """Nothing to show: the day on the timeline has no screens."""
        self.scene.clear()
        self._boxes = []
        self.detail = None
        self._header_parts = None
        self.header.setText(f"No screens recorded on {day:%A} {day.day} {day:%B %Y}")
        self.text.setPlainText("")
        note = self.scene.addText("No screens this day.\nIts chats, if any, are listed under "
                                  "the day's date: click one to read it.")
        note.setDefaultTextColor(QColor(200, 200, 200))
        self.scene.setSceneRect(note.boundingRect())
        self.view.resetTransform()

    def _loaded(self, result: tuple[tl.FrameDetail | None, QImage | None]) -> None:
        detail, image = result
        self.scene.clear()
        self._boxes = []
        self.detail = detail
        self._header_parts = None
        self.header.setToolTip("")
        if detail is None:
            self.header.setText("This frame was deleted.")
            self.text.setPlainText("")
            return
        row = detail.row
        when = datetime.fromtimestamp(row.time)
        state = {"pending": "  ·  text is still being read", "failed": "  ·  OCR failed"}.get(
            row.ocr, "")
        url = f"  —  {row.url}" if row.url else ""
        self._header_parts = (f"{when:%a %d %b %Y, %H:%M:%S}",
                              f"{row.where}  —  {row.title}{url}{state}")
        self.header.setToolTip(f"{row.where} — {row.title}" + (f"\n{row.url}" if row.url else ""))
        self._fit_header()
        if image is None or image.isNull():
            self.scene.addText("The image file of this frame is missing or unreadable.")
        else:
            self.scene.addItem(QGraphicsPixmapItem(QPixmap.fromImage(image)))
            # Word boxes are in the pixels of the image OCR read (the stored frame's size).
            sx = image.width() / detail.width if detail.width else 1.0
            sy = image.height() / detail.height if detail.height else 1.0
            for text, left, top, width, height, _conf in detail.words:
                rect = QGraphicsRectItem(QRectF(left * sx, top * sy, width * sx, height * sy))
                rect.setToolTip(text)
                self.scene.addItem(rect)
                self._boxes.append((rect, text))
            self.scene.setSceneRect(0, 0, image.width(), image.height())
            self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.text.setPlainText(detail.text)
        self._paint_terms()
        self._toggle_boxes(self.show_boxes.isChecked())

    def _paint_terms(self) -> None:
        faint = QPen(QColor(52, 101, 164, 110))
        hit_pen = QPen(QColor(230, 160, 0), 2)
        for rect, text in self._boxes:
            hit = bool(terms_of(text) & self.terms)
            rect.setPen(hit_pen if hit else faint)
            rect.setBrush(QBrush(QColor(255, 220, 0, 90)) if hit else QBrush(Qt.BrushStyle.NoBrush))
            rect.setZValue(2 if hit else 1)
        selections = []
        if self.terms:
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(255, 220, 0))
            fmt.setForeground(QColor(0, 0, 0))  # readable on yellow in a dark look too
            body = self.text.toPlainText()
            for m in WORD.finditer(body):
                if terms_of(m[0]) & self.terms:
                    sel = QTextEdit.ExtraSelection()
                    cursor = self.text.textCursor()
                    cursor.setPosition(m.start())
                    cursor.setPosition(m.end(), cursor.MoveMode.KeepAnchor)
                    sel.cursor = cursor  # type: ignore[attr-defined]
                    sel.format = fmt  # type: ignore[attr-defined]
                    selections.append(sel)
        self.text.setExtraSelections(selections)

    def _toggle_boxes(self, on: bool) -> None:
        for rect, text in self._boxes:
            rect.setVisible(on or bool(terms_of(text) & self.terms))

    def highlighted(self) -> list[str]:
        """Words currently highlighted on the image (for tests and screenshots)."""
        return [text for rect, text in self._boxes if rect.zValue() == 2]

    def _fit_header(self) -> None:
        """The header on one line: the time in bold, then as much of app and title as fits."""
        if self._header_parts is None:
            return
        when, rest = self._header_parts
        bold = QFont(self.header.font())
        bold.setBold(True)
        room = self.header.width() - QFontMetrics(bold).horizontalAdvance(when + "   ") - 8
        shown = QFontMetrics(self.header.font()).elidedText(
            rest, Qt.TextElideMode.ElideRight, max(room, 40))
        self.header.setText(f"<b>{_esc(when)}</b>&nbsp;&nbsp; {_esc(shown)}")

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit_header()
        if self._boxes or self.scene.items():
            self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
