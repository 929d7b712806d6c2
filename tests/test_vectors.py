"""Chroma is a derived index: no text inside, drift repaired on start, rebuilt by reindex."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memlane.app.engine import Engine
from memlane.app.paths import Paths
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
        eng.search("sourdough")  # first search repairs
        report = eng.repair()
        assert report.removed == 2  # the orphan and the vector of the deleted row
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
        hits = eng.search("marmalade stand").hits
        assert eng.index.count() == 3
        assert "marmalade" in hits[0].snippet


def test_reindex_rebuilds_from_sqlite(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = write_samples(tmp_path / "in")
    run("import-chat", str(files["locomo"]), str(files["text"]))
    before = run.json("search", "dog that opens the fridge")
    import shutil

    shutil.rmtree(run.home / "vectors")
    out = run("reindex").output
    assert "Re-embedded 6 record(s); the index holds 6 vector(s)." in out
    assert run.json("search", "dog that opens the fridge")[0]["id"] == before[0]["id"]
