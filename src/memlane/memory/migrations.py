"""The database schema as named, ordered migrations recorded in the ``_migrations`` table.

Each migration is a function ``mNNN_name()`` returning its SQL, registered in
:data:`MIGRATIONS` in order. On open, the store applies every migration whose name is not yet
recorded, each inside its own transaction, so an old database is brought forward step by step
and a crash mid-migration leaves it at the last complete step. Never edit a released migration:
add a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlite_utils

from memlane.core.text import CJK_TOKENIZE, FTS_TOKENIZE

Migration = Callable[[], str]
MIGRATIONS: list[tuple[str, Migration]] = []

# Tokenizer for every full-text index: Unicode-aware words, diacritics folded, Porter stemming.


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_frames_and_conversations() -> str:
    return """
        CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            time REAL NOT NULL,              -- seconds since the epoch (UTC)
            monitor INTEGER NOT NULL DEFAULT 0,
            app TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            image_path TEXT,                 -- relative to the home folder
            thumb_path TEXT,
            width INTEGER, height INTEGER,
            bytes INTEGER NOT NULL DEFAULT 0,
            change_hash TEXT,                -- perceptual hash used by change detection
            content_sha256 TEXT,             -- of the source pixels, for idempotent ingestion
            origin TEXT NOT NULL DEFAULT 'capture',
            vec INTEGER                      -- vectors written for this row; NULL = not yet
        );
        CREATE INDEX frames_time ON frames(time);
        CREATE INDEX frames_app ON frames(app, time);
        CREATE UNIQUE INDEX frames_content ON frames(content_sha256)
            WHERE content_sha256 IS NOT NULL;
        CREATE INDEX frames_vec ON frames(id) WHERE vec IS NULL;

        CREATE TABLE ocr_blocks (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,
            block INTEGER NOT NULL,
            text TEXT NOT NULL,
            words TEXT NOT NULL DEFAULT '[]', -- JSON [[word, left, top, width, height, conf], ...]
            confidence REAL
        );
        CREATE INDEX ocr_blocks_frame ON ocr_blocks(frame_id);

        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,            -- locomo, chatgpt, jsonl, text, assistant
            external_id TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            UNIQUE (source, external_id)
        );

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            external_id TEXT NOT NULL,       -- e.g. LoCoMo's D1:3
            speaker TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL DEFAULT 'user',
            time REAL NOT NULL,
            text TEXT NOT NULL,
            vec INTEGER,
            UNIQUE (conversation_id, external_id)
        );
        CREATE INDEX messages_time ON messages(time);
        CREATE INDEX messages_vec ON messages(id) WHERE vec IS NULL;
        """


@migration
def m002_derived_memory() -> str:
    return """
        CREATE TABLE episodes (
            id INTEGER PRIMARY KEY,
            level TEXT NOT NULL DEFAULT 'episode',   -- episode | day
            start REAL NOT NULL,
            end REAL NOT NULL,
            apps TEXT NOT NULL DEFAULT '[]',
            titles TEXT NOT NULL DEFAULT '[]',
            key_phrases TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            vec INTEGER
        );
        CREATE INDEX episodes_start ON episodes(start);
        CREATE INDEX episodes_vec ON episodes(id) WHERE vec IS NULL;

        CREATE TABLE facts (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            category TEXT NOT NULL DEFAULT 'fact',
            status TEXT NOT NULL DEFAULT 'current',  -- current | updated | retired
            valid_from REAL, valid_to REAL,
            first_seen REAL NOT NULL, last_confirmed REAL NOT NULL,
            confidence REAL NOT NULL DEFAULT 0.5,
            importance REAL NOT NULL DEFAULT 0.5,
            supersedes INTEGER REFERENCES facts(id),
            vec INTEGER
        );
        CREATE INDEX facts_vec ON facts(id) WHERE vec IS NULL;

        CREATE TABLE lineage (
            derived_kind TEXT NOT NULL, derived_id INTEGER NOT NULL,
            source_kind TEXT NOT NULL, source_id INTEGER NOT NULL,
            PRIMARY KEY (derived_kind, derived_id, source_kind, source_id)
        ) WITHOUT ROWID;
        CREATE INDEX lineage_source ON lineage(source_kind, source_id);
        """


@migration
def m003_housekeeping() -> str:
    return """
        CREATE TABLE deletion_log (
            id INTEGER PRIMARY KEY,
            time REAL NOT NULL,
            scope TEXT NOT NULL,     -- JSON description of what was asked, never content
            counts TEXT NOT NULL     -- JSON {kind: number removed}
        );

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            dedupe_key TEXT,
            state TEXT NOT NULL DEFAULT 'queued',    -- queued | running | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before REAL NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            error TEXT
        );
        CREATE INDEX jobs_ready ON jobs(state, not_before);
        CREATE UNIQUE INDEX jobs_dedupe ON jobs(kind, dedupe_key)
            WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');

        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """


# Text-bearing tables and the columns their FTS5 index covers.
FTS_TABLES: dict[str, list[str]] = {
    "messages": ["speaker", "text"],
    "ocr_blocks": ["text"],
    "frames": ["app", "title"],  # and url since m012
    "episodes": ["titles", "key_phrases", "summary"],
    "facts": ["text"],
    "conversations": ["title"],
}


def fts_sql(table: str, columns: list[str]) -> str:
    """An external-content FTS5 index over ``table`` kept in step by triggers."""
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    fts = f"{table}_fts"
    return f"""
        CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id',
            tokenize='{FTS_TOKENIZE}');
        INSERT INTO {fts}({fts}) VALUES ('rebuild');
        CREATE TRIGGER {table}_ai AFTER INSERT ON {table} BEGIN
            INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});
        END;
        CREATE TRIGGER {table}_ad AFTER DELETE ON {table} BEGIN
            INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});
        END;
        CREATE TRIGGER {table}_au AFTER UPDATE OF {cols} ON {table} BEGIN
            INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});
            INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});
        END;
    """


@migration
def m004_full_text() -> str:
    return "\n".join(fts_sql(table, columns) for table, columns in FTS_TABLES.items())


def apply_migrations(db: sqlite_utils.Database, *, upto: str | None = None) -> list[str]:
    """Apply pending migrations in order (stopping after ``upto`` if given); return their names."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied: list[str] = []
    for name, fn in MIGRATIONS:
        if name not in done:
            # One explicit transaction per step: the schema change and its record land together.
            record = f"INSERT INTO _migrations VALUES ('{name}', {time.time()!r})"
            script = f"BEGIN;\n{fn()};\n{record};\nCOMMIT;"
            try:
                db.conn.executescript(script)
            except BaseException:
                if db.conn.in_transaction:
                    db.conn.rollback()
                raise
            applied.append(name)
        if name == upto:
            break
    return applied


