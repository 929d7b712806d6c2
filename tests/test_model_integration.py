"""The real default model (Qwen2.5-Coder-0.5B-Instruct Q4) in its own process, end to end.

These load the embedded GGUF through llama-cpp-python exactly as ``memlane ask`` does. One model
process is shared by the module's tests to keep the suite fast.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from conftest import ModelStore
from memlane.core.errors import ModelError
from memlane.core.paths import Paths
from memlane.core.settings import AnswerSettings
from memlane.memory.records import ConversationIn, MessageIn
from memlane.models.embedder import OnnxEmbedder
from memlane.models.registry import resolve_model
from memlane.models.runtime import ModelProcess, stop_all
from memlane.services.engine import Engine

pytestmark = pytest.mark.model

NOW = datetime.fromisoformat("2024-03-15T20:00:00").astimezone()
LINES = [
    ("2024-03-11T09:12:00", "My dentist appointment is on Friday at 3pm with Dr. Okafor."),
    ("2024-03-12T13:40:00", "The cheapest flight to Lisbon I found was 214 euros with TAP."),
    ("2024-03-13T18:05:00", "My sister Ana's birthday is on the 2nd of April."),
    ("2024-03-14T11:30:00", "Our wifi password at the cabin is on the fridge, not in my notes."),
    ("2024-03-14T21:15:00", "I finished reading 'The Left Hand of Darkness' tonight."),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory,
          model_store: ModelStore) -> Iterator[ModelProcess]:
    models = model_store.seed(tmp_path_factory.mktemp("models"), "small")
    info = resolve_model("default", models)
    proc = ModelProcess(info.path, info.name, context_size=2048,
                        log_path=models / "model.log")
    yield proc
    proc.close()


@pytest.fixture
def remembered(tmp_path: Path, embedder: OnnxEmbedder, model: ModelProcess) -> Iterator[Engine]:
    engine = Engine(Paths(tmp_path / "home"), embedder=embedder)
    msgs = tuple(
        MessageIn(str(i), "me", text, datetime.fromisoformat(t).astimezone().timestamp())
        for i, (t, text) in enumerate(LINES)
    )
    engine.store.import_conversations([ConversationIn("jsonl", "notes", "notes", 0, msgs)])
    engine.index.sync()
    yield engine
    engine.close()


def test_answers_from_the_right_memory_with_a_citation(remembered: Engine, model: ModelProcess) -> None:
    answer = remembered.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "How much was the cheapest flight to Lisbon?", now=NOW)
    assert not answer.abstained, answer.text
    assert "214" in answer.text
    cited = answer.citations
    assert cited and all("Lisbon" in e.hit.snippet for e in cited), answer.to_json()
    assert cited[0].hit.source == {"type": "message", "conversation": "notes", "external_id": "1"}
    assert answer.usage.prompt_tokens > 0 and answer.timings["first_token_ms"] > 0


def test_a_when_answer_gives_the_date_the_memory_means(remembered: Engine,
                                                       model: ModelProcess) -> None:
    assistant = remembered.assistant(model=model, settings=AnswerSettings(remember=False))
    # "tonight", said on 14 March: the day the memory means, whatever the model read
    book = assistant.ask("When did I finish reading 'The Left Hand of Darkness'?", now=NOW)
    assert not book.abstained and "14 March 2024" in book.text, book.to_json()
    assert [e.hit.source["external_id"] for e in book.citations] == ["4"]
    # a time the memory writes out stands, not the day it was written
    dentist = assistant.ask("When is my dentist appointment?", now=NOW)
    assert "11 March" not in dentist.text and "Friday" in dentist.text, dentist.to_json()


def test_question_without_a_memory_abstains(remembered: Engine, model: ModelProcess) -> None:
    answer = remembered.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "What is the name of my landlord's dog?", now=NOW)
    assert answer.abstained and answer.text == "I don't have a memory of that."


def test_killed_model_process_gives_a_clear_error_and_the_next_question_works(
    remembered: Engine, model: ModelProcess,
) -> None:
    assistant = remembered.assistant(model=model, settings=AnswerSettings(remember=False, max_tokens=200))
    model.start()
    pid = model.pid

    def kill_on_first_token(_: str) -> None:
        model.kill()  # as if llama.cpp crashed or the kernel's OOM killer struck mid-answer

    with pytest.raises(ModelError, match=r"stopped while answering .*killed by SIGKILL"):
        assistant.ask("When is my sister Ana's birthday?", now=NOW,
                      on_token=kill_on_first_token)
    t0 = time.perf_counter()
    answer = assistant.ask("When is my sister Ana's birthday?", now=NOW)
    assert model.pid is not None and model.pid != pid
    assert "april" in answer.text.lower() or "2" in answer.text, answer.text
    assert time.perf_counter() - t0 < 120


def test_stop_all_ends_a_prompt_being_read_and_the_next_request_starts_afresh(
    model: ModelProcess,
) -> None:
    # GIVEN a long prompt being read (the app quits meanwhile: nothing looks up until it is read)
    model.start()
    pid = model.pid
    prompt = " ".join(f"Line {n}: the ferry to Cacilhas leaves at 18:{n % 60:02d}." for n in range(85))
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append("".join(model.stream(
                [{"role": "user", "content": prompt + "\nWhen does the ferry leave?"}],
                max_tokens=1)))
        except ModelError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    time.sleep(0.5)
    # WHEN every model process is stopped
    assert stop_all() == 1
    thread.join(30)
    # THEN the request fails as a killed process does, and the next one starts a new process
    assert not thread.is_alive()
    assert isinstance(outcome[0], ModelError) and "killed by SIGKILL" in str(outcome[0]), outcome
    assert stop_all() == 0
    assert "".join(model.stream([{"role": "user", "content": "Say yes."}], max_tokens=2))
    assert model.pid is not None and model.pid != pid


def test_a_corrupt_model_file_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(ModelError, match=r"broken.gguf"):
        ModelProcess(bad, "broken").start()
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ModelError, match=r"notes.txt is not a GGUF"):
        resolve_model(str(text), tmp_path)
    with pytest.raises(ModelError, match=r"model file not found: .*missing.gguf"):
        resolve_model(str(tmp_path / "missing.gguf"), tmp_path)


def test_ask_json_through_the_cli(run, tmp_path: Path, model_store: ModelStore) -> None:  # type: ignore[no-untyped-def]
    model_store.seed(Paths(run.home).models, "small")
    notes = tmp_path / "notes.jsonl"
    notes.write_text("\n".join(
        json.dumps({"time": t, "speaker": "me", "text": text, "conversation": "notes"})
        for t, text in LINES
    ))
    run("import-chat", str(notes))
    out = run.json("ask", "How much was the cheapest flight to Lisbon?", "--now",
                   NOW.isoformat())
    assert isinstance(out, dict)
    assert set(out) >= {"answer", "abstained", "citations", "model", "timings"}
    assert set(out["timings"]) >= {"retrieve_ms", "first_token_ms", "total_ms"}
    assert "214" in out["answer"] and not out["abstained"]
    cite = out["citations"][0]
    assert set(cite) >= {"n", "id", "kind", "time", "snippet", "source"}
    assert cite["source"]["type"] == "message" and "Lisbon" in cite["snippet"]
    # the question was remembered and is searchable like any other message
    hits = run.json("search", "cheapest flight Lisbon", "--app", "assistant")
    assert isinstance(hits, list) and any("How much was" in h["snippet"] for h in hits)
