"""The chat pane: ask about your past, watch the answer stream, follow its citations.

A question runs :meth:`memlane.services.assistant.Assistant.ask` on the engine lane; tokens arrive
as task progress and are shown as they come. When the answer is done, each cited memory becomes a
chip under it (``[1] Fri 21 Nov 13:06 · firefox``, or the conversation's title for a message),
numbered in the order the answer cites them, and every ``[n]`` in the text is a link: both say
:attr:`ChatPane.citationChosen` with the record id, which the main window opens on the timeline or
as a conversation. The stop button cancels the answer at the next token (the model process cancels
and drains). Turns are stored by the assistant in a conversation per day, with their citations, and
shown again when the app is reopened the same day.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from memlane.core.errors import ModelError
from memlane.memory import timeline as tl
from memlane.memory.records import ASSISTANT_SOURCE
from memlane.ui.tasks import Cancelled, Task, Tasks
from memlane.ui.theme import colours

EMPTY = ("<p style='color:{muted}'>Ask about your past, for example: “What was the cheapest "
         "flight I looked at yesterday?” or “What did I do on Monday?”</p>"
         "<p style='color:{muted}'>Answers come from the model on this computer and cite the "
         "memories they use: click a [1] to see the moment.</p>")
log = logging.getLogger(__name__)
CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass
class Turn:
    question: str
    answer: str = ""
    state: str = "streaming"  # streaming | done | stopped | error | abstained
    citations: list[tuple[int, str, str]] = field(default_factory=list)  # (n, record id, label)
    note: str = ""


def conversation_key(now: datetime | None = None) -> str:
    return f"chat-{(now or datetime.now()):%Y-%m-%d}"


def chip_label(kind: str, t: float, app: str, title: str = "") -> str:
    """A citation chip: when, and where: the conversation for a message, the app (else the
    window title) for a screen."""
    when = datetime.fromtimestamp(t)
    if kind == "message":
        where = "chat with Memlane" if app == ASSISTANT_SOURCE else (title or app or "chat")
    elif kind == "frame":
        where = app or title or "screen"
    else:
        where = title or app or kind
    if len(where) > 40:
        where = where[:39] + "…"
    return f"{when:%a %d %b %H:%M} · {where}"


def renumber(text: str, citations: list[tuple[int, str, str]]) -> tuple[
        str, list[tuple[int, str, str]]]:
    """Number the cited memories 1, 2, ... in the order the answer first cites them (the model
    numbers its evidence, so a lone citation can read [2]); the text follows."""
    order: list[int] = []
    for m in CITE.finditer(text):
        for raw in m[1].split(","):
            n = int(raw)
            if n not in order and any(c[0] == n for c in citations):
                order.append(n)
    for n, _, _ in citations:
        if n not in order:
            order.append(n)
    new = {old: i for i, old in enumerate(order, 1)}

    def sub(m: re.Match[str]) -> str:
        nums = [new.get(int(raw), int(raw)) for raw in m[1].split(",")]
        return "[" + ", ".join(str(n) for n in nums) + "]"

    ordered = sorted(citations, key=lambda c: new[c[0]])
    return CITE.sub(sub, text), [(new[n], rid, label) for n, rid, label in ordered]


class ChatPane(QWidget):
    citationChosen = Signal(str)
    answered = Signal(object)  # the Answer

    def __init__(self, tasks: Tasks, assistant_fn: Callable[[str], Any], store_fn: Any,
                 parent: QWidget | None = None,
                 warm_fn: Callable[[], float] | None = None) -> None:
        super().__init__(parent)
        self.warm_fn = warm_fn or (lambda: 0.0)  # loads the model ahead of the first question
        # Measure the machine once to pick the model ("auto"), then switch to the pick.
        # measure_fn(progress, cancelled): the machine's model choice, or None
        self.measure_fn: Callable[[Callable[[str], None], Callable[[], bool]], Any] | None = None
        self.switch_fn: Callable[[], float] | None = None
        self.measuring: Task | None = None
        self.tasks = tasks
        self.assistant_fn = assistant_fn  # conversation key -> Assistant (engine lane)
        self.store_fn = store_fn
        self.turns: list[Turn] = []
        self.task: Task | None = None
        self.conversation = conversation_key()

        self.transcript = QTextBrowser(self)
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._link)
        self.input = QLineEdit(self)
        self.input.setPlaceholderText("Ask Memlane…")
        self.send = QPushButton("Ask")
        self.stop = QPushButton("Stop")
        self.stop.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send)
        row.addWidget(self.stop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Ask your memory</b> — answered on this computer")
        title.setWordWrap(True)  # a narrow pane wraps it rather than cutting it
        layout.addWidget(title)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)

        self.input.returnPressed.connect(self.ask)
        self.send.clicked.connect(self.ask)
        self.stop.clicked.connect(self.cancel)
        self.redraw()  # the empty state

    # -- history ---------------------------------------------------------------------------------

    def load_history(self) -> Task:
        """Show today's earlier turns (stored by the assistant) with their citations."""
        key = self.conversation

        def load(_t: Task) -> list[Turn]:
            store = self.store_fn()
            conv = tl.conversation_id(store, ASSISTANT_SOURCE, key)
            if conv is None:
                return []
            turns: list[Turn] = []
            for msg in tl.messages_of(store, conv):
                if msg.role == "user":
                    turns.append(Turn(msg.text, state="done"))
                elif turns:
                    turns[-1].answer = msg.text
                    cites = (msg.meta or {}).get("citations", [])
                    ids = [str(c.get("id")) for c in cites if isinstance(c, dict)]
                    labels = _labels(store, ids)
                    turns[-1].answer, turns[-1].citations = renumber(msg.text, [
                        (int(c["n"]), str(c["id"]), labels.get(str(c["id"]), "deleted memory"))
                        for c in cites if isinstance(c, dict) and "n" in c and "id" in c])
            return turns

        def show(turns: list[Turn]) -> None:
            self.turns = turns + [t for t in self.turns if t.state == "streaming"]
            self.redraw()

        return self.tasks.run("chat history", load, on_done=show, lane="browse", owner=self)

    # -- asking ----------------------------------------------------------------------------------

    def ask(self, question: str | None = None) -> Task | None:
        text = (question if question is not None else self.input.text()).strip()
        if not text or (self.task is not None and not self.task.finished.is_set()):
            return None
        self.input.clear()
        turn = Turn(text)
        history = [(t.question, t.answer) for t in self.turns[-2:] if t.state == "done"]
        self.turns.append(turn)
        self.redraw()
        self.send.setEnabled(False)
        self.stop.setEnabled(True)
        self.status.setText("Looking through your memories…")
        key = self.conversation

        def work(task: Task) -> Any:
            assistant = self.assistant_fn(key)
            return assistant.ask(text, on_token=task.progress, history=history,
                                 should_stop=lambda: task.cancelled)

        self.task = self.tasks.run(
            "answer", work, on_progress=lambda piece: self._token(turn, piece),
            on_done=lambda answer: self._done(turn, answer),
            on_error=lambda exc: self._failed(turn, exc), owner=self, foreground=True)
        return self.task

    def warm(self) -> Task:
        """Load the model in the background (the app opens, or the model process died), so the
        first question does not wait for it; a question asked meanwhile simply waits its turn."""
        loading = "Loading the local model in the background…"
        if not (self.task is not None and not self.task.finished.is_set()):
            self.status.setText(loading)

        def done(seconds: float) -> None:
            log.info("model loaded and warmed in %.1f s", seconds)
            if self.status.text() == loading:
                self.status.setText("")

        def failed(exc: Exception) -> None:
            log.warning("the model could not be loaded in the background: %s", exc)
            if self.status.text() == loading:
                self.status.setText(f"The local model could not be loaded: {exc}")

        self.warming = self.tasks.run("warm model", lambda _t: self.warm_fn(),
                                      on_done=done, on_error=failed, lane="background",
                                      owner=self)
        return self.warming

    def choose_model(self) -> Task | None:
        """Measure this machine once ("auto") in the background, say which model answers and
        why, and switch to it; questions meanwhile are answered by the model already loaded."""
        if self.measure_fn is None:
            return None
        measure = self.measure_fn

        def say(text: str) -> None:
            if not (self.task is not None and not self.task.finished.is_set()):
                self.status.setText(text)

        def done(choice: Any) -> None:
            if choice is None:
                return
            from memlane.models.registry import EMBEDDED

            label = EMBEDDED[choice.key].label
            log.info("model chosen for this machine: %s (%s)", label, choice.why)
            say(f"Answering with {label}: {choice.why}.")
            if choice.key != "small" and self.switch_fn is not None:
                switch = self.switch_fn
                self.tasks.run("switch model", lambda _t: switch(), lane="engine", owner=self,
                               on_error=lambda exc: say(f"The chosen model could not be "
                                                        f"loaded: {exc}"))

        self.measuring = self.tasks.run(
            "measure machine", lambda task: measure(task.progress, lambda: task.cancelled),
            on_progress=say,
            on_done=done, on_error=lambda exc: log.warning("measuring the machine: %s", exc),
            lane="background", owner=self)
        return self.measuring

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Stopping…")

    def _token(self, turn: Turn, piece: str) -> None:
        if turn.state == "streaming":
            if not turn.answer:
                self.status.setText("Writing a draft; it is checked against your memories "
                                    "before it counts…")
            turn.answer += piece
            self.redraw()

    def _done(self, turn: Turn, answer: Any) -> None:
        turn.state = ("stopped" if answer.stopped else "abstained" if answer.abstained
                      else "done")
        turn.answer, turn.citations = renumber(answer.text, [
            (e.n, e.hit.id, chip_label(e.hit.kind, e.hit.time, e.hit.app, e.hit.title))
            for e in answer.citations])
        took = answer.timings.get("total_ms", 0) / 1000
        turn.note = f"{answer.model} · {took:.1f} s" + (" · stopped" if answer.stopped else "")
        if answer.draft and (answer.abstained or answer.reason == "dated"):
            # the draft the person saw was not kept
            from memlane.services.assistant import REPLACED_BECAUSE

            turn.note += f" · the draft {REPLACED_BECAUSE.get(answer.reason, 'did not hold up')}"
        if answer.reason == "judgement" and not answer.abstained:
            from memlane.services.assistant import JUDGEMENT_NOTE

            turn.note += f" · {JUDGEMENT_NOTE}"
        self._idle("")
        self.redraw()
        self.answered.emit(answer)

    def _failed(self, turn: Turn, exc: Exception) -> None:
        if isinstance(exc, Cancelled):  # stopped before it began
            turn.state = "stopped"
            turn.note = "stopped"
            self._idle("")
            self.redraw()
            return
        turn.state = "error"
        turn.note = str(exc)
        self._idle(f"The answer failed: {exc}. You can ask again.")
        self.redraw()
        if isinstance(exc, ModelError):  # the model process died: load it again meanwhile
            self.warm()
            self.status.setText(f"The answer failed: {exc}. The model is loading again; you "
                                "can ask again.")

    def _idle(self, message: str) -> None:
        self.send.setEnabled(True)
        self.stop.setEnabled(False)
        self.status.setText(message)

    # -- drawing ---------------------------------------------------------------------------------

    def redraw(self) -> None:
        look = colours()
        if not self.turns:  # the empty state, wrapped to the pane (a placeholder is not)
            self.transcript.setHtml(EMPTY.format(muted=look.muted))
            return
        parts = []
        for i, turn in enumerate(self.turns):
            parts.append(f"<p style='margin-top:10px'><b>You:</b> {html.escape(turn.question)}</p>")
            body = html.escape(turn.answer) or "<i>…</i>"
            cited = {n for n, _, _ in turn.citations}
            body = CITE.sub(partial(_cite_links, turn=i, cited=cited), body)
            colour = look.error if turn.state == "error" else look.text
            if turn.state == "error":
                body = f"<i>Could not answer: {html.escape(turn.note)}</i>"
            elif turn.state == "streaming" and turn.answer:
                # A draft: it may yet be replaced by the checks, and it looks like it.
                colour = look.muted
                body = f"<i>{body}</i> <small>(draft, being checked)</small>"
            parts.append(f"<p style='color:{colour}'><b>Memlane:</b> {body}</p>")
            if turn.citations:
                chips = " ".join(
                    f"<a href='cite:{i}:{n}' style='text-decoration:none'>"
                    f"<span style='background:{look.chip_bg};color:{look.chip_fg}'>&nbsp;[{n}] "
                    f"{html.escape(label)}&nbsp;</span></a>"
                    for n, _, label in turn.citations)
                parts.append(f"<p>{chips}</p>")
            if turn.note and turn.state != "error":
                parts.append(f"<p style='color:{look.muted};font-size:small'>"
                             f"{html.escape(turn.note)}</p>")
        self.transcript.setHtml("".join(parts))
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _link(self, url: QUrl) -> None:
        text = url.toString()
        if not text.startswith("cite:"):
            return
        _, turn_no, n = text.split(":")
        turn = self.turns[int(turn_no)]
        for num, record, _ in turn.citations:
            if num == int(n):
                self.citationChosen.emit(record)
                return


def _cite_links(match: re.Match[str], *, turn: int, cited: set[int]) -> str:
    """``[1, 2]`` with the cited numbers as links (``cite:TURN:N``)."""
    out = []
    for raw in match[1].split(","):
        n = int(raw)
        out.append(f"<a href='cite:{turn}:{n}'>{n}</a>" if n in cited else str(n))
    return "[" + ", ".join(out) + "]"


def _labels(store: Any, ids: list[str]) -> dict[str, str]:
    """Chip labels for stored citations; deleted memories get none."""
    from memlane.memory.records import parse_record_id

    keys = []
    for rid in ids:
        try:
            keys.append(parse_record_id(rid))
        except ValueError:
            continue
    hits = store.hits(keys) if keys else {}
    return {hit.id: chip_label(hit.kind, hit.time, hit.app, hit.title)
            for hit in hits.values()}
