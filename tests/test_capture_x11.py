"""Capture end to end on a real X server (Xvfb + openbox) with real windows, OCR and storage."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pytestqt.qtbot import QtBot

from conftest import ModelStore, memlane_subprocess_env
from memlane.capture.ocr import TesseractOcr
from memlane.capture.windows import X11Windows
from memlane.core.paths import Paths
from memlane.models.embedder import OnnxEmbedder
from memlane.models.registry import LARGE, installed
from memlane.services import recorder as cap
from memlane.services.capture_status import capture_status
from memlane.services.engine import Engine
from memlane.services.ocr_worker import OcrOutcome
from xserver import XServer, have_x

pytestmark = [
    pytest.mark.x11,
    pytest.mark.skipif(not have_x(), reason="needs Xvfb and openbox"),
]

CARD = "4111 1111 1111 1111"


@pytest.fixture
def xs(monkeypatch: pytest.MonkeyPatch) -> Iterator[XServer]:
    server = XServer()
    monkeypatch.setenv("DISPLAY", server.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def eng(home: Path, embedder: OnnxEmbedder) -> Iterator[Engine]:
    with Engine(Paths(home), embedder=embedder) as engine:
        yield engine


def service(engine: Engine, xs: XServer) -> cap.CaptureService:
    return engine.capture_service(engine.store, env=xs.env)


def frame_text(engine: Engine, frame_id: int) -> str:
    return " ".join(t for (t,) in engine.store.sql(
        "SELECT text FROM ocr_blocks WHERE frame_id = ? ORDER BY block", [frame_id]))


def window_rect(title: str) -> tuple[int, int, int, int]:
    provider = X11Windows()
    try:
        for w in provider.snapshot().windows:
            if w.title == title:
                return w.rect.left, w.rect.top, w.rect.width, w.rect.height
    finally:
        provider.close()
    raise AssertionError(f"no window titled {title!r}")


def test_window_text_is_captured_ocrd_and_found_by_search(xs: XServer, eng: Engine, home: Path) -> None:
    xs.window("Flights to Lisbon - Firefox", "Firefox", ["Lisbon return flight", "cheapest fare 89 EUR"])
    svc = service(eng, xs)
    report = svc.tick()
    svc.close()
    assert report.state == "recording" and len(report.stored) == 1
    assert eng.ocr_worker().drain() == 1
    row = eng.store.sql("SELECT app, title, ocr, origin FROM frames")[0]
    assert row == ("Firefox", "Flights to Lisbon - Firefox", "done", "capture")
    out = subprocess.run(
        [sys.executable, "-m", "memlane", "search", "cheapest fare Lisbon", "--json"],
        env=memlane_subprocess_env(home), capture_output=True, text=True, check=True,
    )
    hits = json.loads(out.stdout)
    assert hits and hits[0]["id"] == f"frame:{report.stored[0]}"
    assert "Lisbon" in hits[0]["snippet"]


def test_private_window_is_never_stored_and_painted_out(xs: XServer, eng: Engine) -> None:
    private = xs.window("Private Browsing - Mozilla Firefox", "firefox",
                        ["kumquat surprise party"], geometry="500x300+0+0")
    svc = service(eng, xs)
    focused = svc.tick()
    assert focused.state == "excluded" and not focused.stored
    assert eng.store.sql("SELECT count(*) FROM frames")[0][0] == 0

    notes = xs.window("Notes - Editor", "Gedit", ["grocery list tomatoes"], geometry="600x300+0+0")
    xs.xdotool("windowactivate", "--sync", str(notes.id))
    time.sleep(0.3)
    left, top, width, height = window_rect("Private Browsing - Mozilla Firefox")
    report = svc.tick()
    svc.close()
    assert report.state == "recording" and len(report.stored) == 1, report
    eng.ocr_worker().drain()
    frame_id = report.stored[0]
    (path, title) = eng.store.sql("SELECT image_path, title FROM frames WHERE id = ?", [frame_id])[0]
    assert title == "Notes - Editor"
    image = np.asarray(Image.open(eng.paths.home / path).convert("L"), dtype=np.int16)
    # Every visible pixel of the private window (outside the notes window on top) is the fill.
    nl, nt, nw, nh = window_rect("Notes - Editor")
    region = np.zeros(image.shape, dtype=bool)
    region[top:top + height, left:left + width] = True
    region[nt:nt + nh, nl:nl + nw] = False
    assert region.sum() > 5000
    # Lossy WebP rings a little at the notes window's edge; the rest is the flat fill.
    assert (np.abs(image[region] - 32) <= 8).mean() > 0.995
    text = frame_text(eng, frame_id)
    assert "grocery" in text and "kumquat" not in text and "Private" not in text
    # Nothing of the private window anywhere in the database file.
    eng.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = eng.paths.db.read_bytes()
    assert b"kumquat" not in raw and b"Private Browsing" not in raw
    private.close()


def test_card_number_is_redacted_in_text_image_and_thumbnail(xs: XServer, eng: Engine) -> None:
    xs.window("Checkout - Shop", "Firefox", ["Pay with card", f"Card {CARD}", "Total 42.00"])
    svc = service(eng, xs)
    report = svc.tick()
    svc.close()
    eng.ocr_worker().drain()
    text = frame_text(eng, report.stored[0])
    assert "Pay with card" in text and "[redacted card]" in text
    assert "4111" not in text and "1111" not in text
    (path, thumb) = eng.store.sql("SELECT image_path, thumb_path FROM frames")[0]
    again = TesseractOcr("eng").read(Image.open(eng.paths.home / path)).text
    assert "Pay" in again and "4111" not in again and "1111" not in again
    big = Image.open(eng.paths.home / thumb)
    upscaled = big.resize((big.width * 4, big.height * 4))
    assert "1111" not in TesseractOcr("eng").read(upscaled).text


def test_unchanged_screen_stores_one_frame_over_many_ticks(xs: XServer, eng: Engine) -> None:
    win = xs.window("Terminal", "XTerm", ["$ make test", "all green"])
    svc = service(eng, xs)
    reports = [svc.tick() for _ in range(6)]
    assert [len(r.stored) for r in reports] == [1, 0, 0, 0, 0, 0]
    assert all(r.unchanged == 1 for r in reports[1:])
    win.send("lines $ make test|all green|$ git push origin main")
    changed = svc.tick()
    svc.close()
    assert len(changed.stored) == 1
    # The second frame's OCR re-used the unchanged lines of the first.
    outcomes: list[OcrOutcome] = []
    worker = eng.ocr_worker(on_done=outcomes.append)
    worker.drain()
    assert [o.reused > 0 for o in outcomes] == [False, True]
    assert "git push origin main" in frame_text(eng, changed.stored[0])
    assert "make test" in frame_text(eng, changed.stored[0])
    status = capture_status(eng.store, eng.settings, eng.paths)
    assert status["today"]["stored"] == 2 and status["today"]["skipped_unchanged"] == 5


def test_restart_on_an_unchanged_screen_stores_nothing_new(xs: XServer, eng: Engine) -> None:
    xs.window("Terminal", "XTerm", ["uptime 3 days"])
    first = service(eng, xs)
    assert len(first.tick().stored) == 1
    first.close()
    second = service(eng, xs)  # a new process would start from the database like this
    report = second.tick()
    second.close()
    assert report.stored == [] and report.unchanged == 1


def test_pause_persists_across_a_restart(xs: XServer, eng: Engine, home: Path) -> None:
    xs.window("Editor", "Gedit", ["draft letter"])
    env = {**memlane_subprocess_env(home), "DISPLAY": xs.display}
    cli = [sys.executable, "-m", "memlane"]
    out = subprocess.run([*cli, "capture", "--pause"], env=env, capture_output=True, text=True, check=True)
    assert "paused until resumed" in out.stdout
    out = subprocess.run([*cli, "capture", "--once"], env=env, capture_output=True, text=True, check=True)
    assert "paused" in out.stderr and "0 frame(s) stored" in out.stdout
    status = json.loads(subprocess.run([*cli, "status", "--json"], env=env, capture_output=True,
                                       text=True, check=True).stdout)["capture"]
    assert status["state"] == "paused" and status["today"]["ticks_paused"] == 1
    subprocess.run([*cli, "capture", "--resume"], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "capture", "--once"], env=env, capture_output=True, text=True, check=True)
    assert "1 frame(s) stored" in out.stdout
    # A pause for some minutes ends by itself.
    until = cap.pause(eng.store, 0.001)
    assert until is not None
    time.sleep(0.1)
    assert cap.paused_until(eng.store) is False


def test_idle_user_is_not_recorded_until_input(xs: XServer, eng: Engine) -> None:
    eng.settings.privacy.idle_seconds = 1.0
    xs.window("Editor", "Gedit", ["idle test"])
    time.sleep(1.5)
    svc = service(eng, xs)
    assert svc.tick().state == "idle"
    xs.xdotool("mousemove", "200", "200")
    report = svc.tick()
    svc.close()
    assert report.state == "recording" and len(report.stored) == 1


def test_display_that_goes_away_is_an_error_then_recovers(eng: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    xs = XServer(wm=False)
    monkeypatch.setenv("DISPLAY", xs.display)
    svc = service(eng, xs)
    try:
        xs.window("Editor", "Gedit", ["before the crash"])
        assert svc.tick().state == "recording"
        xs.stop()
        gone = svc.tick()
        assert gone.state == "error" and "display" in gone.reason
        again = XServer(wm=False)
        monkeypatch.setenv("DISPLAY", again.display)
        svc.recorder.windows.name = again.display  # type: ignore[attr-defined]
        try:
            again.window("Editor", "Gedit", ["after the restart"])
            assert svc.tick().state == "recording"
        finally:
            again.stop()
    finally:
        svc.close()
        xs.stop()


def test_kill_9_mid_ocr_then_restart_finishes_the_backlog_exactly_once(
    xs: XServer, eng: Engine, home: Path,
) -> None:
    win = xs.window("Notes", "Gedit", ["entry one"])
    svc = service(eng, xs)
    reports = []
    for n in range(2, 7):
        reports.append(svc.tick())
        win.send(f"lines entry one|{' '.join(['entry'] * n)} number {n}|line {n * 7} of the log")
    reports.append(svc.tick())
    svc.close()
    stored = [frame for report in reports for frame in report.stored]
    assert len(stored) == 6, [(r.state, r.reason, r.unchanged) for r in reports]
    assert eng.ocr_worker().backlog() == 6

    env = {**memlane_subprocess_env(home), "DISPLAY": xs.display}
    proc = subprocess.Popen([sys.executable, "-m", "memlane", "capture", "--once"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = sqlite3.connect(str(eng.paths.db), timeout=30)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until a job is done and the next one is running
        done = db.execute("SELECT count(*) FROM jobs WHERE state = 'done'").fetchone()[0]
        running = db.execute("SELECT count(*) FROM jobs WHERE state = 'running'").fetchone()[0]
        if done >= 1 and running == 1:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = db.execute("SELECT count(*) FROM jobs WHERE state != 'done'").fetchone()[0]
    assert 1 <= left < 6, "the kill should land mid-backlog"

    out = subprocess.run([sys.executable, "-m", "memlane", "capture", "--once"],
                         env=env, capture_output=True, text=True, check=True, timeout=120)
    assert "OCR backlog 0" in out.stdout
    jobs = db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
    assert jobs == [("done", 6)]
    frames = db.execute("SELECT id, ocr, vec FROM frames ORDER BY id").fetchall()
    assert [(f[1], f[2] is not None) for f in frames] == [("done", True)] * 6
    dupes = db.execute(
        "SELECT frame_id, block, count(*) FROM ocr_blocks GROUP BY frame_id, block HAVING count(*) > 1"
    ).fetchall()
    assert dupes == []
    for frame_id, n in zip(stored, range(1, 7), strict=True):
        text = " ".join(t for (t,) in db.execute(
            "SELECT text FROM ocr_blocks WHERE frame_id = ? ORDER BY block", [frame_id]))
        assert "entry one" in text
        if n > 1:
            assert f"number {n}" in text, (n, text)
    vectors = sum(v for (_, _, v) in frames)
    eng.index.sync()
    assert eng.index.count() == vectors
    db.close()


def _frames(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "memlane.db") as db:
        return [(a, t) for a, t in db.execute("SELECT app, title FROM frames WHERE origin = 'capture'")]


def _start_app(xs: XServer, home: Path, models: ModelStore, **popen: Any) -> subprocess.Popen[str]:
    """``memlane gui`` on the X display (like `make run`), in a home past the first-run screen,
    with both models in place (at its first start the app measures this machine with them)."""
    from memlane.memory.store import Store
    from memlane.ui.app import FIRST_RUN_KEY

    Paths(home).ensure()
    models.seed_for_app(Paths(home).models)
    store = Store(Paths(home).db)
    store.set_state(FIRST_RUN_KEY, "1")
    store.close()
    env = {**memlane_subprocess_env(home), **xs.env}
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.Popen([sys.executable, "-m", "memlane", "gui", "--quit-after", "60"],
                            env=env, text=True, **popen)


@pytest.mark.slow
def test_the_desktop_app_runs_the_recorder_and_never_records_itself(
    xs: XServer, home: Path, model_store: ModelStore,
) -> None:
    # GIVEN a home past the first-run screen, and the app on the X display (like `make run`)
    app = _start_app(xs, home, model_store, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 40
        while not any(title == "Memlane" for _, title in _frames_or_windows(xs)):
            assert time.monotonic() < deadline, "the Memlane window never appeared"
            time.sleep(0.3)
        time.sleep(3)  # the recorder ticks while Memlane has focus: nothing may be stored
        assert _frames(home) == []
        # WHEN another window gets focus
        xs.window("Ferry times - Firefox", "Firefox", ["Ferry to Cacilhas leaves at 18:40"])
        deadline = time.monotonic() + 30
        while not _frames(home):
            assert time.monotonic() < deadline, "the app's recorder stored nothing"
            time.sleep(0.5)
        app.send_signal(signal.SIGTERM)  # a logout: the app quits and stops its recorder
        output, _ = app.communicate(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
    # THEN the app's recorder child stored the focused window, never Memlane's own, and quit with it
    assert app.returncode == 0, output
    frames = _frames(home)
    assert ("Firefox", "Ferry times - Firefox") in frames
    assert all(a != "Memlane" for a, _ in frames)
    assert cap.recorder_pid(Paths(home)) is None
    assert "memlane" not in subprocess.run(["pgrep", "-af", f"--home.*{home}"], capture_output=True,
                                           text=True).stdout


def _model_processes(home: Path) -> list[str]:
    """Command lines of the model processes serving ``home``'s models."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in args)
        if "memlane.models.worker" in line and str(home) in line:
            found.append(line)
    return found


