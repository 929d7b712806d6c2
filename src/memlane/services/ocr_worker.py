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
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from memlane.capture.ocr import (
    OcrBlock,
    OcrResult,
    OcrWord,
    TesseractOcr,
    paint_out,
    read_changed,
    redact,
)
from memlane.core.errors import MemlaneError
from memlane.core.settings import Settings
from memlane.memory.frames import FrameFiles
from memlane.memory.jobs import Job, JobQueue
from memlane.memory.records import OcrBlockIn
from memlane.memory.store import Store
from memlane.services.ingest import ocr_blocks

log = logging.getLogger(__name__)
# Re-read only the changed regions when they cover less than this share of the frame.
REUSE_MAX_SHARE = 0.6


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
    in-memory index is the app's, never the recorder's). The engine builds workers.
    """

    def __init__(self, store: Store, files: FrameFiles, ocr: TesseractOcr, settings: Settings,
                 index_sync: Callable[[], object] | None, *,
                 on_done: Callable[[OcrOutcome], None] | None = None):
        self.store = store
        self.files = files
        self.ocr = ocr
        self.settings = settings
        self.index_sync = index_sync
        self.queue = JobQueue(store, max_attempts=3, backoff_s=10.0)
        self.on_done = on_done

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

    def _failed(self, job: Job, error: str) -> None:
        self.queue.fail(job, error)
        if job.attempts >= self.queue.max_attempts:
            frame_id = int(job.payload.get("frame_id", 0))
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

    def loop(self, stop: threading.Event, idle_wait_s: float = 1.0) -> None:
        """Run until ``stop`` is set, indexing after each job."""
        while not stop.is_set():
            try:
                result = self.run_one()
                if result is False:
                    stop.wait(idle_wait_s)
                    continue
                self._index()
            except Exception:  # the database or index failed: log, wait, try again
                log.exception("the OCR worker hit an error")
                stop.wait(5.0)
