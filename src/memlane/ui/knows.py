"""What Memlane knows: facts, recent activities and conversations, each one deletable.

Three lists read on the browse lane: the current semantic facts (filled by consolidation), the
activities of the last seven days (runs of one app and window from the timeline's grouping) and
the stored conversations. Double-clicking an activity opens it on the timeline. "Consolidate
now" builds episodes and facts on the engine lane (pressed again, it stops). "Forget" asks
for confirmation with the exact count, then deletes through the engine's ``forget`` (images,
text, search index and anything derived), on the engine lane.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from memlane.core.text import plural
from memlane.memory import timeline as tl
from memlane.memory.forget import Scope
from memlane.ui.tasks import Task, Tasks

DAYS = 7


def _item(text: str, ids: list[str], payload: Any = None) -> QListWidgetItem:
    item = QListWidgetItem(text)
    item.setData(Qt.ItemDataRole.UserRole, ids)
    item.setData(Qt.ItemDataRole.UserRole + 1, payload)
    return item


class KnowsPanel(QWidget):
    frameChosen = Signal(int, float)
    forgotten = Signal(object)  # the forget report

    def __init__(self, tasks: Tasks, engine_fn: Any, store_fn: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.engine_fn = engine_fn
        self.store_fn = store_fn
        self.tabs = QTabWidget(self)
        self.facts = QListWidget()
        self.activities = QListWidget()
        self.conversations = QListWidget()
        for widget, name in ((self.facts, "Facts"), (self.activities, "Recent activities"),
                             (self.conversations, "Conversations")):
            widget.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
            widget.setWordWrap(True)
            self.tabs.addTab(widget, name)
        self.note = QLabel("")
        self.outcome = ""  # what the last action did, kept in front of the counts once
        self.note.setWordWrap(True)
        self.forget_btn = QPushButton("Forget selected…")
        self.refresh_btn = QPushButton("Refresh")
        self.consolidate_btn = QPushButton("Consolidate now")
        self.consolidate_btn.setToolTip(
            "Build episodes, day digests and facts from what is not consolidated yet "
            "(it also runs by itself while you are idle)")
        row = QHBoxLayout()  # the buttons on a line of their own, the note full width below
        row.addWidget(self.consolidate_btn)
        row.addWidget(self.refresh_btn)
        row.addStretch(1)
        row.addWidget(self.forget_btn)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.refresh_btn.clicked.connect(self.refresh)
        self.forget_btn.clicked.connect(self.forget_selected)
        self.consolidate_btn.clicked.connect(self.consolidate)
        self.activities.itemDoubleClicked.connect(self._open_activity)

    def refresh(self) -> Task:
        def load(_t: Task) -> dict[str, Any]:
            store = self.store_fn()
            since = tl.day_bounds(date.today() - timedelta(days=DAYS - 1))[0]
            frames = tl.frames_between(store, since, datetime.now().timestamp() + 1)
            convs = tl.recent_conversations(store)
            return {"facts": tl.current_facts(store),
                    "runs": tl.segment(frames),
                    "conversations": convs,
                    "message_ids": {c["id"]: [r.id for r in tl.messages_of(store, c["id"])]
                                    for c in convs}}

        return self.tasks.run("what memlane knows", load, on_done=self._show, lane="browse",
                              owner=self)

    def _show(self, data: dict[str, Any]) -> None:
        self.facts.clear()
        for fact in data["facts"]:
            seen = datetime.fromtimestamp(fact["last_confirmed"])
            first = datetime.fromtimestamp(fact["first_seen"])
            self.facts.addItem(_item(f"{fact['text']}\n{fact['category']} · since "
                                     f"{first:%d %b %Y} · confirmed {seen:%d %b %Y} · "
                                     f"confidence {fact['confidence']:.0%}",
                                     [f"fact:{fact['id']}"]))
        if not data["facts"]:
            self.facts.addItem(QListWidgetItem(
                "No facts yet: facts about you are learned from conversations and activities "
                "when memories are consolidated."))
        self.activities.clear()
        for run in reversed(data["runs"]):
            start, end = datetime.fromtimestamp(run.start), datetime.fromtimestamp(run.end)
            text = (f"{start:%a %d %b  %H:%M}–{end:%H:%M}  ·  {run.frames[0].where}"
                    f"\n{run.title}  ({len(run.frames)} frame{'s' * (len(run.frames) != 1)})")
            self.activities.addItem(_item(text, [f"frame:{f.id}" for f in run.frames],
                                          (run.frames[0].id, run.start)))
        self.conversations.clear()
        for conv in data["conversations"]:
            last = datetime.fromtimestamp(conv["last"]) if conv["last"] else None
            text = (f"{conv['title']}  ({conv['source']}, {plural(conv['messages'], 'message')}"
                    + (f", last {last:%d %b %Y}" if last else "") + ")")
            ids = [f"message:{m}" for m in data["message_ids"].get(conv["id"], [])]
            self.conversations.addItem(_item(text, ids))
        self.note.setText(self.outcome + f"{plural(len(data['facts']), 'fact')} · "
                          f"{plural(len(data['runs']), 'activity')} in the last {DAYS} days · "
                          f"{plural(len(data['conversations']), 'conversation')}")
        self.outcome = ""

    def consolidate(self) -> Task:
        """Consolidate now in the background lane, on an engine of its own (its model process
        at a lower priority), pausing between steps while a question is answered; the button
        cancels it."""
        def work(task: Task) -> Any:
            engine = self.engine_fn().for_thread(background=True)

            def should_stop() -> bool:
                self.tasks.yield_to_foreground(task)
                return task.cancelled

            try:
                return engine.consolidate(
                    progress=lambda stage, done, total: task.progress((stage, done, total)),
                    should_stop=should_stop)
            finally:
                engine.close()

        def done(report: Any) -> None:
            self.consolidate_btn.setText("Consolidate now")
            self.outcome = (
                f"Consolidated: {report.episodes + report.chat_episodes} episode(s), "
                f"{report.digests} day digest(s), {report.added} new fact(s), "
                f"{report.updated} updated, {report.retired} retired"
                + (" (stopped). " if report.stopped else ". "))
            self.note.setText(self.outcome)
            self.refresh()

        def failed(exc: Exception) -> None:
            self.consolidate_btn.setText("Consolidate now")
            self.note.setText(f"Could not consolidate: {exc}")

        running = getattr(self, "_consolidating", None)
        if running is not None and not running.finished.is_set():
            running.cancel()
            return running
        self.consolidate_btn.setText("Stop consolidating")
        started: dict[str, float] = {}  # when each stage began
        self._consolidating = self.tasks.run(
            "consolidate", work, on_done=done, on_error=failed, owner=self, lane="background",
            on_progress=lambda step: self.note.setText(progress_text(step, started)))
        return self._consolidating

    def _open_activity(self, item: QListWidgetItem) -> None:
        payload = item.data(Qt.ItemDataRole.UserRole + 1)
        if payload:
            self.frameChosen.emit(int(payload[0]), float(payload[1]))

    def selected_ids(self) -> list[str]:
        widget = self.tabs.currentWidget()
        assert isinstance(widget, QListWidget)
        ids: list[str] = []
        for item in widget.selectedItems():
            ids.extend(item.data(Qt.ItemDataRole.UserRole) or [])
        return ids

    def forget_selected(self, *, confirm: bool = True) -> Task | None:
        ids = self.selected_ids()
        if not ids:
            self.note.setText("Select what to forget first.")
            return None
        if confirm:
            answer = QMessageBox.question(
                self, "Forget", f"Delete {plural(len(ids), 'memory')} for good: images, text, "
                "search index and anything learned from them? This cannot be undone.")
            if answer != QMessageBox.StandardButton.Yes:
                return None

        def done(result: Any) -> None:
            _plan, report = result
            self.note.setText("Forgotten." if report is None else
                              f"Forgotten: {plural(sum(report.counts.values()), 'memory')}.")
            self.forgotten.emit(report)
            self.refresh()

        return self.tasks.run(
            "forget", lambda _t: self.engine_fn().forget(Scope(ids=tuple(ids))),
            on_done=done, on_error=lambda e: self.note.setText(f"Could not forget: {e}"),
            owner=self)


def progress_text(step: tuple[str, int, int], started: dict[str, float],
                  now: float | None = None) -> str:
    """"Consolidating: episodes 17/147, about 12 min left…" from a stage's progress."""
    import time

    stage, done, total = step
    now = time.time() if now is None else now
    first = started.setdefault(stage, now)
    text = f"Consolidating: {stage} {done}/{total}"
    if 0 < done < total and now - first > 2:
        left = (now - first) / done * (total - done)
        text += (f", about {left / 60:.0f} min left" if left >= 90
                 else f", about {max(left, 1):.0f} s left")
    return text + (" (it waits while you ask a question)…" if done < total else "…")
