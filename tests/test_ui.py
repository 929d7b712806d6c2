"""The desktop app, offscreen, against real databases built by the real pipeline (the demo memory).

GUI parts are driven the way a person would (typing a search, choosing a result, asking, clicking
a citation, pressing keys) and checked against the store. The chat streams from a hand-written
fake model here and once from the real default model.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt, QTimer, QUrl
from PySide6.QtGui import QKeyEvent
from pytestqt.qtbot import QtBot

from conftest import ModelStore
from fakes import FakeModel
from memlane.core.paths import Paths
from memlane.core.settings import load_settings
from memlane.memory import timeline as tl
from memlane.memory.records import iso
from memlane.models.embedder import OnnxEmbedder
from memlane.services.capture_status import capture_status
from memlane.services.demo import build_demo
from memlane.services.engine import Engine
from memlane.ui.app import FIRST_RUN_KEY
from memlane.ui.mainwindow import MainWindow, Services
from memlane.ui.tasks import Cancelled, Task, Tasks

YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "home")


@pytest.fixture
def demo(tmp_path: Path, demo_source: Path, model_store: ModelStore) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo_source, home)
    model_store.seed(Paths(home).models, "small")
    return home


class App:
    """A main window on a home folder, with the tasks helper and its services."""

    def __init__(self, qtbot: QtBot, home: Path, embedder: OnnxEmbedder,
                 model: object | None = None) -> None:
        self.qtbot = qtbot
        self.engine = Engine(Paths(home), embedder=embedder)
        self.model = model
        assistant_fn = (None if model is None else
                        lambda key: self.engine.assistant(key, model=model))  # type: ignore[arg-type]
        self.services = Services(home, self.engine, assistant_fn)
        self.tasks = Tasks()
        self.window = MainWindow(self.services, self.tasks)
        self.window.show()

    def close(self) -> None:
        self.tasks.cancel_all()
        idle(self.qtbot, self.tasks)
        self.window.status.timer.stop()
        self.window.close()
        self.window.deleteLater()
        self.qtbot.wait(10)
        self.services.close()


@pytest.fixture
def make_app(qtbot: QtBot, embedder: OnnxEmbedder) -> Iterator[object]:
    apps: list[App] = []

    def make(home: Path, model: object | None = None) -> App:
        app = App(qtbot, home, embedder, model)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def idle(qtbot: QtBot, tasks: Tasks, timeout: float = 30.0) -> None:
    """Until every task started through ``tasks`` has delivered its result (or error)."""
    qtbot.waitUntil(lambda: tasks.busy() == 0, timeout=int(timeout * 1000))
    qtbot.wait(20)


def key(widget: object, k: Qt.Key) -> None:
    press = QKeyEvent(QEvent.Type.KeyPress, k, Qt.KeyboardModifier.NoModifier)
    widget.keyPressEvent(press)  # type: ignore[attr-defined]


# -- timeline ------------------------------------------------------------------------------------


def test_timeline_model_shows_a_day_of_the_real_database(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the demo memory's yesterday: 10 frames in 8 runs (same app+title, no long gap)
    app = make_app(demo)
    panel = app.window.timeline
    panel.show_day(YESTERDAY)
    idle(qtbot, app.tasks)
    store = app.services.browse_store()
    start, end = tl.day_bounds(YESTERDAY)
    expected = tl.frames_between(store, start, end)
    # THEN the model holds exactly the store's frames of that day, in time order, grouped
    assert [f.id for f in panel.model.frames] == [f.id for f in expected]
    assert len(expected) == 10
    assert len(panel.model.runs) == 8
    assert [len(r.frames) for r in panel.model.runs] == [1, 1, 2, 1, 2, 1, 1, 1]
    assert sum(panel.strip.counts) == 10 and panel.strip.counts[13] == 3
    # screens and the day's chat sit together: the chat is named and opens its conversation
    assert panel.summary.text() == "10 frames in 8 activities · 1 conversation (5 messages)"
    assert panel.chats.isVisibleTo(panel) and "Chat with Ana" in panel.chats.text()
    # thumbnails decode in the background and arrive as pixmaps
    first = panel.model.index(0)
    panel.model.data(first, Qt.ItemDataRole.DecorationRole)
    idle(qtbot, app.tasks)
    assert panel.model.data(first, Qt.ItemDataRole.DecorationRole) is not None
    # the last frame is selected and shown in the viewer
    assert panel.view.currentIndex().row() == 9
    idle(qtbot, app.tasks)
    assert app.window.viewer.detail is not None
    assert app.window.viewer.detail.row.id == expected[-1].id


def test_a_day_with_only_chats_is_on_the_timeline_and_the_calendar(qtbot: QtBot, demo: Path, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    chat = tmp_path / "old.jsonl"
    chat.write_text('{"time": "2023-05-07T10:00:00", "speaker": "Caroline", "text": "I went to '
                    'the LGBTQ support group.", "conversation": "Caroline and Mel"}\n'
                    '{"time": "2023-05-07T10:02:00", "speaker": "Mel", "text": "How was it?",'
                    ' "conversation": "Caroline and Mel"}\n')
    app = make_app(demo)
    app.engine.import_chat(chat)
    panel = app.window.timeline
    panel.show_day(YESTERDAY)
    idle(qtbot, app.tasks)
    assert app.window.viewer.detail is not None  # a frame of yesterday is shown
    # earlier day from the first screen day goes to the chat's day
    first_screen_day = date.fromtimestamp(app.services.browse_store().sql(
        "SELECT min(time) FROM frames")[0][0])
    panel.show_day(first_screen_day)
    idle(qtbot, app.tasks)
    panel.prev_btn.click()
    idle(qtbot, app.tasks)
    assert panel.model.day == date(2023, 5, 7)
    assert panel.summary.text() == ("No screens recorded this day · 1 conversation "
                                    "(2 messages)")
    assert "Caroline and Mel" in panel.chats.text()
    # the viewer no longer shows a frame from another day
    assert app.window.viewer.detail is None
    assert app.window.viewer.header.text() == "No screens recorded on Sunday 7 May 2023"
    # the calendar marks the day, and its link opens the conversation
    assert panel.marked[date(2023, 5, 7)] == {"frames": 0, "messages": 2}
    link = panel.chats.text().split("href='")[1].split("'")[0]
    panel.conversationChosen.emit(link)
    idle(qtbot, app.tasks)
    assert "LGBTQ support group" in app.window.conversation_dialog.view.toPlainText()


def test_the_timeline_of_today_follows_the_recorder(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.memory.records import FrameIn

    app = make_app(demo)
    panel = app.window.timeline
    panel.show_day(date.today())
    idle(qtbot, app.tasks)
    before = len(panel.model.frames)
    now = time.time()
    store = app.services.browse_store()
    new_id = store.add_frame(FrameIn(now, "xterm", "recording test", "", "", 1, 1, 0, "", None))
    app.window.status.updated.emit({"last_stored_frame": iso(now)})  # the status poll's news
    idle(qtbot, app.tasks)
    assert len(panel.model.frames) == before + 1
    assert panel.current_frame() is not None and panel.current_frame().id == new_id
    # someone looking at an earlier frame keeps it, and the viewer keeps what it shows
    panel.view.select_row(0)
    idle(qtbot, app.tasks)
    kept = panel.current_frame().id
    shown = app.window.viewer.detail
    assert shown is not None and shown.row.id == kept
    store.add_frame(FrameIn(now + 5, "xterm", "recording test", "", "", 1, 1, 0, "", None))
    app.window.status.updated.emit({"last_stored_frame": iso(now + 5)})
    idle(qtbot, app.tasks)
    assert len(panel.model.frames) == before + 2 and panel.current_frame().id == kept
    assert app.window.viewer.detail is shown  # not loaded again (zoom, selection kept)
    # a frame someone opens wins over a new frame arriving meanwhile
    store.add_frame(FrameIn(now + 10, "xterm", "recording test", "", "", 1, 1, 0, "", None))
    panel.show_frame(kept, now)
    app.window.status.updated.emit({"last_stored_frame": iso(now + 10)})
    idle(qtbot, app.tasks)
    assert panel.current_frame().id == kept


def test_keyboard_moves_by_frame_activity_and_day_edge(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    panel = app.window.timeline
    panel.show_day(YESTERDAY)
    idle(qtbot, app.tasks)
    view = panel.view
    key(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0
    key(view, Qt.Key.Key_PageDown)  # next activity
    key(view, Qt.Key.Key_PageDown)
    assert view.currentIndex().row() == 2  # the code editor run starts at frame 2
    key(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == 3
    key(view, Qt.Key.Key_PageUp)  # back to the start of this run
    assert view.currentIndex().row() == 2
    key(view, Qt.Key.Key_PageUp)  # then the previous run
    assert view.currentIndex().row() == 1
    key(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == 9
    idle(qtbot, app.tasks)
    assert app.window.viewer.detail.row.id == panel.model.frames[9].id
    # zoom: small thumbnails make the whole day fit
    wide = view.fitted_width()
    panel.zoom.setValue(40)
    assert view.fitted_width() < wide / 3  # (placed by time then, see the test below)
    # previous/next day with memories
    panel.step_day(1)
    idle(qtbot, app.tasks)
    assert panel.model.day == date.today()
    panel.step_day(1)
    idle(qtbot, app.tasks)
    assert panel.summary.text() == "No later memories"


# -- search -> timeline -> viewer ----------------------------------------------------------------


def test_search_result_jumps_the_timeline_and_highlights_words(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    window = app.window
    window.start()
    idle(qtbot, app.tasks)
    window.search.query.setText("Ryanair")
    window.search.query.returnPressed.emit()
    idle(qtbot, app.tasks)
    frames = [h for h in window.search.hits if h.kind == "frame" and "Ryanair" in h.snippet]
    assert frames, window.search.info.text()
    target = min(frames, key=lambda h: h.time)  # yesterday's flight search
    row = next(i for i, h in enumerate(window.search.hits) if h is target)
    window.search.results.setCurrentRow(row)
    window.search.results.itemClicked.emit(window.search.results.item(row))
    idle(qtbot, app.tasks)
    panel = window.timeline
    assert panel.model.day == date.fromtimestamp(target.time)
    assert panel.current_frame() is not None
    assert panel.current_frame().id == target.source["frame_id"]
    assert window.viewer.detail.row.id == target.source["frame_id"]
    assert any(w.lower() == "ryanair" for w in window.viewer.highlighted())
    assert "Ryanair" in window.viewer.text.toPlainText()
    assert window.viewer.text.extraSelections()  # highlighted in the copyable text too


def test_a_search_for_a_word_highlights_its_other_forms(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    window = app.window
    window.search.run("flight")  # the frames say "Flights to Lisbon"
    idle(qtbot, app.tasks)
    target = next(h for h in window.search.hits if h.kind == "frame" and "Flights" in h.snippet)
    window.open_hit(target)
    idle(qtbot, app.tasks)
    assert window.viewer.detail is not None and window.viewer.detail.row.id == int(
        target.id.split(":")[1])
    assert "Flights" in window.viewer.highlighted()
    assert window.viewer.text.extraSelections()


def test_search_filters_by_kind_and_app(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    search = app.window.search
    search.load_apps()
    idle(qtbot, app.tasks)
    assert search.app.findData("firefox") > 0 and search.app.findData("demo") > 0
    search.kind.setCurrentIndex(search.kind.findData("message"))
    search.run("Lisbon")
    idle(qtbot, app.tasks)
    assert search.hits and {h.kind for h in search.hits} == {"message"}
    search.kind.setCurrentIndex(0)
    search.app.setCurrentIndex(search.app.findData("code"))
    search.run("scores")
    idle(qtbot, app.tasks)
    assert search.hits and {h.app for h in search.hits} == {"code"}
    search.range.setCurrentText("Today")
    search.app.setCurrentIndex(0)
    search.run("Lisbon")
    idle(qtbot, app.tasks)
    assert search.hits and all(date.fromtimestamp(h.time) == date.today() for h in search.hits)


# -- chat ----------------------------------------------------------------------------------------


def test_chat_streams_and_a_citation_opens_the_frame(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a fake model that cites the first evidence line
    model = FakeModel("The cheapest was Ryanair at EUR 89 [1].")
    app = make_app(demo, model)
    chat = app.window.chat
    pieces: list[str] = []
    task = chat.ask("cheapest flight to Lisbon yesterday?")
    task._relay.progress.connect(pieces.append)
    idle(qtbot, app.tasks)
    # THEN it streamed in pieces, finished, and cites a frame
    turn = chat.turns[-1]
    assert turn.state == "done", turn.note
    assert len(pieces) > 3
    assert "Ryanair" in turn.answer and "[1]" in turn.answer
    assert turn.citations and turn.citations[0][0] == 1
    record = turn.citations[0][1]
    assert "cite:0:1" in chat.transcript.toHtml()
    # WHEN the citation is clicked, the timeline opens that frame
    chat._link(QUrl("cite:0:1"))
    idle(qtbot, app.tasks)
    kind, rowid = record.split(":")
    if kind == "frame":
        assert app.window.timeline.current_frame().id == int(rowid)
        assert app.window.viewer.detail.row.id == int(rowid)
    else:
        assert app.window.conversation_dialog.isVisible()
    # AND the conversation persists: a fresh pane shows the turn with its citation
    from memlane.ui.chat import ChatPane

    again = ChatPane(app.tasks, app.services.assistant, app.services.browse_store)
    again.load_history()
    idle(qtbot, app.tasks)
    assert again.turns and again.turns[-1].question == "cheapest flight to Lisbon yesterday?"
    assert again.turns[-1].citations[0][1] == record
    again.deleteLater()


def test_a_cited_message_opens_its_conversation(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    store = app.services.browse_store()
    (msg_id,) = store.sql("SELECT id FROM messages WHERE text LIKE '%rain jacket%'")[0]
    app.window.open_record(f"message:{msg_id}")
    idle(qtbot, app.tasks)
    dialog = app.window.conversation_dialog
    assert dialog.windowTitle() == "Chat with Ana"
    assert "rain jacket" in dialog.view.toPlainText()


def test_stop_button_stops_the_answer(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    model = FakeModel("Ryanair " * 200, delay=0.02)
    app = make_app(demo, model)
    chat = app.window.chat
    chat.ask("which flights did I look at?")
    qtbot.waitUntil(lambda: bool(chat.turns[-1].answer))
    assert chat.stop.isEnabled()
    chat.stop.click()
    idle(qtbot, app.tasks)
    turn = chat.turns[-1]
    assert turn.state == "stopped" and "stopped" in turn.note
    assert len(turn.answer) < len("Ryanair " * 200)
    assert model.closed  # the stream was closed (the real model process cancels and drains)
    assert chat.send.isEnabled() and not chat.stop.isEnabled()


def test_a_draft_looks_unconfirmed_until_the_checks_pass(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a model whose draft only restates the question, slowly
    model = FakeModel("You looked at flights to Lisbon yesterday.", delay=0.05)
    app = make_app(demo, model)
    chat = app.window.chat
    chat.ask("Which flights to Lisbon did I look at yesterday?")
    # WHILE it streams, the draft is marked as being checked
    qtbot.waitUntil(lambda: bool(chat.turns[-1].answer))
    assert "draft, being checked" in chat.transcript.toPlainText()
    assert "checked against your memories" in chat.status.text()
    idle(qtbot, app.tasks)
    # THEN the checks replaced it, and the pane says so instead of leaving the draft
    turn = chat.turns[-1]
    assert turn.state == "abstained" and "being checked" not in chat.transcript.toPlainText()
    assert "the draft used words found in no memory" in turn.note


def test_stop_on_a_question_still_waiting_in_its_lane_stops_it(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    model = FakeModel("Ryanair, EUR 89 [1].")
    app = make_app(demo, model)
    release = threading.Event()
    app.tasks.run("long engine work", lambda _t: release.wait(30))  # holds the engine lane
    chat = app.window.chat
    chat.ask("which flights did I look at?")
    chat.stop.click()
    release.set()
    idle(qtbot, app.tasks)
    turn = chat.turns[-1]
    assert turn.state == "stopped" and not model.requests  # it never reached the model
    assert chat.send.isEnabled() and not chat.stop.isEnabled()


def test_background_work_waits_while_an_answer_is_written(qtbot: QtBot) -> None:
    tasks = Tasks()
    steps: list[str] = []
    answering = threading.Event()

    def background(task: Task) -> None:
        for _ in range(30):
            tasks.yield_to_foreground(task)
            steps.append("answering" if answering.is_set() else "free")
            time.sleep(0.01)

    def answer(_task: Task) -> None:
        answering.set()
        time.sleep(0.3)
        answering.clear()

    bg = tasks.run("consolidate", background, lane="background")
    qtbot.waitUntil(lambda: len(steps) >= 3)
    fg = tasks.run("answer", answer, foreground=True)
    qtbot.waitUntil(lambda: bg.finished.is_set() and fg.finished.is_set(), timeout=10000)
    idle(qtbot, tasks)
    # at most the one step already past its wait when the answer began; 0.3 s of answering
    # would otherwise hold about 20 steps
    assert steps.count("answering") <= 1 and len(steps) == 30


@pytest.mark.model
def test_a_question_is_answered_while_consolidation_runs_and_stop_stops_it(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo, FakeModel("In December, from the 12th [1]."))
    app.engine.settings.memory.model_min_seconds = 0  # every episode asks the real model
    knows = app.window.knows
    running = knows.consolidate()
    qtbot.waitUntil(lambda: knows.note.text().startswith("Consolidating"), timeout=120000)
    chat = app.window.chat
    t0 = time.monotonic()
    chat.ask("When will Ana be in Lisbon?")
    # the turn is marked done on the event loop, just after the answering task has finished
    qtbot.waitUntil(lambda: chat.task is not None and chat.task.finished.is_set()
                    and chat.turns[-1].state != "streaming", timeout=30000)
    took = time.monotonic() - t0
    assert chat.turns[-1].state == "done" and took < 10, (chat.turns[-1].state, took)
    assert not running.finished.is_set()  # consolidation was still at work meanwhile
    knows.consolidate()  # the button now reads "Stop consolidating"
    qtbot.waitUntil(lambda: running.finished.is_set(), timeout=60000)
    idle(qtbot, app.tasks)
    assert "(stopped)" in knows.note.text() and knows.consolidate_btn.text() == "Consolidate now"


def test_a_failing_model_is_reported_and_the_next_question_works(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    class Broken(FakeModel):
        def stream(self, *a: object, **k: object) -> Iterator[str]:  # type: ignore[override]
            from memlane.core.errors import ModelError

            raise ModelError("the model process stopped while answering (killed by SIGKILL)")

    app = make_app(demo, Broken())
    chat = app.window.chat
    chat.ask("cheapest flight?")
    idle(qtbot, app.tasks)
    assert chat.turns[-1].state == "error"
    assert "killed by SIGKILL" in chat.status.text()
    app.model.stream = FakeModel("Ryanair, EUR 89 [1].").stream  # the next one works
    chat.ask("cheapest flight?")
    idle(qtbot, app.tasks)
    assert chat.turns[-1].state == "done"


@pytest.mark.model
def test_chat_streams_from_the_real_default_model(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.models.registry import resolve_model
    from memlane.models.runtime import ModelProcess

    info = resolve_model("default", Paths(demo).models)
    with ModelProcess(info.path, info.name, context_size=2048) as model:
        app = make_app(demo, model)
        chat = app.window.chat
        pieces: list[str] = []
        task = chat.ask("What was the price of the Ryanair flight to Lisbon?")
        task._relay.progress.connect(pieces.append)
        qtbot.waitUntil(task.finished.is_set, timeout=240_000)
        idle(qtbot, app.tasks)
        turn = chat.turns[-1]
        assert turn.state in ("done", "abstained"), turn.note
        assert pieces, "nothing streamed"
        assert "qwen" in turn.note.lower()
        if turn.state == "done":
            assert "89" in turn.answer


# -- responsiveness, status, settings, forgetting ------------------------------------------------


def test_the_event_loop_keeps_turning_during_a_long_engine_operation(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    started = threading.Event()

    def long_reindex(_t: object) -> int:
        started.set()
        time.sleep(1.0)  # plus a real rebuild of every vector
        return app.engine.reindex()

    rebuilt: list[int] = []
    app.tasks.run("reindex", long_reindex, on_done=rebuilt.append)
    qtbot.waitUntil(started.is_set)
    t0 = time.monotonic()
    # while the engine lane is busy, the browse lane still loads a day
    app.window.timeline.show_day(YESTERDAY)
    qtbot.waitUntil(lambda: bool(app.window.timeline.model.frames), timeout=5000)
    assert time.monotonic() - t0 < 1.0
    idle(qtbot, app.tasks, timeout=60)
    timer.stop()
    assert rebuilt and rebuilt[0] > 0
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    # a blocked loop shows as a gap of seconds; a shared, busy CI machine adds tenths
    assert len(ticks) > 30 and max(gaps) < 1.0, max(gaps)


def test_errors_in_tasks_arrive_on_the_main_thread(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    seen: list[tuple[str, bool]] = []

    def boom(_t: object) -> None:
        raise ValueError("bad input")

    app.tasks.run("boom", boom, on_error=lambda e: seen.append(
        (str(e), threading.current_thread() is threading.main_thread())))
    task = app.tasks.run("cancelled", lambda t: (time.sleep(0.2), t.check()),
                         on_error=lambda e: seen.append((type(e).__name__, True)))
    task.cancel()
    idle(qtbot, app.tasks)
    assert ("bad input", True) in seen
    assert (Cancelled.__name__, True) in seen


def test_status_says_what_the_recorder_does_and_pause_is_one_click(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    status = app.window.status
    status.refresh()
    idle(qtbot, app.tasks)
    assert status.info["state"] == "stopped"
    # the demo's frames are imports, not captures: no captured frame yet, and it says so
    assert "Stopped" in status.label.text() and "nothing recorded yet" in status.label.text()
    status.toggle.click()
    idle(qtbot, app.tasks)
    assert status.info["state"] == "paused" and status.toggle.text() == "Resume"
    store = app.services.browse_store()
    assert capture_status(store, app.engine.settings, app.services.paths)["state"] == "paused"
    status.toggle.click()
    idle(qtbot, app.tasks)
    assert status.info["state"] == "stopped" and status.toggle.text() == "Pause"


def test_pause_for_a_while_from_the_status_bar_and_the_tray(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.services.recorder import paused_until
    from memlane.ui.status import minutes_to_midnight

    app = make_app(demo)
    status = app.window.status
    status.refresh()
    idle(qtbot, app.tasks)
    labels = [a.text() for a in status.toggle.menu().actions()]
    assert labels == ["For 15 minutes", "For 1 hour", "Until tomorrow", "Until I resume"]
    t0 = time.time()
    status.toggle.menu().actions()[1].trigger()  # for 1 hour
    idle(qtbot, app.tasks)
    store = app.services.browse_store()
    until = paused_until(store)
    assert isinstance(until, float) and 3590 < until - t0 < 3610
    assert status.info["state"] == "paused" and status.toggle.text() == "Resume"
    assert status.toggle.menu() is None  # while paused, the button only resumes
    status.toggle.click()
    idle(qtbot, app.tasks)
    assert paused_until(store) is False
    # the tray offers the same, until tomorrow: local midnight
    from memlane.ui.tray import Tray

    tray = Tray(app.window, app.services, app.tasks)
    choice = next(a for a in tray.pause_for.actions() if a.text() == "Until tomorrow")
    choice.trigger()
    idle(qtbot, app.tasks)
    until = paused_until(store)
    assert isinstance(until, float)
    assert abs(until - (time.time() + minutes_to_midnight() * 60)) < 30
    assert tray.pause_action.text() == "Resume recording" and not tray.pause_for.menuAction().isVisible()


def test_status_reports_a_resume_at_once(demo: Path) -> None:
    import fcntl

    from memlane.core.settings import Settings
    from memlane.memory.store import Store
    from memlane.services import recorder as cap

    store = Store(demo / "memlane.db")
    paths = Paths(demo)
    lock = open(paths.recorder_lock, "w")  # noqa: SIM115 - a live recorder holds its lock
    lock.write(str(os.getpid()))
    lock.flush()
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        now = time.time()
        cap.pause(store, None)
        store.set_state(cap.TICK_KEY, json.dumps({"time": now - 1, "state": "paused",
                                                  "reason": "until resumed", "interval": 5}))
        assert capture_status(store, Settings(), paths, now)["state"] == "paused"
        cap.resume(store)  # the last tick still says paused; the status does not
        info = capture_status(store, Settings(), paths, now)
        assert info["recorder_running"]
        assert info["state"] == "recording" and info["reason"] == "resumed"
    finally:
        lock.close()
        store.close()


def test_settings_window_saves_the_documented_file(qtbot: QtBot, demo: Path, make_app, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    app = make_app(demo)
    dialog = app.window.open_settings()
    assert not dialog.autostart.isChecked()
    dialog.interval.setValue(12.0)
    dialog.titles.setPlainText(dialog.titles.toPlainText() + "\nBank of .*")
    dialog.redact.setChecked(False)
    dialog.frames_days.setValue(90)
    dialog.autostart.setChecked(True)
    dialog.accept()
    idle(qtbot, app.tasks)
    path = app.services.paths.settings
    saved = load_settings(path)
    assert saved.capture.interval_seconds == 12.0
    assert saved.privacy.exclude_titles[-1] == "Bank of .*"
    assert saved.privacy.redact is False
    assert saved.retention.frames_days == 90 and saved.retention.keep_text
    autostart = tmp_path / "config" / "autostart" / "memlane.desktop"
    assert "gui --hidden" in autostart.read_text()
    dialog = app.window.open_settings()  # the box shows what is on disk; unticking removes it
    assert dialog.autostart.isChecked()
    dialog.autostart.setChecked(False)
    dialog.accept()
    idle(qtbot, app.tasks)
    assert not autostart.exists()
    assert "# Seconds between screen captures." in path.read_text()
    assert app.engine.settings.capture.interval_seconds == 12.0  # applied without a restart


def test_forgetting_an_activity_removes_it_everywhere(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    knows = app.window.knows
    knows.refresh()
    idle(qtbot, app.tasks)
    knows.tabs.setCurrentWidget(knows.activities)
    row = next(i for i in range(knows.activities.count())
               if "budget-2026" in knows.activities.item(i).text())
    knows.activities.item(row).setSelected(True)
    ids = knows.selected_ids()
    assert len(ids) == 1
    before = app.services.browse_store().counts()["frames"]
    knows.forget_selected(confirm=False)
    idle(qtbot, app.tasks)
    store = app.services.browse_store()
    assert store.counts()["frames"] == before - 1
    assert not store.sql("SELECT 1 FROM ocr_blocks WHERE text LIKE '%Groceries%'")
    assert all("budget-2026" not in knows.activities.item(i).text()
               for i in range(knows.activities.count()))
    app.window.search.run("Groceries")
    idle(qtbot, app.tasks)
    assert all("Groceries" not in h.snippet for h in app.window.search.hits)



def test_consolidate_now_fills_what_memlane_knows(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    app.engine.settings.memory.use_model = False  # the extractive path; the model's is tested
    knows = app.window.knows
    knows.consolidate()
    assert knows.consolidate_btn.text() == "Stop consolidating"
    idle(qtbot, app.tasks)
    assert knows.note.text().startswith("Consolidated: "), knows.note.text()
    idle(qtbot, app.tasks)
    store = app.services.browse_store()
    episodes = store.sql("SELECT count(*) FROM episodes WHERE level = 'episode'")[0][0]
    assert episodes >= 2  # the demo's screens and its chat
    # the demo chat's first-person statements are facts now, listed in the panel
    assert knows.facts.count() == store.sql(
        "SELECT count(*) FROM facts WHERE status = 'current'")[0][0] > 0
    assert knows.consolidate_btn.text() == "Consolidate now"

# -- the program ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_memlane_gui_starts_and_quits(demo: Path) -> None:
    from memlane.memory.store import Store

    store = Store(demo / "memlane.db")
    store.set_state(FIRST_RUN_KEY, "1")
    store.close()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "memlane", "--home", str(demo), "gui", "--quit-after", "3"],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 60
    log = (demo / "logs" / "gui.log").read_text()
    assert "unexpected error" not in log


@pytest.mark.slow
def test_a_second_start_hands_its_memlane_link_to_the_open_app(demo: Path) -> None:
    from memlane.memory.store import Store

    store = Store(demo / "memlane.db")
    store.set_state(FIRST_RUN_KEY, "1")
    frame_id = store.sql("SELECT max(id) FROM frames")[0][0]
    store.close()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    base = [sys.executable, "-m", "memlane", "--home", str(demo), "gui"]
    first = subprocess.Popen([*base, "--no-record", "--quit-after", "40"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = demo / "logs" / "gui.log"
    try:
        deadline = time.monotonic() + 30
        while "startup:" not in (log.read_text() if log.exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.2)
        t0 = time.monotonic()
        second = subprocess.run([*base, f"memlane://frame/{frame_id}"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "already open" in second.stderr and time.monotonic() - t0 < 20
        while f"handed over by another start: frame:{frame_id}" not in log.read_text():
            assert time.monotonic() < deadline + 30, "the open app never took the link"
            time.sleep(0.2)
        bad = subprocess.run([*base, "memlane://frame/1;rm"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert bad.returncode == 2 and "not a memlane:// link" in bad.stderr
    finally:
        first.terminate()
        first.wait(30)
    assert "unexpected error" not in log.read_text()


def test_a_link_handed_to_the_open_app_shows_its_frame(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.services import handoff
    from memlane.ui.app import _watch_inbox

    app = make_app(demo)
    idle(qtbot, app.tasks)
    store = app.services.browse_store()
    frame_id = store.sql("SELECT min(id) FROM frames")[0][0]
    paths = Paths(demo)
    watcher = _watch_inbox(paths, app.window)
    app.window.hide()
    handoff.send(paths, f"memlane://frame/{frame_id}")
    qtbot.waitUntil(lambda: app.window.viewer.detail is not None
                    and app.window.viewer.detail.row.id == frame_id, timeout=10000)
    assert app.window.isVisible()  # shown again
    assert not list(paths.app_inbox.iterdir())
    del watcher


def test_an_invalid_setting_keeps_the_dialog_and_every_edit(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QDialogButtonBox

    app = make_app(demo)
    before = (demo / "settings.toml").read_text()
    dialog = app.window.open_settings()
    dialog.interval.setValue(7.0)
    dialog.monitors.setText("abc")
    save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    save.click()
    idle(qtbot, app.tasks)
    assert dialog.isVisible() and dialog.problem.isVisibleTo(dialog)
    assert "monitors" in dialog.problem.text()
    assert dialog.monitors.text() == "abc" and dialog.interval.value() == 7.0  # nothing lost
    assert (demo / "settings.toml").read_text() == before  # nothing half-saved
    dialog.titles.setPlainText("Private Browsing\n(unclosed")
    dialog.monitors.setText("all")
    save.click()
    assert dialog.isVisible() and "unclosed" in dialog.problem.text()
    dialog.titles.setPlainText("Private Browsing")
    save.click()
    idle(qtbot, app.tasks)
    assert not dialog.isVisible()
    assert load_settings(demo / "settings.toml").capture.interval_seconds == 7.0
    assert dialog.interval.text() == "7.0 s" and dialog.idle.text().startswith("300 s")


def test_title_rules_read_as_words_and_save_as_patterns(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.capture.privacy import ExclusionRules

    app = make_app(demo)
    dialog = app.window.open_settings()
    shown = dialog.titles.toPlainText().splitlines()
    assert "Incognito" in shown and "\\bIncognito\\b" not in shown
    dialog.titles.setPlainText(dialog.titles.toPlainText() + "\nBank of Scotland\n^Payroll ")
    rules = dialog.result_settings().privacy.exclude_titles
    assert "\\bIncognito\\b" in rules and "Private Browsing" in rules  # unchanged lines keep theirs
    assert "\\bBank of Scotland\\b" in rules and "^Payroll" in rules
    check = ExclusionRules((), rules)
    assert check.hides("", "Bank of Scotland - Online banking")
    assert not check.hides("", "Scotland travel guide")
    dialog.reject()


def test_the_status_says_restarting_while_new_settings_restart_the_recorder(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    status = app.window.status
    status.demo = False
    status.restarting_since = time.time()
    status.show({"state": "stopped", "reason": "the recorder is not running"})
    assert "Starting" in status.label.text() and "new settings" in status.label.text()
    status.show({"state": "recording", "reason": ""})
    assert status.restarting_since is None and "Recording" in status.label.text()


def test_citation_chips_name_the_conversation_or_app_and_count_from_one() -> None:
    from memlane.ui.chat import chip_label, renumber

    t = 1_700_000_000.0
    assert chip_label("message", t, "demo", "Chat with Ana").endswith("· Chat with Ana")
    assert chip_label("message", t, "assistant", "Questions").endswith("· chat with Memlane")
    assert chip_label("frame", t, "firefox", "Flights").endswith("· firefox")
    assert chip_label("frame", t, "", "budget.png").endswith("· budget.png")
    text, chips = renumber("Ryanair [3], then TAP [2, 3].", [(2, "frame:9", "b"),
                                                             (3, "frame:4", "a")])
    assert text == "Ryanair [1], then TAP [2, 1]."
    assert chips == [(1, "frame:4", "a"), (2, "frame:9", "b")]
    assert renumber("EUR 89 [2].", [(2, "frame:1", "x")]) == ("EUR 89 [1].", [(1, "frame:1", "x")])


def test_a_cited_message_shows_the_one_before_it_too(qtbot: QtBot) -> None:
    from PySide6.QtCore import QPoint

    from memlane.ui.dialogs import ConversationDialog

    messages = [tl.MessageRow(i, 1_700_000_000.0 + 60 * i, "Ana" if i % 2 else "me", "user",
                              f"line number {i} " + "words " * 30, None) for i in range(40)]
    dialog = ConversationDialog("Chat", messages, 25, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    top = dialog.view.cursorForPosition(QPoint(10, 10)).block().text()
    assert "line number 24" in top  # the message before the cited one, at the top
    visible = dialog.view.cursorForPosition(QPoint(10, dialog.view.viewport().height() - 10))
    assert visible.blockNumber() >= dialog.view.cursorForPosition(QPoint(10, 10)).blockNumber()
    assert dialog.view.verticalScrollBar().value() > 0


def test_a_long_title_stays_on_one_line_and_the_knows_note_is_readable(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.memory.records import FrameIn

    app = make_app(demo)
    app.window.resize(1100, 700)
    store = app.services.browse_store()
    title = "A very long window title " * 12
    frame_id = store.add_frame(FrameIn(time.time() - 60, "firefox", title, "", "", 1, 1, 0, "",
                                       None))
    app.window.open_record(f"frame:{frame_id}")
    idle(qtbot, app.tasks)
    header = app.window.viewer.header
    assert "…" in header.text() and title.strip() in header.toolTip()
    assert header.height() < 2.2 * header.fontMetrics().height()  # one line, viewer not pushed
    knows = app.window.knows
    app.window.left.setCurrentWidget(knows)
    knows.forget_selected()
    qtbot.wait(50)
    assert knows.note.text() == "Select what to forget first."
    assert knows.note.width() > 250  # not a one-word-wide column beside the buttons


def test_right_click_a_memory_to_copy_forget_or_never_record_it(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from memlane.memory.records import FrameIn

    app = make_app(demo)
    window = app.window
    window.confirm_forget = False
    window.no_menus = True
    panel = window.timeline
    panel.show_day(YESTERDAY)
    idle(qtbot, app.tasks)
    row = next(i for i, f in enumerate(panel.model.frames) if "Lisbon" in f.title)
    frame = panel.model.frames[row]
    rect = panel.view.visualRect(panel.model.index(row))
    panel.view.customContextMenuRequested.emit(rect.center())
    menu = window.last_menu

    def action(text: str) -> Any:
        for a in menu.actions():
            if a.text() == text:
                return a
            if a.menu() is not None:
                for b in a.menu().actions():
                    if b.text() == text:
                        return b
        raise AssertionError(f"no {text!r} in {[a.text() for a in menu.actions()]}")

    assert [a.text() for a in menu.actions() if a.text()] == [
        "Copy text", "Forget this screen…", "Forget the last…", "Never record firefox…"]
    action("Copy text").trigger()
    idle(qtbot, app.tasks)
    assert "Ryanair" in QApplication.clipboard().text()
    action("Forget this screen…").trigger()
    idle(qtbot, app.tasks)
    store = app.services.browse_store()
    assert not store.sql("SELECT id FROM frames WHERE id = ?", [frame.id])
    assert frame.id not in [f.id for f in panel.model.frames]  # the timeline shows what is left
    assert window.statusBar().currentMessage().startswith("Forgotten: ")
    # the last 15 minutes: a frame of a minute ago goes, yesterday's stay
    recent = store.add_frame(FrameIn(time.time() - 60, "xterm", "make test", "", "", 1, 1, 0,
                                     "", None))
    older = {i for (i,) in store.sql("SELECT id FROM frames WHERE time < ?",
                                     [time.time() - 15 * 60 - 30])}
    action("15 minutes…").trigger()
    idle(qtbot, app.tasks)
    assert not store.sql("SELECT id FROM frames WHERE id = ?", [recent])
    assert older and older <= {i for (i,) in store.sql("SELECT id FROM frames")}
    # never record the app: saved in the settings the recorder reads
    action("Never record firefox…").trigger()
    idle(qtbot, app.tasks)
    assert "firefox" in load_settings(demo / "settings.toml").privacy.exclude_apps
    # a message found by search offers its conversation
    window.search.run("rain jacket")
    idle(qtbot, app.tasks)
    item = next(window.search.results.item(i) for i in range(window.search.results.count())
                if window.search.results.item(i).data(Qt.ItemDataRole.UserRole) is not None
                and window.search.results.item(i).data(Qt.ItemDataRole.UserRole).kind == "message")
    window.search.results.customContextMenuRequested.emit(
        window.search.results.visualItemRect(item).center())
    menu = window.last_menu
    assert "Open the conversation" in [a.text() for a in menu.actions()]
    assert not any(a.text().startswith("Never record") for a in menu.actions())


def test_thumbnails_with_their_times_fit_the_lane_at_any_size_and_zoom(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    panel = app.window.timeline
    panel.show_day(YESTERDAY)
    idle(qtbot, app.tasks)
    for size in ((900, 600), (1400, 900)):
        app.window.resize(*size)
        for zoom in (panel.zoom.minimum(), 200, panel.zoom.maximum()):
            panel.zoom.setValue(zoom)
            qtbot.wait(30)
            index = panel.model.index(0)
            hint = panel.view.itemDelegate().sizeHint(panel.view.viewOptions()
                                                      if hasattr(panel.view, "viewOptions")
                                                      else None, index)  # type: ignore[arg-type]
            assert hint.height() <= panel.view.viewport().height(), (size, zoom)


def test_dropping_screenshots_and_chats_on_the_window_imports_them(qtbot: QtBot, demo: Path, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QMimeData, QPointF
    from PySide6.QtGui import QDropEvent

    from conftest import render_text

    shots = tmp_path / "shots"
    shots.mkdir()
    render_text(["Zanzibar ferry timetable", "Departure 18:40"]).save(
        shots / "2024-05-01_10-30-00.png")
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"time": "2024-05-01T11:00:00", "speaker": "Ana", "text": "See you on '
                    'the Zanzibar ferry", "conversation": "trip"}\n')
    junk = tmp_path / "setup.exe"
    junk.write_bytes(b"MZ")
    app = make_app(demo)
    store = app.services.browse_store()
    frames, messages = store.counts()["frames"], store.counts()["messages"]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in (shots, chat, junk)])
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    app.window.dropEvent(drop)
    idle(qtbot, app.tasks, timeout=60)
    assert store.counts()["frames"] == frames + 1 and store.counts()["messages"] == messages + 1
    message = app.window.statusBar().currentMessage()
    assert "1 screenshot stored" in message and "1 message" in message
    assert "not imported: setup.exe" in message


def test_dropping_an_archive_restores_it_into_an_empty_home_only(qtbot: QtBot, demo: Path, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = make_app(demo)
    archive = tmp_path / "memlane-export.zip"
    source.engine.export(archive)
    source.window.import_files([archive])
    idle(qtbot, source.tasks, timeout=60)
    assert "already holds memories" in source.window.statusBar().currentMessage()
    empty = make_app(tmp_path / "new home")
    empty.window.import_files([archive])
    idle(qtbot, empty.tasks, timeout=120)
    assert "restored" in empty.window.statusBar().currentMessage()
    assert empty.services.browse_store().counts()["frames"] == 13


def test_panes_keep_their_widths_when_switching_tabs(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    app.window.resize(1400, 900)
    app.window.start()
    idle(qtbot, app.tasks)
    split = app.window.left.parentWidget()
    before = split.sizes()
    knows = app.window.knows
    app.window.left.setCurrentWidget(knows)
    knows.forget_selected()  # its longest note
    for tab in range(knows.tabs.count()):
        knows.tabs.setCurrentIndex(tab)
        idle(qtbot, app.tasks)
        assert split.sizes() == before
    app.window.left.setCurrentWidget(app.window.search)
    qtbot.wait(20)
    assert split.sizes() == before


def test_open_data_folder_says_where_it_is(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    dialog = app.window.open_settings()
    dialog._open_folder(demo)
    assert dialog.folder_note.isVisibleTo(dialog) and str(demo) in dialog.folder_note.text()
    dialog.reject()


def test_zoomed_out_the_lane_puts_each_frame_under_its_hour(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    app.window.resize(1400, 900)
    panel = app.window.timeline
    panel.show_day(YESTERDAY)
    idle(qtbot, app.tasks)
    panel.zoom.setValue(panel.zoom.minimum())
    qtbot.wait(50)
    room = panel.view.viewport().width()
    start = panel.model.day_start
    w = panel.view.fitted_width()
    starts = []
    for row, frame in enumerate(panel.model.frames):
        rect = panel.view.visualRect(panel.model.index(row))
        hour_x = (frame.time - start) / 86400 * room
        starts.append(rect.right() - w)
        # never left of its hour; right of it only as far as the frames before push it
        assert starts[-1] >= hour_x - 4 and starts[-1] - hour_x < (row + 1) * (w + 6) + 4
        assert rect.right() <= room
    first = panel.view.visualRect(panel.model.index(0))
    assert first.right() > room * 9 / 24  # yesterday began at 09:02, not at midnight


def test_connected_programs_lists_every_call(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from memlane.services.external import Call, append_call

    app = make_app(demo)
    empty = app.window.show_connected()
    assert empty.empty.isVisibleTo(empty) and empty.table.rowCount() == 0
    empty.close()
    log_path = Paths(demo).mcp_log
    append_call(log_path, Call(1_700_000_000.0, "Claude Desktop", "search", True))
    append_call(log_path, Call(1_700_000_100.0, "Claude Desktop", "remember", False,
                               "writing is off for connected programs"))
    log_path.open("a").write("not json\n")
    dialog = app.window.show_connected()
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 2).text() == "remember"  # newest first
    assert dialog.table.item(0, 3).text().startswith("error: writing is off")
    assert dialog.table.item(1, 1).text() == "Claude Desktop"


def test_settings_edit_the_journal_folder_and_mcp_writes(qtbot: QtBot, demo: Path, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    dialog = app.window.open_settings()
    assert dialog.journal.text() == "" and not dialog.mcp_write.isChecked()
    dialog.journal.setText(str(tmp_path / "vault"))
    dialog.mcp_write.setChecked(True)
    settings = dialog.result_settings()
    assert settings.journal.folder == str(tmp_path / "vault") and settings.mcp.allow_write
    dialog.reject()


def test_export_from_the_file_menu_writes_a_verified_archive(qtbot: QtBot, demo: Path, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from memlane.memory.archive import verify_archive

    app = make_app(demo)
    out = tmp_path / "export.zip"
    app.window.export_memory(str(out))
    idle(qtbot, app.tasks)
    manifest = verify_archive(out)
    assert manifest["counts"]["frames"] == 13 and manifest["counts"]["messages"] == 5
    assert "Exported" in app.window.statusBar().currentMessage()


def test_file_menu_export_asks_where_and_writes_the_archive(qtbot: QtBot, demo: Path, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QFileDialog

    from memlane.memory.archive import verify_archive

    app = make_app(demo)
    out = tmp_path / "chosen.zip"
    asked: list[str] = []

    def choose(*args: object, **kwargs: object) -> tuple[str, str]:  # the person picks a file
        asked.append(str(args[1]))
        return str(out), "Memlane archives (*.zip)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    file_menu = app.window.menuBar().actions()[0].menu()
    action = next(a for a in file_menu.actions() if a.text().startswith("Export memory"))
    action.trigger()  # File > Export memory... (it used to do nothing)
    idle(qtbot, app.tasks)
    assert asked == ["Export your memory"]
    assert verify_archive(out)["counts"]["messages"] == 5
    bar = app.window.statusBar()
    assert "Exported" in bar.currentMessage()
    # the recorder's status leaves room for the message (it used to take the whole bar)
    assert app.window.status.width() < bar.width() - 300


def test_results_for_a_closed_widget_are_dropped(qtbot: QtBot) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication, QWidget

    tasks = Tasks()
    got: list[object] = []
    gone = QWidget()
    tasks.run("slow", lambda _t: (time.sleep(0.2), "late")[1], on_done=got.append, owner=gone)
    gone.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    kept = QWidget()
    tasks.run("fast", lambda _t: "ok", on_done=got.append, owner=kept)
    idle(qtbot, tasks)
    assert got == ["ok"]


def test_unlock_and_first_run_encryption_dialogs(qtbot: QtBot, tmp_path: Path) -> None:
    from memlane.memory.crypto import unlock
    from memlane.services.encryption import encrypt_home
    from memlane.ui.dialogs import FirstRunDialog, UnlockDialog

    home = tmp_path / "enc"
    Paths(home).ensure()
    encrypt_home(Paths(home), "the right one")
    dialog = UnlockDialog(home)
    dialog.passphrase.setText("the wrong one")
    dialog.try_unlock()
    assert dialog.keys is None and dialog.problem.text() == "Wrong passphrase."
    dialog.passphrase.setText("the right one")
    dialog.try_unlock()
    assert dialog.keys == unlock(home, "the right one") and dialog.result() == dialog.DialogCode.Accepted

    first = FirstRunDialog(home)
    assert first.passphrase() is None and not first.pass1.isEnabled()
    first.encrypt.setChecked(True)
    first.pass1.setText("short")
    first.pass2.setText("short")
    first._accept()
    assert "at least 8" in first.problem.text() and first.result() != first.DialogCode.Accepted
    first.pass1.setText("long enough 1")
    first.pass2.setText("long enough 2")
    first._accept()
    assert "differ" in first.problem.text()
    first.pass2.setText("long enough 1")
    first._accept()
    assert first.result() == first.DialogCode.Accepted and first.passphrase() == "long enough 1"


def test_an_encrypted_home_shows_its_frames_in_the_app(qtbot: QtBot, tmp_path: Path, embedder: OnnxEmbedder) -> None:  # type: ignore[no-untyped-def]
    from conftest import render_text
    from memlane.memory.crypto import unlock
    from memlane.services.encryption import encrypt_home

    home = tmp_path / "enc"
    shots = tmp_path / "shots"
    shots.mkdir()
    render_text(["Ferry to Cacilhas at 18:40"]).save(shots / "a.png")
    with Engine(Paths(home), embedder=embedder) as engine:
        engine.ingest_images([shots])
    encrypt_home(Paths(home), "pass phrase 1")
    keys = unlock(home, "pass phrase 1")
    with Engine(Paths(home), embedder=embedder, keys=keys) as engine:
        services = Services(home, engine)
        (rel,) = engine.store.sql("SELECT thumb_path FROM frames")[0]
        image = services.images.load(rel)  # what the timeline, viewer and search use
        assert not image.isNull() and image.width() == 320
        assert services.browse_store().counts()["frames"] == 1
        services.close()


def test_consolidation_progress_says_how_long_is_left() -> None:
    from memlane.ui.knows import progress_text

    started: dict[str, float] = {}
    assert progress_text(("episodes", 0, 147), started, now=100.0).startswith(
        "Consolidating: episodes 0/147")
    assert progress_text(("episodes", 17, 147), started, now=100.0 + 462) == (
        "Consolidating: episodes 17/147, about 59 min left (it waits while you ask a question)…")
    assert "about 30 s left" in progress_text(("facts", 1, 2), {"facts": 0.0}, now=30.0)
    assert progress_text(("facts", 2, 2), {"facts": 0.0}, now=30.0) == "Consolidating: facts 2/2…"


def test_an_empty_chat_explains_itself_in_words_that_wrap(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    chat = app.window.chat
    chat.turns = []
    chat.redraw()
    text = chat.transcript.toPlainText()
    assert "What was the cheapest flight I looked at yesterday?" in text
    assert "Answers come from the model on this computer" in text


def test_the_dark_look_is_chosen_in_settings_and_everything_stays_readable(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from memlane.ui import theme

    app = make_app(demo, FakeModel("Ryanair, EUR 89 [1]."))
    try:
        dialog = app.window.open_settings()
        assert dialog.theme.currentData() == "auto"
        dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
        dialog.accept()
        idle(qtbot, app.tasks)
        assert load_settings(demo / "settings.toml").ui.theme == "dark"
        palette = QApplication.instance().palette()
        assert palette.color(QPalette.ColorRole.Window).lightness() < 80
        assert palette.color(QPalette.ColorRole.Text).lightness() > 180
        app.window.chat.ask("cheapest flight?")
        idle(qtbot, app.tasks)
        html = app.window.chat.transcript.toHtml()
        assert "#222222" not in html.lower() and theme.colours().text in html.lower()
    finally:
        assert theme.apply("light") is False  # the next tests see the usual look
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() > 150


def test_a_theme_the_settings_do_not_know_is_named(tmp_path: Path) -> None:
    from memlane.core.errors import SettingsError

    path = tmp_path / "settings.toml"
    path.write_text('[ui]\ntheme = "purple"\n')
    with pytest.raises(SettingsError, match=r"\[ui\] theme must be one of auto, light, dark"):
        load_settings(path)


def test_warming_reads_the_fixed_prompt_once_with_one_token() -> None:
    from memlane.models.prompts import SYSTEM
    from memlane.services.assistant import warm

    model = FakeModel("x")
    assert warm(model) >= 0
    assert model.requests[0][0] == {"role": "system", "content": SYSTEM}


@pytest.mark.model
def test_the_app_loads_the_model_before_the_first_question(qtbot: QtBot, demo: Path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo)
    chat = app.window.chat
    warming = chat.warm()
    assert chat.status.text().startswith("Loading the local model")
    chat.ask("What was the cheapest flight to Lisbon?")  # asked while it loads: it waits its turn
    qtbot.waitUntil(lambda: warming.finished.is_set(), timeout=120000)
    assert app.engine.model.pid is not None
    idle(qtbot, app.tasks, timeout=120)
    assert chat.turns[-1].state in ("done", "abstained") and chat.turns[-1].answer


def test_a_missing_wayland_grant_is_offered_in_the_status_bar(qtbot: QtBot) -> None:
    from memlane.ui.status import StatusWidget

    tasks = Tasks()
    from memlane.capture.wayland import STOPPED

    info = {"state": "error", "needs_grant": True, "ocr_backlog": 0, "reason": STOPPED}
    asked: list[int] = []

    def grant() -> int:
        asked.append(1)
        info.update(state="recording", needs_grant=False, reason="")
        return 2

    status = StatusWidget(tasks, lambda: dict(info), lambda _p, _m: None, grant_fn=grant)
    qtbot.addWidget(status)
    status.setVisible(True)  # (its show() shows a status)
    status.refresh()
    idle(qtbot, tasks)
    # why it is not allowed, from the recorder; what to do is the button beside
    text = status.label.text()
    assert status.allow.isVisible() and "Not allowed" in text
    assert "stopped from the desktop" in text and "status bar" not in text
    # a recorded monitor unplugged: it waits by itself; the button records what is left
    from memlane.capture.wayland import NOW_HINT, UNPLUGGED

    info.update(state="waiting", reason=UNPLUGGED.format(names="DELL U2720Q", hint=NOW_HINT))
    status.refresh()
    idle(qtbot, tasks)
    text = status.label.text()
    assert status.allow.isVisible() and "Waiting" in text and "Not allowed" not in text
    assert "unplugged or off (DELL U2720Q): recording resumes when it is back" in text
    assert "status bar" not in text and "connected now" not in text
    assert "recording resumes when it is back" in status.label.toolTip()  # all of it, to hover
    status.allow.click()
    idle(qtbot, tasks)
    qtbot.waitUntil(lambda: status.info.get("state") == "recording", timeout=10000)
    assert asked == [1] and not status.allow.isVisible()
    status.timer.stop()
    tasks.wait(5000)


def test_memlanes_windows_are_covered_while_another_app_has_focus(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QApplication, QLabel, QWidget

    from memlane.ui.cover import PrivacyCover, needed

    app = QApplication.instance()
    assert isinstance(app, QApplication)

    def shown(text: str, width: int, height: int) -> QWidget:
        window = QWidget()
        QLabel(text, window)
        qtbot.addWidget(window)
        window.resize(width, height)
        window.show()
        return window

    window = shown("a memory on screen", 400, 300)
    cover = PrivacyCover(app)
    cover._changed(Qt.ApplicationState.ApplicationInactive)
    panel = cover.covers[id(window)]
    assert panel.isVisible() and panel.geometry() == window.rect()
    cover._changed(Qt.ApplicationState.ApplicationActive)
    assert not panel.isVisible()
    # an app that never had focus (started from GNOME's overview): its state never changes,
    # and the windows it opened are covered all the same once the event loop runs
    later = shown("another memory", 300, 200)
    unfocused = PrivacyCover(app)
    unfocused._active = lambda: False  # type: ignore[method-assign]
    qtbot.waitUntil(lambda: id(later) in unfocused.covers
                    and unfocused.covers[id(later)].isVisible())
    assert unfocused.covers[id(later)].geometry() == later.rect()
    assert needed("wayland") and not needed("xcb") and not needed("offscreen")
