"""OCR yields to the person: it waits on battery or while other programs keep the CPU busy, keeps
the backlog, and status says how far behind it is and why."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import render_text
from memlane.capture.load import MachineLoad, Yield, on_battery
from memlane.memory.records import FrameIn
from memlane.services.engine import Engine


def power(root: Path, *, mains: bool, battery: str) -> Path:
    """A ``/sys/class/power_supply`` tree as the kernel writes it."""
    for name, files in (("AC", {"type": "Mains", "online": "1" if mains else "0"}),
                        ("BAT0", {"type": "Battery", "status": battery})):
        (root / name).mkdir(parents=True, exist_ok=True)
        for key, value in files.items():
            (root / name / key).write_text(value + "\n")
    return root


def test_battery_is_read_from_sysfs(tmp_path: Path) -> None:
    assert on_battery(power(tmp_path / "a", mains=False, battery="Discharging"))
    assert not on_battery(power(tmp_path / "b", mains=True, battery="Charging"))
    assert not on_battery(power(tmp_path / "c", mains=True, battery="Discharging"))
    assert not on_battery(tmp_path / "no-such-folder")  # a desktop, a container


def test_other_programs_load_is_seen_and_our_own_is_not() -> None:
    load = MachineLoad()
    load.others_busy()
    time.sleep(0.6)
    before = load.others_busy()  # what the rest of the machine is doing anyway (CI is shared)
    end = time.process_time() + 0.6
    while time.process_time() < end:  # our own work: never a reason to wait
        pass
    assert load.others_busy() < max(0.35, before + 0.2)
    burn = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(4)]
    time.sleep(1.2)
    busy = load.others_busy()
    for proc in procs:
        proc.wait()
    assert busy > 0.5


def test_a_wait_is_bounded(tmp_path: Path) -> None:
    pacing = Yield(power=power(tmp_path, mains=False, battery="Discharging"), max_wait_s=60)
    assert pacing.reason(now=0.0) == "on battery"
    assert pacing.reason(now=59.0) == "on battery"
    assert pacing.reason(now=61.0) == ""  # one job goes ahead, then it waits again
    assert pacing.reason(now=62.0) == "on battery"


def test_ocr_waits_on_battery_and_status_says_so(engine: Engine, tmp_path: Path) -> None:
    stored = engine.frame_files.write(render_text(["Invoice 4471 from Porto Ferries"]),
                                      time.time() - 120, "waits", spool=True)
    frame_id = engine.store.add_frame(FrameIn(
        time=time.time() - 120, app="mail", title="Invoice", image_path=stored.image_path,
        thumb_path=stored.thumb_path, width=stored.width, height=stored.height,
        bytes=stored.bytes, change_hash="1" * 16, content_sha256=None), ocr_job={"prev": None})
    supply = power(tmp_path / "power", mains=False, battery="Discharging")
    worker = engine.ocr_worker()
    worker.pacing = Yield(power=supply)
    stop = threading.Event()
    thread = threading.Thread(target=worker.loop, args=(stop,),
                              kwargs={"idle_wait_s": 0.1, "yield_wait_s": 0.1})
    from memlane.services.recorder import RecorderLock

    with RecorderLock(engine.paths):  # status reads a running recorder's state
        thread.start()
        try:
            time.sleep(1.0)
            status = engine.status()["capture"]
            assert status["ocr_backlog"] == 1 and status["ocr_waiting"] == "on battery"
            assert status["ocr_behind_seconds"] >= 1.0  # since the frame was stored
            power(supply, mains=True, battery="Charging")  # plugged in
            deadline = time.time() + 30
            while engine.store.sql("SELECT ocr FROM frames WHERE id = ?", [frame_id]) != [
                    ("done",)] and time.time() < deadline:
                time.sleep(0.2)
            status = engine.status()["capture"]
            assert status["ocr_backlog"] == 0 and status["ocr_waiting"] is None
        finally:
            stop.set()
            thread.join()
    hits = engine.search("Porto Ferries invoice", kinds=("frame",)).hits
    assert hits and hits[0].id == f"frame:{frame_id}"
