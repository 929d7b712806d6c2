"""What the model reads: screens carry their text and are folded, periods are told from episodes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import ModelStore
from fakes import FakeModel
from memlane.core.paths import Paths
from memlane.memory.records import Hit
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine
from memlane.services.evidence import evidence_line, fold_screens, screen_text
from memlane.services.periods import is_period_question

T0 = datetime.fromisoformat("2024-05-10T14:00:00").astimezone().timestamp()


def frame(n: int, t: float, app: str, title: str, text: str) -> Hit:
    return Hit(f"frame:{n}", "frame", t, app, title, text, 1.0 / n, {"type": "frame"})


def test_screen_text_is_left_as_read_and_never_blank() -> None:
    deals = frame(1, T0, "firefox", "Amazon", "Today's Deals Cart Yesterday's picks 3 items")
    line = evidence_line(1, deals, "what deals did I see")
    assert "Today's Deals" in line and "(10 May" not in line  # no relative-date rewrite
    assert "(screen, firefox - Amazon)" in line
    assert screen_text("", "deals") == "(no text was read on this screen)"
    noise = " ".join(["...", "|", "—"] * 30) + " Checkout"
    assert any(c.isalpha() for c in screen_text(noise, "cart"))
    # what people said still gets its dates resolved
    said = Hit("message:1", "message", T0, "chat", "c", "Ana: I flew home yesterday", 1.0,
               speaker="Ana")
    assert "yesterday (9 May 2024)" in evidence_line(1, said, "when")


def test_near_duplicate_screens_fold_into_one_line_with_their_span() -> None:
    page = "The Puzzle Game you're on a roll level 12 score 3400 next level"
    hits = [
        frame(1, T0, "firefox", "The Puzzle Game - Mozilla Firefox", page),
        Hit("message:9", "message", T0, "chat", "c", "me: loved the puzzle", 0.9),
        frame(2, T0 + 60, "firefox", "The Puzzle Game - Mozilla Firefox", page + " 3500"),
        frame(3, T0 + 240, "firefox", "The Puzzle Game - Mozilla Firefox", "level 13 bonus"),
        frame(4, T0 + 300, "code", "main.py", "def solve(board): return moves"),
        frame(5, T0 + 7200, "firefox", "Other", page),  # the same words later that day
    ]
    folded = fold_screens(hits)
    assert [h.id for h in folded] == ["frame:1", "message:9", "frame:4"]
    line = evidence_line(1, folded[0], "what game did I play")
    assert "14:00-16:00" in line and "Puzzle Game" in line
    # the next day it is a new moment
    tomorrow = frame(6, T0 + 86400, "firefox", "The Puzzle Game - Mozilla Firefox", page)
    assert len(fold_screens([hits[0], tomorrow])) == 2


def test_period_questions_are_told_apart_from_questions_about_a_thing() -> None:
    assert is_period_question({"what"})  # "What did I do yesterday?" without its time
    assert is_period_question({"which", "apps", "use", "most"})
    assert is_period_question({"summarize"})
    assert not is_period_question({"what", "game", "play"})
    assert not is_period_question({"dentist", "appointment"})


@pytest.fixture
def consolidated_demo(tmp_path: Path, embedder: OnnxEmbedder, model_store: ModelStore) -> Engine:
    from memlane.services.demo import build_demo

    home = build_demo(tmp_path / "demo")
    model_store.seed(Paths(home).models, "small")
    engine = Engine(Paths(home), embedder=embedder)
    engine.consolidate(use_model=False)
    return engine


def test_a_question_about_a_day_is_answered_from_its_episodes(consolidated_demo: Engine) -> None:
    engine = consolidated_demo
    assistant = engine.assistant()
    hits, _, _ = assistant.evidence("What did I do yesterday?", None)
    assert hits and all(h.kind == "episode" for h in hits)
    yesterday = (datetime.now() - timedelta(days=1)).date()
    assert all(datetime.fromtimestamp(h.time).date() == yesterday for h in hits)
    hits, query, _ = assistant.evidence("Which apps did I use most yesterday?", None)
    first = evidence_line(1, hits[0], query)
    assert "summary of the day" in first and "time per app: " in first
    assert "firefox" in first.split("time per app: ")[1]
    # a question about a thing in that day still searches for it
    hits, _, _ = assistant.evidence("When is my dentist appointment?", None)
    assert any("check-up" in h.snippet for h in hits)
    # the model is asked for the main things of the period, not one sentence about one
    model = FakeModel("A standup [1] and flights to Lisbon [2].")
    answer = engine.assistant(model=model).ask("What did I do yesterday?")
    assert "Name the main things" in model.requests[-1][-1]["content"]
    assert not answer.abstained and answer.citations
