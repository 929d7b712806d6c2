"""Retention thins old frames (or forgets them when told), and the recorder's upkeep runs it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from memlane.core.paths import Paths
from memlane.core.settings import Settings
from memlane.memory.jobs import JobQueue
from memlane.memory.records import ConversationIn, FrameIn, MessageIn, OcrBlockIn
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine
from memlane.services.recorder import RecorderRun, TickReport
from memlane.services.upkeep import CONSOLIDATED_KEY, RETENTION_KEY, Upkeep

NOW = time.time()
DAY = 86400.0


def add(engine: Engine, i: int, age_days: float, text: str, size: int = 1000,
        pending: bool = False) -> int:
    image, thumb = f"frames/f{i}.webp", f"thumbnails/t{i}.webp"
    for rel in (image, thumb):
        (engine.paths.home / rel).parent.mkdir(parents=True, exist_ok=True)
        (engine.paths.home / rel).write_bytes(b"x" * size)
    frame_id = engine.store.add_frame(
        FrameIn(NOW - age_days * DAY, "Firefox", f"page {i}", image, thumb, 10, 10, size,
                f"h{i}", None, blocks=(OcrBlockIn(0, text),)),
        ocr_job={} if pending else None)
    assert frame_id is not None
    return frame_id


def state(engine: Engine, frame_id: int) -> tuple[str | None, bool, bool, int]:
    image, thumb = engine.store.sql("SELECT image_path, thumb_path FROM frames WHERE id = ?",
                                    [frame_id])[0]
    blocks = engine.store.sql("SELECT count(*) FROM ocr_blocks WHERE frame_id = ?", [frame_id])
    return (image, (engine.paths.home / f"frames/f{frame_id}.webp").exists(),
            (engine.paths.home / thumb).exists(), int(blocks[0][0]))


def test_age_limit_thins_images_and_keeps_thumbnails_and_text(engine: Engine) -> None:
    old = add(engine, 1, 40, "ancient receipt pineapple")
    pending = add(engine, 2, 40, "", pending=True)
    new = add(engine, 3, 1, "fresh receipt mango")
    engine.settings.retention.frames_days = 30
    report = engine.apply_retention(NOW)
    assert (report.images_removed, report.bytes_freed, report.frames_forgotten) == (1, 1000, 0)
    assert state(engine, old) == (None, False, True, 1)
    assert state(engine, pending)[0] is not None   # still to be read by OCR: untouched
    assert state(engine, new)[0] == "frames/f3.webp"
    (scope, counts), = engine.store.sql("SELECT scope, counts FROM deletion_log")
    assert json.loads(scope)["retention"] == "age" and json.loads(counts) == {"frame_images": 1}
    engine.index.sync()
    hits = engine.search("pineapple receipt").hits
    assert hits and hits[0].id == f"frame:{old}"  # the text is still found
    assert engine.apply_retention(NOW).images_removed == 0  # nothing more to do, nothing logged
    assert len(engine.store.sql("SELECT * FROM deletion_log")) == 1


def test_size_budget_thins_the_oldest_first(engine: Engine) -> None:
    ids = [add(engine, i, 10 - i, f"page {i} words", size=1000) for i in range(1, 6)]
    engine.settings.retention.frames_max_gb = 2500 / 1e9
    report = engine.apply_retention(NOW)
    assert report.images_removed == 3
    assert [state(engine, i)[0] is None for i in ids] == [True, True, True, False, False]


def test_without_keep_text_old_frames_are_forgotten_entirely(engine: Engine) -> None:
    old = add(engine, 1, 40, "ancient receipt pineapple")
    new = add(engine, 2, 1, "fresh receipt mango")
    engine.store.import_conversations([ConversationIn("jsonl", "c", "c", 0, (
        MessageIn("m1", "me", "an old message about pineapples", NOW - 90 * DAY),))])
    engine.settings.retention.frames_days = 30
    engine.settings.retention.keep_text = False
    report = engine.apply_retention(NOW)
    assert report.frames_forgotten == 1
    assert engine.store.sql("SELECT id FROM frames") == [(new,)]
    assert not (engine.paths.home / "thumbnails/t1.webp").exists()
    assert engine.store.counts()["messages"] == 1  # retention is about frames only
    assert old not in [r[0] for r in engine.store.sql("SELECT frame_id FROM ocr_blocks")]


def test_recorder_upkeep_consolidates_when_idle_and_applies_retention(
    tmp_path: Path, embedder: OnnxEmbedder,
) -> None:
    settings = Settings()
    settings.memory.use_model = False
    settings.retention.frames_days = 30
    with Engine(Paths(tmp_path / "home"), settings, embedder=embedder) as engine:
        add(engine, 1, 40, "ancient receipt pineapple")
        add(engine, 2, 2, "flight to Lisbon 89 EUR")
        recording = RecorderRun()
        recording.add(TickReport(NOW, "recording", "", [], 0, 0))
        upkeep = Upkeep(engine.settings.memory,
                        lambda: recording.last.state if recording.last else None,
                        engine.for_thread)
        upkeep.started = NOW - 3600  # the recorder has run for an hour
        assert not upkeep.consolidation_due(engine.store, NOW)  # busy, never run: not yet
        assert upkeep.consolidation_due(engine.store, NOW + 7 * 3600)  # ... unless 6 h passed
        recording.add(TickReport(NOW, "idle", "", [], 0, 0))  # idle: now
        assert upkeep.consolidation_due(engine.store, NOW)
        jobs = JobQueue(engine.store)
        for key in ("old", "new"):  # finished OCR jobs: the one done two days ago is cleared
            job = jobs.claim() if jobs.enqueue("ocr", {}, key) else None
            assert job is not None
            jobs.finish(job)
        engine.store.db.execute("UPDATE jobs SET updated = ? WHERE dedupe_key = 'old'",
                                [time.time() - 2 * 86400])
        engine.store.db.conn.commit()
        upkeep.run(NOW)
        assert [r[0] for r in engine.store.sql("SELECT dedupe_key FROM jobs")] == ["new"]
        assert engine.store.counts()["episodes"] == 2 + 2  # two screen episodes, two digests
        assert engine.store.get_state(CONSOLIDATED_KEY) == str(NOW)
        assert engine.store.get_state(RETENTION_KEY) == str(NOW)
        assert engine.store.sql("SELECT count(*) FROM frames WHERE image_path IS NULL") == [(1,)]
        assert not upkeep.consolidation_due(engine.store, NOW + 60)  # ran a minute ago
