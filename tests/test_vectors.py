"""Chroma is a derived index: no text inside, drift repaired on start, rebuilt by reindex."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from memlane.core.paths import Paths
from memlane.memory.records import ConversationIn, MessageIn
from memlane.services.engine import Engine
from samples import write_samples


def _chroma_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (home / "vectors").rglob("*") if p.is_file())


def test_chroma_holds_no_text(engine: Engine, tmp_path: Path) -> None:
    files = write_samples(tmp_path / "in")
    engine.import_chat(files["locomo"])
    assert engine.index.count() == 3
    engine.close()
    blob = _chroma_bytes(engine.paths.home)
    assert b"greyhound" not in blob and b"Pixel" not in blob
    conn = sqlite3.connect(engine.paths.vectors / "chroma.sqlite3")
    keys = {r[0] for r in conn.execute("SELECT DISTINCT key FROM embedding_metadata")}
    assert keys <= {"kind", "time", "app", "chroma:document"}
    docs = conn.execute(
        "SELECT count(*) FROM embedding_metadata WHERE key = 'chroma:document'"
    ).fetchone()[0]
    assert docs == 0


def test_start_up_repairs_drift(home: Path, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = write_samples(tmp_path / "in")
    with Engine(Paths(home), embedder=embedder) as eng:
        eng.import_chat(files["chatgpt"])
        eng.import_chat(files["jsonl"])
        total = eng.index.count()
        assert total == 6
        # a vector lost (crash between the two stores) and an orphan vector (row deleted)
        eng.index.delete(["message:1:0"])
        eng.index.add_documents([_orphan(eng)])
        assert eng.index.count() == total
        eng.store.sql("SELECT 1")
        with eng.store.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE id = 2")
    with Engine(Paths(home), embedder=embedder) as eng:
        # the first search drops the orphan and the vector of the deleted row, and marks the
        # lost one for embedding without waiting for it
        result = eng.search("sourdough")
        assert eng.index.count() == total - 2
        assert result.pending == 1
        report = eng.repair()  # what a writer does: embeds the backlog
        assert report.embedded == 1
        assert eng.index.count() == total - 1
        assert eng.index.all_ids() == set(eng.store.expected_vector_ids())


def _orphan(eng: Engine):  # type: ignore[no-untyped-def]
    from memlane.memory.records import Document

    return Document("message", 999, ("a record that no longer exists",), 0.0, "")


def test_rows_written_without_vectors_are_embedded_on_start(home: Path, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from memlane.memory.chat_import import parse_chat_file

    files = write_samples(tmp_path / "in")
    with Engine(Paths(home), embedder=embedder) as eng:
        eng.store.import_conversations(parse_chat_file(files["text"]))  # killed before embedding
        assert eng.store.count_unembedded() == 3
    with Engine(Paths(home), embedder=embedder) as eng:
        result = eng.search("marmalade stand")  # answers at once, by keywords
        assert "marmalade" in result.hits[0].snippet
        assert result.pending == 3 and eng.index.count() == 0
        assert eng.repair().embedded == 3  # the next writer embeds them
        assert eng.index.count() == 3 and eng.search("marmalade stand").pending == 0


def test_reindex_rebuilds_from_sqlite(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = write_samples(tmp_path / "in")
    run("import-chat", str(files["locomo"]), str(files["text"]))
    before = run.json("search", "dog that opens the fridge")
    import shutil

    shutil.rmtree(run.home / "vectors")
    out = run("reindex").output
    assert "Re-embedded 6 record(s); the index holds 6 vector(s)." in out
    assert run.json("search", "dog that opens the fridge")[0]["id"] == before[0]["id"]


def _exact(engine: Engine, query: str, since: float, until: float, limit: int) -> list[int]:
    """Brute-force cosine ranking of the in-range messages, the reference for the index."""
    rows = engine.store.sql(
        "SELECT id, speaker || ': ' || text FROM messages WHERE time >= ? AND time < ?",
        [since, until],
    )
    vecs = engine.embedder.embed([t for _, t in rows])
    q = engine.embedder.embed([query])[0]
    order = np.argsort(-(vecs @ q))
    return [int(rows[i][0]) for i in order[:limit]]


def test_filtered_vector_search_is_exact_on_every_path(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = ["flight to Lisbon", "dentist appointment", "guitar lesson", "tax refund",
              "birthday gift for Sam", "server deploy failed", "sushi dinner", "marathon training"]
    day = 86400.0
    t0 = 1_700_000_000.0
    msgs = tuple(
        MessageIn(str(i), "me", f"{topics[i % len(topics)]} note {i}", t0 + i * day)
        for i in range(600)
    )
    engine.store.import_conversations([ConversationIn("jsonl", "many", "many", t0, msgs)])
    engine.index.sync()
    since, until = t0 + 100 * day, t0 + 130 * day  # 30 of 600 records: too few in the top 400
    expected = _exact(engine, "flying to Portugal", since, until, 5)
    calls: list[dict[str, object]] = []
    real = engine.index._nearest_chunks

    def spy(*args: object, **kwargs: object) -> tuple[list[tuple[str, int, float]], int]:
        calls.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.index, "_nearest_chunks", spy)
    monkeypatch.setattr(engine.index, "MIN_FETCH", 40)  # as if the store were much larger
    got = engine.index.search("flying to Portugal", limit=5, since=since, until=until)
    assert [r for _, r, _ in got] == expected
    assert "ids" in calls[-1]  # searched among the store's candidates
    calls.clear()
    monkeypatch.setattr(engine.index, "ID_CAP", 10)  # too many candidates -> Chroma's filter
    got = engine.index.search("flying to Portugal", limit=5, since=since, until=until)
    assert [r for _, r, _ in got] == expected and "where" in calls[-1]
    # a broad filter is served from the over-fetched neighbours, without either
    calls.clear()
    monkeypatch.setattr(engine.index, "MIN_FETCH", 400)
    wide = engine.index.search("flying to Portugal", limit=5, since=t0, until=t0 + 500 * day)
    assert [r for _, r, _ in wide] == _exact(engine, "flying to Portugal", t0, t0 + 500 * day, 5)
    assert len(calls) == 1 and "ids" not in calls[0] and "where" not in calls[0]


def test_candidate_search_survives_a_missing_vector(engine: Engine) -> None:
    t0 = 1_700_000_000.0
    msgs = tuple(MessageIn(str(i), "me", f"entry number {i} about hiking", t0 + i * 3600.0)
                 for i in range(500))
    engine.store.import_conversations([ConversationIn("jsonl", "hikes", "hikes", t0, msgs)])
    engine.index.sync()
    engine.index.delete(["message:20:0"])  # drift that start-up has not repaired yet
    got = engine.index.search("hiking", limit=5, since=t0, until=t0 + 30 * 3600.0)
    assert got and all(1 <= r <= 30 and r != 20 for _, r, _ in got)


def _chat_with_a_question(eng: Engine) -> dict[str, int]:
    said = [("Lena", "How was the dentist? What are your plans for the summer?"),
            ("Ana", "Researching adoption agencies, it has been a dream for years."),
            ("Lena", "That sounds lovely."),
            ("Ana", "My laptop battery died again.")]
    eng.store.import_conversations([ConversationIn("jsonl", "c1", "chat", 0.0, tuple(
        MessageIn(f"m{i}", who, text, 1000.0 + i) for i, (who, text) in enumerate(said)))])
    eng.index.sync()
    return {text.split()[0]: int(r) for r, text in eng.store.sql("SELECT id, text FROM messages")}


def test_a_reply_is_embedded_with_the_question_it_answers(engine: Engine) -> None:
    from memlane.memory.vectors import documents

    ids = _chat_with_a_question(engine)
    reply, = documents(engine.store, "message", [ids["Researching"]])
    assert reply.chunks == (
        "Ana: Researching adoption agencies, it has been a dream for years.",
        "Lena: What are your plans for the summer?\n"
        "Ana: Researching adoption agencies, it has been a dream for years.",
    )
    others = documents(engine.store, "message", [ids["How"], ids["That"], ids["My"]])
    assert [len(d.chunks) for d in others] == [1, 1, 1]
    assert engine.index.count() == 5
    # the reply's own words never say "summer plans"; with its question it is found by them
    found = engine.index.search("Ana's summer plans", limit=4, kinds=("message",))
    by_id = {rowid: dist for _, rowid, dist in found}
    own = engine.embedder.embed([reply.chunks[0]])[0]
    query = engine.embedder.embed(["Ana's summer plans"])[0]
    assert by_id[ids["Researching"]] < 1 - float(np.dot(own, query)) - 0.1
    assert by_id[ids["Researching"]] < by_id[ids["My"]] - 0.1


def test_a_message_merged_in_before_a_reply_rewrites_the_replys_vectors(
        engine: Engine, tmp_path: Path) -> None:
    # Two exports of one chat: the later one first, then an older, fuller one holding the
    # question the reply answered, and then a newer one holding a remark between them.
    def export(name: str, rows: list[tuple[str, str, str, float]]) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(json.dumps({"id": i, "speaker": who, "text": text,
                                               "time": t, "conversation": "c1"})
                                   for i, who, text, t in rows))
        return path

    reply = ("r", "Ana", "Researching adoption agencies, it has been a dream for years.", 1002.0)
    engine.import_chat(export("a.jsonl", [("a", "Ana", "My laptop battery died.", 1000.0), reply]))
    (rid,) = engine.store.sql("SELECT id FROM messages WHERE external_id = 'r'")[0]
    assert engine.index.count() == 2
    engine.import_chat(export("b.jsonl", [
        ("q", "Lena", "What are your plans for the summer?", 1001.0), reply]))
    assert f"message:{rid}:1" in engine.index.all_ids()  # now embedded with its question
    found = {r: d for _, r, d in engine.index.search("Ana's summer plans", limit=3,
                                                      kinds=("message",))}
    own, query = engine.embedder.embed([f"Ana: {reply[2]}", "Ana's summer plans"])
    assert found[rid] < 1 - float(np.dot(own, query)) - 0.1
    engine.import_chat(export("c.jsonl", [("x", "Lena", "Ok.", 1001.5), reply]))
    # "Ok." is not a question: the vector that held "summer" is gone, nothing else is left over
    assert f"message:{rid}:1" not in engine.index.all_ids()
    assert engine.index.all_ids() == set(engine.store.expected_vector_ids())
    assert engine.store.count_unembedded() == 0


def test_forgetting_a_question_rewrites_the_vectors_of_its_reply(engine: Engine) -> None:
    from memlane.memory.forget import Scope

    ids = _chat_with_a_question(engine)
    engine.forget(Scope(ids=(f"message:{ids['How']}",)))
    # no vector is left that embedded the forgotten question
    assert f"message:{ids['Researching']}:1" not in engine.index.all_ids()
    assert engine.index.all_ids() == set(engine.store.expected_vector_ids())
    assert engine.index.count() == 3
    assert engine.store.count_unembedded() == 0
