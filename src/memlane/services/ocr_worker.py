"""The OCR worker: works off the ``ocr`` jobs that captured frames carry.

:class:`OcrWorker` claims a job, reads the frame (its lossless spool copy when still there),
re-reads only changed regions when the previous frame's text can be re-used, redacts sensitive
words in the text and paints them out of the image and thumbnail (image first, so a crash can only
repeat work), then replaces the frame's text and closes the job in one transaction: killed
anywhere, a restart finishes the backlog exactly once. Results are indexed for semantic search
unless the index lives in memory (then the process that searches indexes them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from memlane.capture.load import Yield, release_memory
from memlane.capture.ocr import (
    OcrBlock,
    OcrEngine,
    OcrResult,
    OcrWord,
    paint_out,
    read_changed,
    redact,
    scrolled,
)
from memlane.core.errors import MemlaneError
from memlane.core.launch import module_command
from memlane.core.settings import Settings
from memlane.memory.frames import FrameFiles
from memlane.memory.jobs import Job, JobQueue
from memlane.memory.records import OcrBlockIn
from memlane.memory.store import Store
from memlane.services.ingest import ocr_blocks

log = logging.getLogger(__name__)
# Re-read only the changed regions when they cover less than this share of the frame.
REUSE_MAX_SHARE = 0.6
# Why OCR is waiting ("on battery", "the machine is busy"), for status; absent while it works.
WAITING_KEY = "ocr.waiting"


def _blocks_from_store(blocks: list[OcrBlockIn]) -> list[OcrBlock]:
    return [
        OcrBlock(
            b.block, b.text,
            tuple(OcrWord(str(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4]), float(w[5]))
                  for w in b.words),
            b.confidence,
        )
        for b in blocks
    ]


class Handoff:
    """Captured frames' pixels passed from the tick thread to the OCR thread in memory.

    A frame handed over this way is encoded once (its lossy WebP and thumbnail) instead of also
    being written as a lossless copy for OCR. It holds at most ``capacity`` frames; when it is
    full the recorder writes the lossless copy as before. A killed recorder loses what was
    here, and OCR then reads the stored frame instead: nothing stored is lost.
    """

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._images: dict[int, Image.Image] = {}
        self._lock = threading.Lock()

    def full(self) -> bool:
        with self._lock:
            return len(self._images) >= self.capacity

    def put(self, frame_id: int, image: Image.Image) -> None:
        with self._lock:
            self._images[frame_id] = image

    def take(self, frame_id: int) -> Image.Image | None:
        with self._lock:
            return self._images.pop(frame_id, None)


@dataclass
class OcrOutcome:
    frame_id: int
    words: int
    reused: int
    redacted: int
    seconds: float


class OcrWorker:
    """Works off ``ocr`` jobs: reads each frame with ``ocr``, redacts, stores the text in ``store``.

    ``index_sync`` embeds what was read; ``None`` where the index lives in another process (an
    in-memory index is the app's, never the recorder's). In :meth:`loop` it runs in batches:
    after ``index_batch`` frames, or once the queue is empty and ``index_every_s`` have passed
    since the last run (text search finds a frame as soon as its text is stored). ``pacing``
    makes the loop wait while the person needs the machine. The engine builds workers.
    """

    def __init__(self, store: Store, files: FrameFiles, ocr: OcrEngine, settings: Settings,
                 index_sync: Callable[[], object] | None, *,
                 on_done: Callable[[OcrOutcome], None] | None = None,
                 pacing: Yield | None = None, index_batch: int = 32,
                 index_every_s: float = 60.0):
        self.store = store
        self.files = files
        self.ocr = ocr
        self.settings = settings
        self.index_sync = index_sync
        self.queue = JobQueue(store, max_attempts=3, backoff_s=10.0)
        self.on_done = on_done
        self.pacing = pacing
        self.index_batch = index_batch
        self.index_every_s = index_every_s
        self.handoff: Handoff | None = None  # set by the recorder that shares this process
        self._unindexed = 0
        self._indexed_at = time.monotonic()
        self._waiting = ""
        self._idle_since: float | None = None
        self.unload_after_s: float | None = None  # the recorder's worker unloads when idle

    def backlog(self) -> int:
        counts = self.queue.counts()
        return counts.get("queued", 0) + counts.get("running", 0)

    def run_one(self) -> OcrOutcome | bool | None:
        """Do one job: its outcome, ``None`` if it failed, ``False`` when there was none."""
        job = self.queue.claim("ocr")
        if job is None:
            return False
        try:
            outcome = self._process(job)
        except MemlaneError as exc:
            self._failed(job, str(exc))
            return None
        except Exception as exc:  # a bug or a tesseract crash: keep the worker alive
            log.exception("OCR of a frame failed")
            self._failed(job, f"{type(exc).__name__}: {exc}")
            return None
        if outcome is not None and self.on_done:
            self.on_done(outcome)
        return outcome

    def recover(self) -> int:
        """After a killed process: requeue its jobs, and give up on frames that crashed it
        every time (they keep their image and title; status counts them as unreadable)."""
        requeued = self.queue.recover()
        for (payload,) in self.store.sql(
            "SELECT j.payload FROM jobs j JOIN frames f ON j.dedupe_key = 'frame:' || f.id"
            " WHERE j.kind = 'ocr' AND j.state = 'failed' AND f.ocr = 'pending'"
        ):
            self._give_up(int(json.loads(payload).get("frame_id", 0)))
        return requeued

    def _failed(self, job: Job, error: str) -> None:
        self.queue.fail(job, error)
        if job.attempts >= self.queue.max_attempts:
            self._give_up(int(job.payload.get("frame_id", 0)))

    def _give_up(self, frame_id: int) -> None:
        with contextlib.suppress(MemlaneError):  # embedded by its title from now on
            self.store.complete_ocr(frame_id, (), job_id=None, state="failed")
            frame = self.store.frame_for_ocr(frame_id)
            if frame is not None:
                self.files.drop_spool(frame["image_path"])

    def _process(self, job: Job) -> OcrOutcome | None:
        start = time.perf_counter()
        store, files = self.store, self.files
        frame_id = int(job.payload["frame_id"])
        frame = store.frame_for_ocr(frame_id)
        if frame is None or frame["ocr"] == "done":  # forgotten meanwhile, or done already
            self.queue.finish(job)
            if frame is not None:
                files.drop_spool(frame["image_path"])
            return None
        image = self.handoff.take(frame_id) if self.handoff is not None else None
        if image is None:
            image = files.read_for_ocr(frame["image_path"])
        result, reused = self._read(image, job.payload)
        boxes: list[tuple[str, tuple[int, int, int, int]]] = []
        if self.settings.privacy.redact:
            result, boxes = redact(result)
        size = None
        if boxes:
            paint_out(image, [b for _, b in boxes])
            size = files.rewrite(frame["image_path"], frame["thumb_path"], image)
        store.complete_ocr(frame_id, ocr_blocks(result), job_id=job.id, image_bytes=size)
        files.drop_spool(frame["image_path"])  # a crash before this leaves it to the sweep
        if boxes:
            log.info("redacted %d words in frame %d (%s)", len(boxes), frame_id,
                     ", ".join(sorted({k for k, _ in boxes})))
        return OcrOutcome(frame_id, result.word_count, reused, len(boxes),
                          time.perf_counter() - start)

    def _read(self, image: Image.Image, payload: dict[str, Any]) -> tuple[OcrResult, int]:
        ocr = self.ocr
        prev_id, changed = payload.get("prev"), payload.get("changed")
        if self.settings.capture.ocr_reuse and prev_id and changed:
            prev = self.store.frame_for_ocr(int(prev_id))
            area = sum(int(w) * int(h) for _, _, w, h in changed)
            if (
                prev is not None and prev["ocr"] == "done"
                and (prev["width"], prev["height"]) == image.size
                and area < REUSE_MAX_SHARE * image.width * image.height
            ):
                previous = _blocks_from_store(self.store.ocr_blocks(int(prev_id)))
                rects = [(int(x), int(y), int(w), int(h)) for x, y, w, h in changed]
                scroll = payload.get("scroll")
                if scroll:
                    bands = [(int(x), int(y), int(w), int(h)) for x, y, w, h in scroll[1]]
                    previous, again = scrolled(previous, int(scroll[0]), bands)
                    rects += again
                return read_changed(ocr, image, previous, rects)
        return ocr.read(image), 0

    def drain(self, stop: threading.Event | None = None,
              progress: Callable[[int], None] | None = None) -> int:
        """Work off every ready job (and index the results); return how many were done."""
        done = 0
        while not (stop and stop.is_set()):
            result = self.run_one()
            if result is False:
                break
            done += 1
            if progress:
                progress(1)
            if done % 8 == 0:
                self._index()
        self._index()
        return done

    def _index(self) -> None:
        if self.index_sync is not None:
            self.index_sync()

    def loop(self, stop: threading.Event, idle_wait_s: float = 1.0,
             yield_wait_s: float = 5.0) -> None:
        """Run until ``stop`` is set: wait while ``pacing`` says so, index in batches."""
        while not stop.is_set():
            try:
                why = self.pacing.reason() if self.pacing is not None else ""
                self._note_waiting(why)
                if why:
                    stop.wait(yield_wait_s)
                    continue
                result = self.run_one()
                if result is False:
                    self._index_batch(idle=True)
                    self._unload_when_idle()
                    stop.wait(idle_wait_s)
                    continue
                self._idle_since = None
                self._unindexed += 1
                self._index_batch(idle=False)
            except Exception:  # the database or index failed: log, wait, try again
                log.exception("the OCR worker hit an error")
                stop.wait(5.0)
        self._note_waiting("")

    def _unload_when_idle(self) -> None:
        """Let the OCR engine's models go after ``unload_after_s`` without work (a static
        screen); they load again, in a fraction of a second, with the next frame."""
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        elif self.unload_after_s is not None and now - self._idle_since >= self.unload_after_s:
            self.ocr.close()
            release_memory()
            self._idle_since = float("inf")  # once per idle spell: a job resets it

    def _index_batch(self, *, idle: bool) -> None:
        due = self._unindexed >= self.index_batch or (
            idle and self._unindexed > 0
            and time.monotonic() - self._indexed_at >= self.index_every_s)
        if due:
            self._index()
            self._unindexed = 0
            self._indexed_at = time.monotonic()

    def _note_waiting(self, why: str) -> None:
        if why == self._waiting:
            return
        self._waiting = why
        if why:
            log.info("OCR waits: %s (%d frames waiting)", why, self.backlog())
            self.store.set_state(WAITING_KEY, why)
        else:
            self.store.set_states({}, delete=[WAITING_KEY])


def index_in_child(home: Path, nice: int, timeout_s: float) -> int:
    """Run ``memlane index`` for ``home`` as a child process at CPU niceness ``nice``; return the
    records it embedded, or -1 when it failed (logged; the next batch tries again)."""
    cmd = module_command("memlane", "--home", str(home), "index", "--nice", str(nice))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("indexing in the background failed: %s", exc)
        return -1
    if done.returncode != 0:
        log.warning("indexing in the background failed: %s",
                    (done.stderr or done.stdout).strip()[-500:])
        return -1
    found = re.search(r"Embedded (\d+)", done.stdout)
    return int(found.group(1)) if found else 0