@migration
def m005_time_indexes_cover_vectors() -> str:
    # A filtered vector search lists the chunk ids of every record in a time range; with ``vec``
    # in the index that is an index-only scan (45 ms -> a few ms for 19k of 1M messages).
    return """
        CREATE INDEX messages_time_vec ON messages(time, vec);
        DROP INDEX messages_time;
        CREATE INDEX frames_time_vec ON frames(time, vec);
        DROP INDEX frames_time;
    """


@migration
def m006_frame_ocr_state() -> str:
    # Captured frames are stored first and read by OCR later (a job): until then their vectors
    # wait, so a frame is never embedded from its title alone while its text is on the way.
    return """
        ALTER TABLE frames ADD COLUMN ocr TEXT NOT NULL DEFAULT 'done';  -- pending | done | failed
        CREATE INDEX frames_monitor_time ON frames(monitor, time);
    """


@migration
def m007_message_meta() -> str:
    # What an answer from Memlane cited ({"citations": [{"n": 1, "id": "frame:12"}]}), so a chat
    # shown again after a restart still links each [n] to the memory it came from.
    return "ALTER TABLE messages ADD COLUMN meta TEXT"  # JSON; NULL when there is none


@migration
def m008_consolidation() -> str:
    # Episodes get an identity (so consolidation can be killed and re-run without duplicates),
    # a source kind, how their summary was made and whether facts were extracted from them;
    # episodes and facts get the counters the strength score (forgetting curve) reads.
    return """
        ALTER TABLE episodes ADD COLUMN kind TEXT NOT NULL DEFAULT 'screen';  -- screen | chat | day
        ALTER TABLE episodes ADD COLUMN key TEXT;
        CREATE UNIQUE INDEX episodes_key ON episodes(key);
        ALTER TABLE episodes ADD COLUMN summary_by TEXT NOT NULL DEFAULT 'extractive';  -- | model
        ALTER TABLE episodes ADD COLUMN facts_done INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE episodes ADD COLUMN importance REAL NOT NULL DEFAULT 0.5;
        ALTER TABLE episodes ADD COLUMN retrievals INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE episodes ADD COLUMN last_retrieved REAL;
        CREATE INDEX episodes_level_start ON episodes(level, start);
        ALTER TABLE facts ADD COLUMN subject TEXT NOT NULL DEFAULT '';
        ALTER TABLE facts ADD COLUMN retrievals INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE facts ADD COLUMN last_retrieved REAL;
        CREATE INDEX facts_status ON facts(status, importance);
    """