@pytest.mark.slow
@pytest.mark.model
def test_the_app_quits_at_once_while_it_measures_the_machine(
    xs: XServer, home: Path, model_store: ModelStore,
) -> None:
    # GIVEN the app measuring this machine with the larger model, as it does at its first start
    if not installed(LARGE, Paths(home).models):
        pytest.skip("the larger model's packages are not installed")
    app = _start_app(xs, home, model_store, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not any(LARGE.file_name in line for line in _model_processes(home)):
            assert time.monotonic() < deadline, "the app never measured the larger model"
            assert app.poll() is None
            time.sleep(0.2)
        time.sleep(1)  # loading it, or reading the measurement's long prompt
        # WHEN the session ends
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=30)  # a logout does not wait long
    finally:
        if app.poll() is None:
            app.kill()
    # THEN the app quits without waiting for the measurement, leaves no model process behind,
    # and saves no half-measured choice (the next start measures again)
    assert app.returncode == 0, output
    assert _model_processes(home) == []
    assert not Paths(home).model_choice.exists()
    log = Paths(home).gui_log.read_text(encoding="utf-8")
    assert "Traceback" not in log + output, log + output


@pytest.mark.slow
def test_the_apps_recorder_stops_when_the_app_is_killed(
    xs: XServer, home: Path, model_store: ModelStore,
) -> None:
    # GIVEN the app running with its recorder child
    app = _start_app(xs, home, model_store, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 40
        while (recorder := cap.recorder_pid(Paths(home))) is None:
            assert time.monotonic() < deadline, "the app never started its recorder"
            time.sleep(0.3)
        # WHEN the app is killed outright (no chance to stop its child)
        app.kill()
        app.wait(10)
        # THEN the recorder stops too, within seconds, and frees its lock
        deadline = time.monotonic() + 20
        while cap.recorder_pid(Paths(home)) is not None:
            assert time.monotonic() < deadline, f"recorder {recorder} outlived the killed app"
            time.sleep(0.3)
    finally:
        if app.poll() is None:
            app.kill()


@pytest.mark.slow
def test_the_apps_recorder_unlocks_an_encrypted_home_through_a_pipe(
    xs: XServer, home: Path, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot,
) -> None:
    # GIVEN an encrypted home and a focused window on the display
    from memlane.memory.crypto import is_sealed, unlock
    from memlane.memory.store import Store
    from memlane.services.encryption import encrypt_home
    from memlane.ui.status import RecorderSupervisor

    Paths(home).ensure()
    encrypt_home(Paths(home), "pass phrase 1")
    keys = unlock(home, "pass phrase 1")
    xs.window("Ferry times - Firefox", "Firefox", ["Ferry to Cacilhas leaves at 18:40"])
    for name, value in xs.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEMLANE_HOME", str(home))
    # WHEN the app's supervisor starts the recorder with the key (stdin, not argv or env)
    supervisor = RecorderSupervisor(home, keys)
    supervisor.start()
    try:
        store = Store(Paths(home).db, keys)

        def stored() -> bool:
            return bool(store.sql("SELECT count(*) FROM frames WHERE ocr = 'done'")[0][0])

        qtbot.waitUntil(stored, timeout=60_000)  # the recorder stores and OCRs a frame
        assert supervisor.running()
    finally:
        supervisor.stop()
    # THEN the frame is in the encrypted store, its text readable with the key only
    text = store.sql("SELECT group_concat(text, ' ') FROM ocr_blocks")[0][0]
    store.close()
    assert "Cacilhas" in text
    images = [p for p in home.rglob("*.webp")]
    assert images and all(is_sealed(p.read_bytes()) for p in images)
    assert not any(b"Cacilhas" in p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert "key-stdin" in " ".join(supervisor.proc.arguments()) and keys.token() not in " ".join(
        supervisor.proc.arguments())


def _frames_or_windows(xs: XServer) -> list[tuple[str, str]]:
    provider = X11Windows()
    try:
        return [(w.app, w.title) for w in provider.snapshot().windows]
    finally:
        provider.close()
