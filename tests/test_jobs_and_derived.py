"""The job queue survives restarts; episodes and facts are searched through the same hybrid path."""

from __future__ import annotations

import time
from pathlib import Path

from memlane.memory.jobs import JobQueue
from memlane.memory.store import Store
from memlane.services.engine import Engine


def test_jobs_survive_a_killed_worker(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    queue = JobQueue(Store(db), backoff_s=0.0)
    first = queue.enqueue("ocr", {"frame": 1}, dedupe_key="frame:1")
    assert first is not None
    assert queue.enqueue("ocr", {"frame": 1}, dedupe_key="frame:1") is None  # already pending
    queue.enqueue("ocr", {"frame": 2})
    job = queue.claim("ocr")
    assert job is not None and job.payload == {"frame": 1} and job.attempts == 1
    # the worker dies holding the job; a new process opens the same database
    again = JobQueue(Store(db), backoff_s=0.0)
    assert again.recover() == 1
    seen = []
    while (j := again.claim()) is not None:
        seen.append(j.payload["frame"])
        again.finish(j)
    assert sorted(seen) == [1, 2]
    assert again.counts() == {"done": 2}
    assert again.enqueue("ocr", {"frame": 1}, dedupe_key="frame:1") is not None  # done: may requeue


def test_failed_jobs_retry_then_give_up(tmp_path: Path) -> None:
    queue = JobQueue(Store(tmp_path / "q.db"), max_attempts=2, backoff_s=0.0)
    queue.enqueue("embed", {})
    job = queue.claim()
    assert job is not None
    queue.fail(job, "disk full")
    job = queue.claim()
    assert job is not None and job.attempts == 2
    queue.fail(job, "disk full")
    assert queue.claim() is None and queue.counts() == {"failed": 1}


def test_episodes_and_facts_are_searchable(engine: Engine) -> None:
    now = time.time()
    with engine.store.transaction() as conn:
        conn.execute(
            "INSERT INTO episodes (start, end, apps, titles, key_phrases, summary, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now - 600, now, '["firefox"]', '["Flights to Lisbon - TAP"]', "lisbon flights",
             "Compared flights to Lisbon", now),
        )
        conn.execute(
            "INSERT INTO facts (text, first_seen, last_confirmed) VALUES (?, ?, ?)",
            ("Prefers aisle seats on long flights", now, now),
        )
    hits = engine.search("flight to Lisbon").hits
    assert [h.kind for h in hits] == ["episode", "fact"]
    assert hits[0].app == "firefox" and hits[0].source == {"type": "episode", "episode_id": 1,
                                                  "episode_kind": "screen"}
    assert engine.search("Lisbon", app="firefox", kinds=("episode", "fact")).hits[0].kind == "episode"


def test_a_frame_that_kills_the_reader_three_times_is_given_up(engine: Engine) -> None:
    """A library crash takes the recorder down with the job in hand: after the third time the
    frame is marked unreadable instead of crashing every restart, and the frame stays."""
    import subprocess
    import sys

    from memlane.memory.records import FrameIn

    frame_id = engine.store.add_frame(FrameIn(
        time=time.time(), app="x", title="crashes the reader", image_path="frames/a.webp",
        thumb_path="thumbnails/a.webp", width=10, height=10, bytes=1, change_hash="0" * 16,
        content_sha256=None), ocr_job={"prev": None})
    die = ("import os, sys; from pathlib import Path; from memlane.core.paths import Paths;"
           "from memlane.services.engine import Engine;"
           "w = Engine(Paths(Path(sys.argv[1]))).ocr_worker(); w.recover();"
           "assert w.queue.claim('ocr') is not None; os.kill(os.getpid(), 9)")
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", die, str(engine.paths.home)], check=False)
        assert proc.returncode == -9
    worker = engine.ocr_worker()
    assert worker.recover() == 0
    assert worker.run_one() is False  # nothing left to crash on
    row = engine.store.sql("SELECT ocr, title FROM frames WHERE id = ?", [frame_id])
    assert row == [("failed", "crashes the reader")]
    assert engine.status()["capture"]["ocr_failed"] == 1