@migration
def m009_message_speaker_index() -> str:
    # Search finds the people a question names among the speakers ("what did Lena say about
    # Porto?") and weights their messages up; this keeps that lookup off a table scan.
    return "CREATE INDEX messages_speaker ON messages(speaker COLLATE NOCASE)"


@migration
def m010_replies_embedded_with_their_question() -> str:
    # A reply is now embedded a second time together with the question it answers (the
    # message before it, when that ends with "?"). The index finds that message by conversation
    # and time; replies already embedded are marked so the next sync embeds them again.
    return """
        CREATE INDEX messages_conversation_time ON messages(conversation_id, time);
        UPDATE messages SET vec = NULL WHERE vec IS NOT NULL AND rtrim((
            SELECT b.text FROM messages b WHERE b.conversation_id = messages.conversation_id
            AND (b.time, b.id) < (messages.time, messages.id)
            ORDER BY b.time DESC, b.id DESC LIMIT 1), ' ' || char(9, 10, 13)) LIKE '%?';
    """


def cjk_sql(table: str, columns: list[str]) -> str:
    """A contentless FTS5 index of the CJK character pairs of ``table`` (rows with CJK only).

    Triggers file ``memlane_cjk(column)`` (registered on every connection by ``memory/sql.py``)
    and remove exactly what they filed, so deleting a row leaves none of its words behind.
    """
    cols = ", ".join(columns)
    fts = f"{table}_cjk"

    def values(row: str) -> str:
        return ", ".join(f"memlane_cjk({row}.{c})" for c in columns)

    def has(row: str) -> str:
        return " OR ".join(f"memlane_cjk({row}.{c}) != ''" for c in columns)

    return f"""
        CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='', tokenize='{CJK_TOKENIZE}');
        INSERT INTO {fts}(rowid, {cols}) SELECT id, {values(table)} FROM {table}
            WHERE {has(table)};
        CREATE TRIGGER {table}_cjk_ai AFTER INSERT ON {table} WHEN {has("new")} BEGIN
            INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {values("new")});
        END;
        CREATE TRIGGER {table}_cjk_ad AFTER DELETE ON {table} WHEN {has("old")} BEGIN
            INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {values("old")});
        END;
        CREATE TRIGGER {table}_cjk_ud AFTER UPDATE OF {cols} ON {table} WHEN {has("old")} BEGIN
            INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {values("old")});
        END;
        CREATE TRIGGER {table}_cjk_ui AFTER UPDATE OF {cols} ON {table} WHEN {has("new")} BEGIN
            INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {values("new")});
        END;
    """


@migration
def m011_cjk_index() -> str:
    # Chinese, Japanese and Korean text becomes findable by any word of two or more characters
    # (core/text.py says how); the existing rows are filed once here.
    return "\n".join(cjk_sql(table, columns) for table, columns in FTS_TABLES.items())


@migration
def m012_frame_url() -> str:
    """The browser address a frame showed (its focused tab), searchable with app and title."""
    return (
        "ALTER TABLE frames ADD COLUMN url TEXT NOT NULL DEFAULT '';"
        " DROP TRIGGER IF EXISTS frames_ai; DROP TRIGGER IF EXISTS frames_ad;"
        " DROP TRIGGER IF EXISTS frames_au; DROP TABLE IF EXISTS frames_fts;"
        + fts_sql("frames", ["app", "title", "url"])
    )
