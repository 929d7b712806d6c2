"""Hybrid search: keyword and semantic matches, filters by time/app/kind, sources, batch mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memlane.memory.retrieval import fts_query, snippet

ROWS = [
    ("2024-05-06T09:00:00", "me", "Booked a table at the Ethiopian restaurant for Friday", "food"),
    ("2024-05-07T18:30:00", "me", "The injera at that place was fantastic", "food"),
    ("2024-05-20T08:00:00", "Sam", "Bring the hiking boots for the Dolomites trip", "trip"),
    ("2024-06-02T12:00:00", "Sam", "The cable car to Seceda closes at five", "trip"),
    ("2024-06-03T12:00:00", "Lee", "Quarterly tax return is due next week", "admin"),
]


@pytest.fixture
def memory(run, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "chat.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"time": t, "speaker": s, "text": x, "conversation": c}) for t, s, x, c in ROWS
        )
    )
    run("import-chat", str(path))
    return run


def test_keyword_and_semantic_matches(memory) -> None:  # type: ignore[no-untyped-def]
    hits = memory.json("search", "injera")
    assert hits[0]["snippet"].startswith("me: The injera")
    # no shared word: only the embedding can connect "mountain walking" to hiking boots
    hits = memory.json("search", "mountain walking gear", "--limit", "2")
    assert "hiking boots" in hits[0]["snippet"]
    assert {"id", "kind", "time", "app", "title", "snippet", "score", "source"} == set(hits[0])
    assert hits[0]["score"] >= hits[-1]["score"]


def test_time_expression_and_explicit_range_filter(memory) -> None:  # type: ignore[no-untyped-def]
    hits = memory.json("search", "what did we plan in May 2024", "--now", "2024-07-01T00:00:00")
    assert hits and all(h["time"].startswith("2024-05") for h in hits)
    hits = memory.json("search", "trip two days ago", "--now", "2024-06-04T10:00:00")
    assert [h["snippet"] for h in hits] == ["Sam: The cable car to Seceda closes at five"]
    hits = memory.json("search", "restaurant", "--since", "2024-05-07", "--until", "2024-05-31")
    assert all("2024-05-07" <= h["time"][:10] <= "2024-05-31" for h in hits)
    assert not any("Ethiopian" in h["snippet"] for h in hits)


def test_app_and_kind_filters(memory) -> None:  # type: ignore[no-untyped-def]
    hits = memory.json("search", "tax return", "--app", "jsonl")
    assert hits and all(h["app"] == "jsonl" for h in hits)
    assert memory.json("search", "tax return", "--app", "firefox") == []
    assert memory.json("search", "tax return", "--kind", "frame") == []
    assert memory.json("search", "tax return", "--kind", "message")[0]["kind"] == "message"


def test_batch_prints_one_json_line_per_query(memory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        json.dumps({"query": "injera"}) + "\n"
        + json.dumps({"query": "yesterday", "now": "2024-06-04T09:00:00"}) + "\n"
    )
    lines = memory("search", "--batch", str(batch)).stdout.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(x) for x in lines)
    assert "injera" in first[0]["snippet"]
    assert [h["time"][:10] for h in second] == ["2024-06-03"]


def test_text_output_and_empty_result(memory) -> None:  # type: ignore[no-untyped-def]
    out = memory("search", "Seceda").output
    assert "cable car" in out and "message:" in out and "<- trip" in out
    assert "No memories found." in memory("search", "zzzz", "--kind", "fact").output
    assert memory("search", ok=False).exit_code == 2


def test_fts_query_and_snippet_helpers() -> None:
    assert fts_query('What is "the" best-rated pizza?') == '"best" OR "rated" OR "pizza"'
    assert fts_query("the") == '"the"'
    text = " ".join(f"w{i}" for i in range(100)) + " zebra " + " ".join("x" * 3 for _ in range(50))
    piece = snippet(text, "zebra", width=10)
    assert "zebra" in piece and piece.startswith("... ")


def test_time_filter_is_exact_when_rows_arrive_out_of_time_order(engine) -> None:  # type: ignore[no-untyped-def]
    # An old export imported after newer chats: rowids no longer follow time, and the FTS
    # rowid span used to narrow the scan must still not hide or admit anything wrongly.
    from memlane.memory.records import ConversationIn, MessageIn

    new = tuple(MessageIn(str(i), "me", f"kayak trip plan {i}", 1_700_000_000.0 + i * 60)
                for i in range(20))
    old = tuple(MessageIn(str(i), "me", f"kayak rental receipt {i}", 1_500_000_000.0 + i * 60)
                for i in range(20))
    middle = (MessageIn("m", "me", "kayak paddle broke", 1_600_000_000.0),)
    engine.store.import_conversations([ConversationIn("jsonl", "new", "new", 0, new)])
    engine.store.import_conversations([ConversationIn("jsonl", "old", "old", 0, old + middle)])
    kw = engine.retriever.keyword("kayak", limit=100, since=1_500_000_000.0,
                                  until=1_500_000_000.0 + 10 * 60)
    texts = {h.snippet for h in engine.store.hits([(k, r) for k, r, _ in kw]).values()}
    assert texts == {f"me: kayak rental receipt {i}" for i in range(10)}
    kw = engine.retriever.keyword("kayak", limit=100, since=1_550_000_000.0,
                                  until=1_650_000_000.0)
    assert len(kw) == 1


def test_a_named_speaker_weighs_up_their_own_messages(engine) -> None:  # type: ignore[no-untyped-def]
    # "What did Melanie make?" is about Melanie's memory: her message ranks above a closer
    # keyword match by someone else, and her name is not part of the semantic query.
    from memlane.memory.records import ConversationIn, MessageIn
    from memlane.memory.retrieval import name_candidates, speakers_among, without_names

    msgs = (
        MessageIn("1", "Caroline", "Made a stained glass window for the local church last week.",
                  1_700_000_000.0),
        MessageIn("2", "Melanie", "I made a clay bowl for our church bazaar.", 1_700_000_060.0),
        MessageIn("3", "Melanie", "The kids loved the beach.", 1_700_000_120.0),
    )
    engine.store.import_conversations([ConversationIn("jsonl", "c", "c", 0, msgs)])
    engine.index.sync()
    question = "What did melanie's family make for the local church?"
    assert speakers_among(engine.store, name_candidates(question)) == ["Melanie"]
    assert without_names(question, ["Melanie"]) == "What did family make for the local church?"
    engine.retriever.settings.speaker_weight = 0.0
    assert engine.search(question).hits[0].speaker == "Caroline"
    engine.retriever.settings.speaker_weight = 1.0
    hits = engine.search(question).hits
    assert hits[0].speaker == "Melanie" and "clay bowl" in hits[0].snippet
    assert engine.search("Which window did Caroline make?").hits[0].speaker == "Caroline"


def test_questions_to_memlane_are_found_only_when_asked_for(memory, home: Path) -> None:  # type: ignore[no-untyped-def]
    from memlane.memory.records import ASSISTANT_SOURCE, ConversationIn, MessageIn
    from memlane.memory.store import Store

    store = Store(home / "memlane.db")
    store.import_conversations([ConversationIn(ASSISTANT_SOURCE, "ask-2024-06-04",
                                               "Questions to Memlane, 2024-06-04", 1717488000.0, (
        MessageIn("q", "me", "What about the injera place?", 1717488000.0, "user"),
        MessageIn("a", "Memlane", "The injera was fantastic [1].", 1717488001.0, "assistant"),
    ))])
    store.close()
    memory("reindex")
    hits = memory.json("search", "injera", "--limit", "10")
    assert hits and all(h["app"] != ASSISTANT_SOURCE for h in hits)  # what you saw and said
    asked = memory.json("search", "injera", "--app", ASSISTANT_SOURCE)
    assert {h["snippet"].split(":")[0] for h in asked} >= {"me", "Memlane"}


def test_the_shell_searches_and_knows_its_commands(memory) -> None:  # type: ignore[no-untyped-def]
    out = memory("shell", input="injera\n:help\n:nope\n:quit\nnever reached\n").output
    assert "The injera at that place was fantastic" in out
    assert ":ask QUESTION" in out and "Unknown command :nope" in out
    assert "never reached" not in out and out.count("No memories found.") == 0


def test_highlight_stems_are_the_index_terms() -> None:
    """A word is highlighted exactly when full-text search matched it: the same stemmer."""
    from memlane.core.text import stem

    for a, b in [("flight", "Flights"), ("match", "matches"), ("day", "days"),
                 ("menu", "menus"), ("agree", "agreeing"), ("book", "booked"),
                 ("café", "Cafe")]:
        assert stem(a) == stem(b), (a, b)
    assert stem("flight") != stem("fight")
