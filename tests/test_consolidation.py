"""Consolidation: episodes, digests and facts with lineage, decisions, forgetting and restarts.

Segmentation is tested as a pure function on scripted frames; the rest runs on a real store,
vector index and embedder, with a scripted model that answers each kind of prompt from its own
queue (the real default model has its own test at the end).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli, ModelStore, memlane_subprocess_env
from memlane.core.settings import MemorySettings
from memlane.memory import episodes as ep
from memlane.memory import facts as fx
from memlane.memory.forget import Scope
from memlane.memory.records import ConversationIn, FrameIn, MessageIn, OcrBlockIn
from memlane.models.memory_prompts import DECIDE_SYSTEM, FACTS_SYSTEM, SUMMARY_SYSTEM
from memlane.models.runtime import Usage
from memlane.services.consolidate import Consolidator
from memlane.services.engine import Engine
from memlane.services.evidence import evidence_line

T0 = datetime.fromisoformat("2024-05-06T09:00:00").astimezone().timestamp()
LATER = T0 + 30 * 86400  # "now" for runs: everything is long closed


def frame(i: int, t: float, app: str, title: str, text: str) -> ep.Item:
    return ep.Item("frame", i, T0 + t, app, title, text)


FLIGHTS = "Lisbon return flight TAP cheapest fare 89 EUR depart Friday 07:45 arrive 09:10"
REPORT = "quarterly report revenue grew twelve percent margin table figures appendix draft"


# -- segmentation ------------------------------------------------------------------------------


def test_segmentation_cuts_at_switches_gaps_and_text_jumps_and_folds_blips() -> None:
    frames = [
        frame(1, 0, "Firefox", "Flights", FLIGHTS),
        frame(2, 20, "Firefox", "Flights", FLIGHTS + " seat 14A"),
        frame(3, 35, "Slack", "General", "lunch?"),          # 5 s away and back: a blip
        frame(4, 40, "Firefox", "Flights", FLIGHTS + " seat 14A booked"),
        frame(5, 100, "Writer", "Report", REPORT),            # app switch
        frame(6, 130, "Writer", "Report", REPORT + " chart"),
        frame(7, 1000, "Writer", "Report", REPORT + " chart final"),  # 14 min gap
        # same window, entirely different text: a new topic
        frame(8, 1010, "Writer", "Report", "holiday packing list sunscreen towels passport "
              "charger sandals camera tickets snacks water hat"),
    ]
    drafts = ep.segment_frames(frames)
    assert [[i.id for i in d.items] for d in drafts] == [[1, 2, 3, 4], [5, 6], [7], [8]]
    first = drafts[0]
    assert first.apps == ["Firefox", "Slack"] and first.titles[0] == "Flights"
    assert first.key == "screen:frame:1"
    phrases = ep.key_phrases(first)
    assert {"lisbon", "fare"} <= set(phrases) and len(phrases) == ep.KEY_PHRASES
    summary = ep.extractive_summary(first, phrases)
    assert summary.startswith("Firefox, Slack, Flights: ") and "89 EUR" in summary
    # the last draft may still grow until the gap has passed
    assert ep.closed(drafts, T0 + 1010 + 60) == drafts[:3]
    assert ep.closed(drafts, T0 + 1010 + ep.SCREEN_GAP_S + 1) == drafts


def test_chat_sessions_split_by_conversation_and_pause() -> None:
    msgs = [ep.Item("message", i, T0 + t, "whatsapp", "Ana", "hi", "Ana", group)
            for i, (t, group) in enumerate([(0, 1), (60, 1), (4000, 1), (10, 2)], start=1)]
    msgs.sort(key=lambda m: (m.group, m.time))
    assert [[m.id for m in d.items] for d in ep.chat_sessions(msgs)] == [[1, 2], [3], [4]]


# -- a scripted model --------------------------------------------------------------------------


class ScriptedModel:
    """Answers summary, fact and decision prompts from separate queues (empty queue: "")."""

    name = "scripted"

    def __init__(self) -> None:
        self.queues: dict[str, list[str]] = {"summary": [], "facts": [], "decide": []}
        self.calls: list[tuple[str, list[dict[str, str]], dict[str, Any] | None]] = []

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int,
               temperature: float = 0.0, stop: Sequence[str] = (), usage: Usage | None = None,
               schema: dict[str, Any] | None = None) -> Iterator[str]:
        system = messages[0]["content"]
        kind = {SUMMARY_SYSTEM: "summary", FACTS_SYSTEM: "facts", DECIDE_SYSTEM: "decide"}[system]
        self.calls.append((kind, list(messages), schema))
        queue = self.queues[kind]
        yield queue.pop(0) if queue else ""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def chat(engine: Engine, ext: str, day: int, lines: Sequence[tuple[str, str]]) -> list[int]:
    msgs = tuple(MessageIn(f"{ext}-{i}", who, text, T0 + day * 86400 + i * 60)
                 for i, (who, text) in enumerate(lines))
    engine.store.import_conversations([ConversationIn("whatsapp", ext, f"Chat {ext}", T0, msgs)])
    return [int(r[0]) for r in engine.store.sql(
        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.external_id = ? ORDER BY m.time", [ext])]


def run(engine: Engine, model: ScriptedModel | None) -> Any:
    return Consolidator(engine.store, engine.sync_index, model, MemorySettings(model_min_seconds=0)).run(now=LATER)


def current(engine: Engine) -> dict[str, fx.FactRow]:
    return {f.text: f for f in fx.facts(engine.store)}


def test_screen_and_chat_episodes_with_lineage_digest_and_fallback(engine: Engine) -> None:
    for i, (t, app, title, text) in enumerate([
        (0, "Firefox", "Flights to Lisbon - TAP", FLIGHTS),
        (30, "Firefox", "Flights to Lisbon - TAP", FLIGHTS + " seat 14A"),
        (400, "Writer", "Q2 report", REPORT),
    ]):
        engine.store.add_frame(FrameIn(T0 + t, app, title, f"f{i}.webp", f"t{i}.webp", 10, 10,
                                       1, f"h{i}", None, blocks=(OcrBlockIn(0, text),)))
    ids = chat(engine, "ana", 0, [("Ana", "I love hiking in the Alps every summer."),
                                  ("me", "Nice! I'm planning to visit Porto in June.")])
    model = ScriptedModel()
    model.queues["summary"] = ["Looked at a TAP flight to Lisbon for 89 EUR on Friday.",
                               "", "Ana and I talked about unicorns and submarines."]
    report = run(engine, model)
    assert (report.episodes, report.chat_episodes, report.digests) == (2, 1, 1)
    rows = ep.episodes_between(engine.store, None, None, level="episode")
    by_kind = {(r.kind, r.apps[0]): r for r in rows}
    flights = by_kind[("screen", "Firefox")]
    assert flights.summary_by == "model" and "89 EUR" in flights.summary
    # empty model output: the extractive summary stands; an invented one is refused too
    assert by_kind[("screen", "Writer")].summary_by == "extractive"
    talk = by_kind[("chat", "whatsapp")]
    assert talk.summary_by == "extractive" and "hiking" in talk.summary
    assert report.model_unusable >= 2
    sources = ep.sources_of(engine.store, "episode", [talk.id])[talk.id]
    assert [s["id"] for s in sources] == [f"message:{i}" for i in ids]
    assert sources[0]["external_id"] == "ana-0" and sources[0]["conversation"] == "ana"
    digest = ep.episodes_between(engine.store, None, None, level="day")[0]
    assert digest.summary.startswith("Monday 6 May 2024: ")
    # the digest traces back to frames and messages through its episodes
    assert {s["id"].split(":")[0] for s in ep.sources_of(
        engine.store, "episode", [digest.id])[digest.id]} == {"frame", "message"}
    # no model answer for facts: first-person statements
    assert set(current(engine)) == {"Ana: I love hiking in the Alps every summer.",
                                    "me: I'm planning to visit Porto in June."}
    # episodes and facts are searchable
    hits = engine.search("flight Lisbon fare", kinds=("episode",)).hits
    assert hits and hits[0].id == f"episode:{flights.id}"
    again = run(engine, None)
    assert (again.episodes, again.chat_episodes, again.digests, again.added) == (0, 0, 0, 0)


def facts_reply(*facts: tuple[str, str, int]) -> str:
    return json.dumps({"facts": [{"text": t, "category": c, "from": n} for t, c, n in facts]})


def test_add_update_retire_noop_keep_history(engine: Engine) -> None:
    model = ScriptedModel()
    chat(engine, "a", 0, [("Ana", "I live in Paris near the canal."),
                          ("Ana", "I have a red bike for commuting.")])
    model.queues["facts"] = [facts_reply(("Ana lives in Paris", "fact", 1),
                                         ("Ana has a red bike", "possession", 2))]
    run(engine, model)
    assert set(current(engine)) == {"Ana lives in Paris", "Ana has a red bike"}
    paris = current(engine)["Ana lives in Paris"].id
    bike = current(engine)["Ana has a red bike"].id

    chat(engine, "b", 5, [("Ana", "Big news: I moved, I live in Lisbon now."),
                          ("Bob", "Wow, congratulations!"),
                          ("Ana", "I sold my red bike last week."),
                          ("Ana", "Still living in Lisbon, love it.")])
    # the model names the wrong person once; the line's speaker wins
    model.queues["facts"] = [facts_reply(("Bob lives in Lisbon", "fact", 1),
                                         ("Ana sold her red bike", "possession", 3),
                                         ("Ana lives in Lisbon", "fact", 4),
                                         ("Ana owns a yacht", "possession", 3))]  # not said
    model.queues["decide"] = [json.dumps({"action": "UPDATE", "known": 1}),
                              json.dumps({"action": "RETIRE", "known": 1})]
    report = run(engine, model)
    assert (report.added, report.updated, report.retired) == (0, 1, 1)
    now = current(engine)
    assert set(now) == {"Ana lives in Lisbon", "Ana sold her red bike"}
    lisbon = now["Ana lives in Lisbon"]
    assert [(f.text, f.status) for f in fx.history(engine.store, lisbon.id)] == [
        ("Ana lives in Lisbon", "current"), ("Ana lives in Paris", "updated")]
    old = fx.fact(engine.store, paris)
    assert old is not None and old.valid_to == lisbon.valid_from
    retired = fx.fact(engine.store, bike)
    assert retired is not None and retired.status == "retired"
    # said twice in that chat: one fact with both lines as its sources
    assert len(ep.sources_of(engine.store, "fact", [lisbon.id])[lisbon.id]) == 2

    chat(engine, "c", 8, [("Ana", "Yes, I live in Lisbon, moved for good.")])
    model.queues["facts"] = [facts_reply(("Ana lives in Lisbon", "fact", 1))]
    calls = len(model.calls)
    report = run(engine, model)
    assert (report.added, report.confirmed) == (0, 1)
    assert [k for k, _, _ in model.calls[calls:]] == ["summary", "facts"]  # no decision needed
    lisbon = current(engine)["Ana lives in Lisbon"]
    assert lisbon.last_confirmed > lisbon.first_seen
    assert len(ep.sources_of(engine.store, "fact", [lisbon.id])[lisbon.id]) == 3
    # every decision call was constrained by a schema
    assert all(schema for kind, _, schema in model.calls if kind in ("facts", "decide"))


def test_a_fact_sharing_a_word_with_another_is_added_without_asking_the_model(
    engine: Engine,
) -> None:
    # GIVEN a known fact of Caroline's, and a new one of hers that shares one word with it
    model = ScriptedModel()
    chat(engine, "a", 0, [("Caroline", "My necklace is a gift from my grandma in Sweden.")])
    model.queues["facts"] = [facts_reply(("Caroline's necklace is from her grandma in Sweden",
                                          "possession", 1))]
    run(engine, model)
    chat(engine, "b", 3, [("Caroline", "My grandma taught me to paint sunsets.")])
    model.queues["facts"] = [facts_reply(("Caroline's grandma taught her to paint sunsets",
                                          "fact", 1))]
    # and a model that would call it an update (the default 0.5B model did, on such pairs)
    model.queues["decide"] = [json.dumps({"action": "UPDATE", "known": 1})]
    # WHEN consolidating
    report = run(engine, model)
    # THEN the model is not asked, and both facts stay current
    assert "decide" not in [kind for kind, _, _ in model.calls]
    assert (report.added, report.updated) == (1, 0)
    assert set(current(engine)) == {"Caroline's necklace is from her grandma in Sweden",
                                    "Caroline's grandma taught her to paint sunsets"}


def test_a_fact_keeps_the_day_its_relative_date_meant_when_confirmed_later(
    engine: Engine,
) -> None:
    # GIVEN a fact with "yesterday" in it, said on 6 May 2024 and said again a week later
    model = ScriptedModel()
    chat(engine, "a", 0, [("Ana", "I signed up for a pottery class yesterday!")])
    chat(engine, "b", 7, [("Ana", "As I said, I signed up for a pottery class yesterday.")])
    model.queues["facts"] = [facts_reply(("Ana signed up for a pottery class yesterday",
                                          "plan", 1))] * 2
    # WHEN consolidating both chats
    report = run(engine, model)
    # THEN the fact says which day that was, and the confirmation does not move it
    assert (report.added, report.confirmed) == (1, 1)
    (text, row), = current(engine).items()
    assert text == "Ana signed up for a pottery class yesterday (5 May 2024)"
    assert row.last_confirmed > row.first_seen
    hit = engine.store.hits([("fact", row.id)])[("fact", row.id)]
    assert evidence_line(1, hit).endswith("Ana signed up for a pottery class yesterday (5 May 2024)")


def test_model_facts_that_are_questions_are_refused_and_own_words_keep_the_speaker(
    engine: Engine,
) -> None:
    # GIVEN a chat, and a model that returns a question and a line still in its speaker's words
    model = ScriptedModel()
    chat(engine, "p", 0, [("Caroline", "That's so nice! What pet do you have?"),
                          ("Melanie", "Caroline taught me self-acceptance, and I adopted a cat,"
                                      " my first pet.")])
    model.queues["facts"] = [facts_reply(
        ("Caroline: What pet do you have?", "fact", 1),
        ("Caroline taught me self-acceptance", "relationship", 2),
        ("Melanie adopted a cat, my first pet", "possession", 2))]
    # WHEN consolidating
    run(engine, model)
    # THEN the question is no fact, and "me" says who it is (Melanie said it, not the reader),
    # unless the fact starts with her name already
    assert set(current(engine)) == {"Melanie: Caroline taught me self-acceptance",
                                    "Melanie adopted a cat, my first pet"}


def test_forgetting_a_source_re_derives_from_what_remains(engine: Engine, run_cli: Cli) -> None:
    model = ScriptedModel()
    first = chat(engine, "a", 0, [("Ana", "I love hiking in the Alps every summer.")])
    second = chat(engine, "b", 3, [("Ana", "As you know I love hiking in the Alps.")])
    chat(engine, "c", 6, [("Ana", "I live in Paris near the canal.")])
    moved = chat(engine, "d", 9, [("Ana", "I moved, I live in Lisbon now.")])
    model.queues["facts"] = [facts_reply(("Ana loves hiking in the Alps", "preference", 1)),
                             facts_reply(("Ana loves hiking in the Alps", "preference", 1)),
                             facts_reply(("Ana lives in Paris", "fact", 1)),
                             facts_reply(("Ana lives in Lisbon", "fact", 1))]
    model.queues["decide"] = [json.dumps({"action": "UPDATE", "known": 1})]
    run(engine, model)
    hiking = current(engine)["Ana loves hiking in the Alps"]
    assert [s["id"] for s in ep.sources_of(engine.store, "fact", [hiking.id])[hiking.id]] == [
        f"message:{first[0]}", f"message:{second[0]}"]

    engine.forget(Scope(ids=(f"message:{first[0]}", f"message:{moved[0]}")))
    left = current(engine)
    assert "Ana loves hiking in the Alps" not in left   # derived from a forgotten message
    assert "Ana lives in Paris" in left                 # its update was forgotten: current again
    model.queues["facts"] = [facts_reply(("Ana loves hiking in the Alps", "preference", 1))]
    run(engine, model)
    again = current(engine)["Ana loves hiking in the Alps"]
    assert [s["id"] for s in ep.sources_of(engine.store, "fact", [again.id])[again.id]] == [
        f"message:{second[0]}"]
    # nothing derived still points at what was forgotten
    assert engine.store.sql(
        "SELECT count(*) FROM lineage WHERE source_kind = 'message' AND source_id IN (?, ?)",
        [first[0], moved[0]])[0][0] == 0
    out = json.loads(run_cli("facts", "--json").stdout)
    assert {f["text"] for f in out} == {"Ana loves hiking in the Alps", "Ana lives in Paris"}
    hike = next(f for f in out if f["text"].startswith("Ana loves"))
    assert hike["sources"][0]["external_id"] == "b-0" and hike["sources"][0]["conversation"] == "b"
    episodes = json.loads(run_cli("episodes", "--json").stdout)
    assert len(episodes) == 2 and all(e["sources"] for e in episodes)  # chats b and c


@pytest.fixture
def run_cli(engine: Engine) -> Cli:
    return Cli(engine.paths.home)


def test_killed_consolidation_resumes_without_duplicates(tmp_path: Path) -> None:
    lines = []
    for c in range(60):
        for i in range(6):
            lines.append(json.dumps({
                "time": T0 + c * 7200 + i * 60, "speaker": f"P{c % 7}",
                "text": f"I love sport number {c} and I'm planning to travel to city {c} soon.",
                "conversation": f"conv-{c}"}))
    source = tmp_path / "chats.jsonl"
    source.write_text("\n".join(lines) + "\n")
    homes = {name: tmp_path / name for name in ("killed", "whole")}
    for home in homes.values():
        subprocess.run([sys.executable, "-m", "memlane", "import-chat", str(source)],
                       env=memlane_subprocess_env(home), check=True, capture_output=True)
    cmd = [sys.executable, "-m", "memlane", "consolidate", "--no-model"]
    proc = subprocess.Popen(cmd, env=memlane_subprocess_env(homes["killed"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = sqlite3.connect(str(homes["killed"] / "memlane.db"), timeout=30)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill while facts are being read, after some episodes
        done = db.execute("SELECT count(*) FROM episodes WHERE facts_done = 1").fetchone()[0]
        if done >= 3:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = db.execute("SELECT count(*) FROM episodes WHERE facts_done = 0").fetchone()[0]
    assert done >= 3 and left > 0, "the kill should land mid-run"
    for home in homes.values():
        subprocess.run(cmd, env=memlane_subprocess_env(home), check=True, capture_output=True)

    def shape(home: Path) -> tuple[Any, ...]:
        con = sqlite3.connect(str(home / "memlane.db"))
        return (
            con.execute("SELECT count(*), count(DISTINCT key) FROM episodes").fetchone(),
            sorted(con.execute("SELECT text, status FROM facts").fetchall()),
            con.execute("SELECT count(*) FROM messages m WHERE (SELECT count(*) FROM lineage l"
                        " WHERE l.source_kind = 'message' AND l.source_id = m.id"
                        " AND l.derived_kind = 'episode' AND l.derived_id IN"
                        " (SELECT id FROM episodes WHERE level = 'episode')) != 1").fetchone(),
            con.execute("SELECT count(*) FROM episodes WHERE facts_done = 0 AND kind = 'chat'")
            .fetchone(),
        )

    killed, whole = shape(homes["killed"]), shape(homes["whole"])
    assert killed == whole
    assert killed[0][0] == killed[0][1] == 60 + 6  # 60 chats, 6 day digests
    assert killed[2] == (0,) and killed[3] == (0,)
    assert len(killed[1]) == len(set(killed[1])) > 0


@pytest.mark.model
def test_real_model_consolidates_a_chat(tmp_path: Path, engine: Engine,
                                       model_store: ModelStore) -> None:
    pytest.importorskip("llama_cpp")
    from memlane.models.registry import resolve_model
    from memlane.models.runtime import ModelProcess

    chat(engine, "ana", 0, [
        ("Ana", "I just adopted a grey cat called Miso, she is two years old."),
        ("me", "Congrats! I'm planning a trip to Lisbon in June with my sister."),
        ("Ana", "I prefer tea over coffee these days, coffee keeps me awake."),
    ])
    info = resolve_model("default", model_store.seed(tmp_path / "models", "small"))
    with ModelProcess(info.path, info.name, context_size=2048) as model:
        report = Consolidator(engine.store, engine.sync_index, model, MemorySettings()).run(now=LATER)
    assert report.chat_episodes == 1 and report.model_calls >= 2
    (episode,) = ep.episodes_between(engine.store, None, None, level="episode")
    assert episode.summary  # the model's, or the extractive one when it was not usable
    found = fx.facts(engine.store)
    assert found, "the model's facts or the rules' fallback"
    for f in found:  # every fact is traceable to one of the chat's lines and its speaker
        (src,) = ep.sources_of(engine.store, "fact", [f.id])[f.id]
        said = engine.store.sql("SELECT speaker FROM messages WHERE id = ?",
                                [int(src["id"].split(":")[1])])[0][0]
        assert f.subject == said


def test_a_chat_forgotten_while_the_model_reads_it_leaves_no_fact(engine: Engine) -> None:
    """The app consolidates on its own lane while the person may forget: a fact the model
    read from a message forgotten meanwhile is not stored (the forget runs on another
    connection, as the app's engine lane does)."""
    from memlane.core.paths import Paths

    ids = chat(engine, "x", 0, [("Ana", "I live in Porto and work as a nurse.")])

    class ForgetsWhileReading(ScriptedModel):
        def stream(self, messages: Sequence[dict[str, str]], **kw: Any) -> Iterator[str]:
            if messages[0]["content"] == FACTS_SYSTEM:  # the person forgets the chat now
                with Engine(Paths(engine.paths.home), embedder=engine.embedder) as other:
                    other.forget(Scope(ids=(f"message:{ids[0]}",)))
            yield from super().stream(messages, **kw)

    model = ForgetsWhileReading()
    model.queues["facts"] = [facts_reply(("Ana lives in Porto", "fact", 1))]
    run(engine, model)
    assert fx.facts(engine.store) == []
    assert engine.store.sql("SELECT count(*) FROM lineage WHERE source_kind = 'message'"
                            " AND source_id = ?", [ids[0]])[0][0] == 0
