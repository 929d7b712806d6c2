"""Migrations are named, ordered, recorded, and bring an old database forward with its data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from memlane.memory.migrations import MIGRATIONS, apply_migrations
from memlane.memory.store import Store


def test_fresh_database_has_every_migration(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    mode = store.sql("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    assert Store(tmp_path / "m.db").applied_migrations() == store.applied_migrations()


def test_old_schema_is_upgraded_with_its_data(tmp_path: Path) -> None:
    # GIVEN a database created by an old release, stopped after the first migration, with data
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    assert apply_migrations(db, upto="m001_frames_and_conversations") == [
        "m001_frames_and_conversations"
    ]
    db.execute("INSERT INTO conversations (source, external_id, title, created) VALUES ('text', 'c', 't', 0)")
    db.execute(
        "INSERT INTO messages (conversation_id, external_id, speaker, time, text)"
        " VALUES (1, 'm1', 'Ana', 0, 'the zeppelin museum in Friedrichshafen')"
    )
    db.conn.commit()
    db.conn.close()
    # WHEN the current release opens it
    store = Store(path)
    # THEN later migrations ran in order, and old rows are in the new full-text index
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert store.sql("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'zeppelin'") == [(1,)]
    assert store.counts()["messages"] == 1


def test_failed_migration_leaves_last_complete_step(tmp_path: Path) -> None:
    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "x.db"))
    apply_migrations(db, upto="m001_frames_and_conversations")
    db.execute("CREATE TABLE episodes (id INTEGER)")  # a clash makes m002 fail halfway
    db.conn.commit()
    try:
        apply_migrations(db)
    except sqlite3.OperationalError:
        pass
    names = [r[0] for r in db.execute("SELECT name FROM _migrations")]
    assert names == ["m001_frames_and_conversations"]
    assert "facts" not in db.table_names()


def test_replies_to_questions_are_embedded_again_after_upgrade(tmp_path: Path) -> None:
    # GIVEN a database from before replies were embedded with their question, all embedded
    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "old.db"))
    apply_migrations(db, upto="m009_message_speaker_index")
    db.execute("INSERT INTO conversations (source, external_id, title, created) VALUES ('text', 'c', 't', 0)")
    for i, text in enumerate(["Where to? ", "Porto.", "Nice!", "Why Porto?\n", "The ocean."]):
        db.execute("INSERT INTO messages (conversation_id, external_id, time, text, vec)"
                   " VALUES (1, ?, 5, ?, 1)", [f"m{i}", text])
    db.conn.commit()
    db.conn.close()
    # WHEN the current release opens it, THEN only the replies to questions wait for vectors
    store = Store(tmp_path / "old.db")
    assert store.sql("SELECT text FROM messages WHERE vec IS NULL ORDER BY id") == [
        ("Porto.",), ("The ocean.",)]
