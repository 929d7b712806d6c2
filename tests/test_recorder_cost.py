"""What the recorder keeps in memory: it embeds through a child process and never loads Chroma
or the embedder itself, and it hands captured pixels to OCR without a lossless copy."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import memlane_subprocess_env, render_text
from memlane.memory.records import FrameIn
from memlane.services.engine import Engine

PROBE = """
import json, sys
from pathlib import Path
from memlane.core.paths import Paths
from memlane.services.engine import Engine
engine = Engine(Paths(Path(sys.argv[1])))
embedded = engine.index_batch()
print(json.dumps({"embedded": embedded, "chromadb": "chromadb" in sys.modules,
                  "onnxruntime": "onnxruntime" in sys.modules,
                  "left": engine.store.count_unembedded()}))
"""


def test_the_recorder_embeds_through_a_child_and_loads_nothing(engine: Engine) -> None:
    for n in range(3):
        engine.store.add_frame(FrameIn(
            time=time.time() + n, app="editor", title=f"notes {n}", image_path=f"frames/{n}.webp",
            thumb_path=f"thumbnails/{n}.webp", width=1, height=1, bytes=1, change_hash=f"{n}",
            content_sha256=f"sha{n}"))
    out = subprocess.run([sys.executable, "-c", PROBE, str(engine.paths.home)], check=True,
                         capture_output=True, text=True, env=memlane_subprocess_env(
                             engine.paths.home), timeout=300)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe == {"embedded": 3, "chromadb": False, "onnxruntime": False, "left": 0}
    assert engine.search("notes", kinds=("frame",)).pending == 0


def test_captured_pixels_reach_ocr_without_a_lossless_copy(engine: Engine) -> None:
    from memlane.capture.recorder import Shot, StillGrabber, Tick, to_pixels
    from memlane.capture.windows import Rect
    from memlane.services.ocr_worker import Handoff

    service = engine.capture_service(engine.open_store())
    worker = engine.ocr_worker()
    worker.handoff = service.handoff = Handoff()
    pixels = to_pixels(render_text(["Ferry tickets to Porto, Saturday 09:15"]))
    change = service.detector.compare("0:1000x400+0+0", pixels)
    grabber = StillGrabber(pixels)
    rect = grabber.monitors()[0]
    assert isinstance(rect, Rect)
    shot = Shot(1, rect, pixels, change, 0.0)
    frame_id = service._store_shot(shot, Tick("recording"), time.time())
    assert not any(p.is_file() for p in engine.paths.spool.rglob("*"))  # encoded once
    outcome = worker.run_one()
    assert outcome and outcome.frame_id == frame_id and outcome.words >= 5
    hits = engine.search("ferry Porto", kinds=("frame",)).hits
    assert hits and hits[0].id == f"frame:{frame_id}"
    service.close()


def test_the_ocr_models_are_let_go_on_a_static_screen(engine: Engine) -> None:
    import threading

    from memlane.capture.engines import TesserocrOcr

    engine.settings.ocr.engine = "tesserocr"
    worker = engine.ocr_worker(recorder=True)
    assert isinstance(worker.ocr, TesserocrOcr) and worker.unload_after_s
    worker.ocr.read(render_text(["loaded"]))
    assert worker.ocr._api is not None
    worker.unload_after_s = 0.3
    worker.pacing = None  # this test is about idling, not about a busy machine
    stop = threading.Event()
    thread = threading.Thread(target=worker.loop, args=(stop,), kwargs={"idle_wait_s": 0.1})
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join()
    assert worker.ocr._api is None  # unloaded; the next frame loads it again
    assert "loaded" in worker.ocr.read(render_text(["loaded again"])).text
