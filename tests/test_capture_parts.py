"""Capture parts without a display: redaction rules, change detection, privacy plans, OCR re-use,
and the service's behaviour on Wayland, a full disk and a broken frame file."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import render_text
from memlane.capture.change import TILE, ChangeDetector, signature
from memlane.capture.ocr import TesseractOcr, read_changed, redact
from memlane.capture.privacy import ExclusionRules, plan_monitor
from memlane.capture.recorder import Recorder, Shot, StillGrabber, Tick, to_pixels
from memlane.capture.redact import find_sensitive, iban_ok, luhn_ok
from memlane.capture.windows import Rect, Snapshot, WindowInfo, display_server
from memlane.core.settings import PrivacySettings
from memlane.memory.frames import spool_rel
from memlane.memory.records import FrameIn
from memlane.services import recorder as cap
from memlane.services.capture_status import capture_status
from memlane.services.engine import Engine


def words(text: str) -> list[list[tuple[int, str]]]:
    out, i = [], 0
    for line in text.splitlines():
        row = []
        for w in line.split():
            row.append((i, w))
            i += 1
        out.append(row)
    return out


def redacted(text: str) -> dict[str, list[str]]:
    lines = words(text)
    flat = {i: w for line in lines for i, w in line}
    found: dict[str, list[str]] = {}
    for r in find_sensitive(lines):
        found.setdefault(r.kind, []).extend(flat[i] for i in r.words)
    return found


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


def test_sensitive_text_is_found() -> None:
    assert redacted("Card 4111 1111 1111 1111 exp 12/27") == {"card": ["4111", "1111", "1111", "1111"]}
    assert redacted("card 5500-0000-0000-0004") == {"card": ["5500-0000-0000-0004"]}
    assert redacted("IBAN DE89 3704 0044 0532 0130 00 please") == {
        "iban": ["DE89", "3704", "0044", "0532", "0130", "00"]}
    assert redacted("export OPENAI_API_KEY=x sk-proj-abcdefghijklmnopqrstuvwx1234")["token"] == [
        "sk-proj-abcdefghijklmnopqrstuvwx1234"]
    assert redacted("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")["token"]
    assert redacted("AKIAIOSFODNN7EXAMPLE is the key")["token"] == ["AKIAIOSFODNN7EXAMPLE"]
    assert redacted("Password: hunter2 remember")["password"] == ["hunter2"]
    assert redacted("password:hunter2")["password"] == ["password:hunter2"]
    assert redacted("pin = 4242")["password"] == ["4242"]
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert redacted(f"Bearer {jwt}")["token"] == [jwt]


def test_ordinary_text_is_left_alone() -> None:
    text = """Flight LH 1234 departs 2024-05-08 at 13:56
    Call me on +49 170 1234567 or 0170 1234 5678
    Order 1234567890123 shipped
    https://example.com/a/very/long/path/with/many/segments/1234567890abcdef
    The quick brown fox jumps over the lazy dog 12 times
    version 3.11.7 build 20240508"""
    assert redacted(text) == {}


def test_change_detection_ignores_a_caret_and_accumulates_typing() -> None:
    det = ChangeDetector(min_change_percent=0.4)
    base = np.full((400, 800), 0xFFFFFFFF, dtype=np.uint32)
    assert det.compare("m", base).changed  # nothing stored yet
    det.stored("m", base)
    caret = base.copy()
    caret[100:118, 200:202] = 0
    assert not det.compare("m", caret).changed
    typed = base.copy()
    for n in range(3):  # three characters typed, one tile each
        typed[100:118, 200 + n * TILE:210 + n * TILE] = 0
    assert det.compare("m", typed).changed  # 3 of 200 tiles: at least 2 are needed
    strict = ChangeDetector(min_change_percent=2.0)  # needs 4 tiles
    strict.stored("m", base)
    assert not strict.compare("m", typed).changed
    typed[100:118, 400:700] = 0  # against the *stored* frame, changes add up
    change = strict.compare("m", typed)
    assert change.changed and change.tiles == 11
    assert change.rects == ((200, 80, 120, 40), (400, 80, 320, 40))


def test_restart_seed_compares_by_checksum() -> None:
    frame = np.random.default_rng(1).integers(0, 2**32, size=(300, 500), dtype=np.uint32)
    det = ChangeDetector()
    det.seed("m", signature(frame))
    assert not det.compare("m", frame.copy()).changed
    other = frame.copy()
    other[:, :] ^= 1
    det2 = ChangeDetector()
    det2.seed("m", signature(frame))
    assert det2.compare("m", other).changed


def win(wid: int, title: str, rect: Rect, app: str = "App", pid: int = 10, **kw: object) -> WindowInfo:
    return WindowInfo(wid, title, app, app.lower(), app.lower(), pid, rect, **kw)  # type: ignore[arg-type]


def test_privacy_plan_paints_only_what_is_visible_and_skips_covered_monitors() -> None:
    rules = ExclusionRules(PrivacySettings().exclude_apps, PrivacySettings().exclude_titles)
    left, right = Rect(0, 0, 1000, 800), Rect(1000, 0, 1000, 800)
    private = win(1, "News — Private Browsing", Rect(900, 100, 400, 300), "firefox", pid=7)
    editor = win(2, "Notes", Rect(1100, 150, 100, 100), "gedit", pid=8)
    popup = win(3, "", Rect(1500, 500, 50, 50), "firefox", pid=7)
    dialog = win(4, "Save as", Rect(100, 600, 50, 50), "firefox", pid=9, transient_for=1)
    snap = Snapshot((private, editor, popup, dialog), editor)
    excluded = rules.excluded(snap)
    assert set(excluded) == {1, 3, 4}
    plan_l = plan_monitor(left, snap, excluded)
    plan_r = plan_monitor(right, snap, excluded)
    assert plan_l.mask is not None and plan_r.mask is not None and not plan_r.skip
    assert plan_l.mask[100:400, 900:1000].all() and plan_l.mask[600:650, 100:150].all()
    assert plan_r.mask[100:400, 0:300].sum() == 300 * 300 - 100 * 100  # the editor is on top
    assert not plan_r.mask[150:250, 100:200].any()
    assert plan_r.mask[500:550, 500:550].all()
    full = win(5, "KeePassXC", Rect(0, 0, 1000, 800), "KeePassXC", pid=11)
    snap2 = Snapshot((full, editor), editor)
    assert plan_monitor(left, snap2, rules.excluded(snap2)).skip
    behind = Snapshot((full, win(6, "Browser", Rect(0, 0, 1000, 800))), None)
    assert plan_monitor(left, behind, rules.excluded(behind)).mask is None  # fully hidden


class FakeWindows:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def snapshot(self) -> Snapshot:
        return self.snap

    def close(self) -> None:
        pass


def screen(lines: list[str]) -> np.ndarray:
    return to_pixels(render_text(lines, size=(800, 300)))


def service_with(engine: Engine, pixels: np.ndarray, env: dict[str, str] | None = None) -> cap.CaptureService:
    snap = Snapshot((win(1, "Notes", Rect(0, 0, 800, 300)),), None)
    rec = Recorder(ExclusionRules(), ChangeDetector(), windows=FakeWindows(snap),
                   grabber=StillGrabber(pixels))
    return engine.capture_service(engine.store, recorder=rec, env=env or {"DISPLAY": ":99"})


def test_wayland_without_portal_or_wlroots_says_what_to_install(
    engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a Wayland session whose bus has no portal (there is no bus at all) and no sway
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/memlane-bus")
    env = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0",
           "XDG_CURRENT_DESKTOP": "GNOME"}
    kind, note = display_server(env)
    assert kind == "wayland" and "Wayland" in note
    svc = engine.capture_service(engine.store, env=env)
    report = svc.tick()
    svc.close()
    # THEN the tick is an error that names what is missing, and nothing is stored
    assert report.state == "error" and not report.stored
    assert "ScreenCast portal" in report.reason and "PipeWire" in report.reason
    assert engine.store.sql("SELECT count(*) FROM frames")[0][0] == 0


def test_full_disk_is_an_error_state_and_the_service_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = service_with(engine, screen(["quarterly report draft"]))

    real_fdopen = os.fdopen

    class FullDisk:  # what a full disk does to a write: the file opens, writing fails
        def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
            self.fh = real_fdopen(fd, *args, **kwargs)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *_exc: object) -> None:
            self.fh.close()

        def write(self, _data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", FullDisk)
    report = svc.tick()
    assert report.state == "error" and "disk is full" in report.reason and not report.stored
    assert engine.store.sql("SELECT count(*) FROM frames, jobs")[0][0] == 0
    status = capture_status(engine.store, engine.settings, engine.paths)
    assert status["today"]["errors"] == 1
    monkeypatch.undo()
    again = svc.tick()  # space freed: the same unchanged screen is stored now
    svc.close()
    assert again.state == "recording" and len(again.stored) == 1
    leftovers = [p for p in engine.paths.frames.rglob("*") if p.suffix == ".tmp"]
    assert leftovers == []


def test_broken_frame_file_fails_its_job_and_the_worker_goes_on(engine: Engine) -> None:
    svc = service_with(engine, screen(["first frame text"]))
    first = svc.tick().stored
    svc.recorder.grabber = StillGrabber(screen(["second frame", "other words here"]))
    second = svc.tick().stored
    svc.close()
    (path,) = engine.store.sql("SELECT image_path FROM frames WHERE id = ?", first)[0]
    (engine.paths.home / path).write_bytes(b"RIFF\x00\x00broken")
    (engine.paths.home / spool_rel(path)).write_bytes(b"RIFF\x00\x00torn")
    worker = engine.ocr_worker()
    worker.queue.backoff_s = 0.0
    worker.drain()
    worker.drain()
    worker.drain()
    states = dict(engine.store.sql("SELECT id, ocr FROM frames"))
    assert states == {first[0]: "failed", second[0]: "done"}
    (error,) = engine.store.sql("SELECT error FROM jobs WHERE state = 'failed'")[0]
    assert "cannot read the frame" in error
    assert worker.backlog() == 0
    assert not any(p.is_file() for p in engine.paths.spool.rglob("*"))  # nothing left waiting


def test_ocr_reuse_matches_a_full_read() -> None:
    ocr = TesseractOcr("eng")
    before = render_text(["Inbox 3 unread", "Meeting moved to Friday", "Lunch at noon"])
    after = render_text(["Inbox 3 unread", "Meeting moved to Thursday", "Lunch at noon"])
    prev = ocr.read(before)
    diff = np.asarray(before.convert("L")) != np.asarray(after.convert("L"))
    ys, xs = np.nonzero(diff)
    rect = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    result, reused = read_changed(ocr, after, list(prev.blocks), [rect])
    assert reused >= 6  # "Inbox 3 unread" and "Lunch at noon" come from the previous read
    assert result.text.split() == ocr.read(after).text.split()  # same words, same order


def test_a_scrolled_terminal_is_read_only_where_new_lines_came_in() -> None:
    from memlane.capture.change import ChangeDetector
    from memlane.capture.engines import TesserocrOcr
    from memlane.capture.ocr import scrolled
    from memlane.capture.recorder import to_pixels

    log = [f"12:00:{n:02d} build step {n} compiled module_{n}.o ok" for n in range(40)]

    def screen(first: int) -> Image.Image:
        return render_text(log[first:first + 14], size=(1200, 700), font_size=26)

    ocr = TesserocrOcr("eng")
    before, after = screen(0), screen(3)  # three new lines at the foot, the rest moved up
    detector = ChangeDetector()
    detector.stored("m", to_pixels(before))
    change = detector.compare("m", to_pixels(after))
    assert change.changed and change.scroll is not None and change.scroll[0] > 0
    moved, again = scrolled(list(ocr.read(before).blocks), *change.scroll)
    regions = [*change.rects, *again]
    assert sum(w * h for _, _, w, h in regions) < 0.5 * 1200 * 700  # far less than the screen
    result, reused = read_changed(ocr, after, moved, regions)
    full = ocr.read(after).text.split()
    assert reused > len(full) // 2
    assert result.text.split() == full  # the same words, in the same order, as a full read
    assert "step 16 " in result.text and "step 2 " not in result.text
    ocr.close()


def test_redact_result_blanks_words_and_keeps_boxes() -> None:
    image = render_text(["Visa 4111 1111 1111 1111", "thanks"])
    result, boxes = redact(TesseractOcr("eng").read(image))
    assert boxes and {k for k, _ in boxes} == {"card"}
    assert "1111" not in result.text and "[redacted card]" in result.text and "thanks" in result.text
    again, more = redact(result)  # re-used words stay blank and their boxes are painted again
    assert again.text == result.text and more == boxes


def test_frame_waiting_for_ocr_is_not_embedded_from_its_title(engine: Engine) -> None:
    frame = FrameIn(time=1.0, app="a", title="t", image_path="x", thumb_path="y", width=1,
                    height=1, bytes=1, change_hash="0", content_sha256=None)
    fid = engine.store.add_frame(frame, ocr_job={"prev": None})
    assert fid is not None and engine.store.unembedded("frame") == []
    engine.store.complete_ocr(fid, (), job_id=None)
    assert engine.store.unembedded("frame") == [fid]


def test_shot_image_round_trips_pixels() -> None:
    pixels = screen(["abc"])
    tick = Tick("recording")
    shot = Shot(1, Rect(0, 0, 800, 300), pixels, ChangeDetector().compare("k", pixels), 0.0)
    rgb = np.asarray(shot.image())
    assert rgb.shape == (300, 800, 3) and tick.state == "recording"
    assert (rgb[..., 0] == (pixels >> 16 & 0xFF)).all()


def test_settings_carry_the_default_exclusions(tmp_path: Path) -> None:
    rules = ExclusionRules(PrivacySettings().exclude_apps, PrivacySettings().exclude_titles)
    for title in ("Mozilla Firefox Private Browsing", "New Tab - Google Chrome (Incognito)",
                  "InPrivate - Microsoft Edge"):
        assert rules.why(win(1, title, Rect(0, 0, 1, 1)))
    for app in ("KeePassXC", "1Password", "Bitwarden", "keepassxc"):
        assert rules.why(win(1, "Vault", Rect(0, 0, 1, 1), app))
    assert rules.why(win(1, "Private equity news", Rect(0, 0, 1, 1), "firefox")) is None
    with pytest.raises(ValueError, match="exclusion title pattern"):
        ExclusionRules((), ("(unclosed",))


def test_ocr_reads_the_lossless_spool_copy_then_deletes_it(engine: Engine) -> None:
    svc = service_with(engine, screen(["Quarterly revenue grew 12 percent"]))
    assert len(svc.tick().stored) == 1
    svc.close()
    (path,) = engine.store.sql("SELECT image_path FROM frames")[0]
    spool = engine.paths.home / spool_rel(path)
    assert spool.is_file()
    with Image.open(spool) as img:  # lossless: exactly the captured pixels
        assert (np.asarray(img.convert("RGB")) == np.asarray(render_text(
            ["Quarterly revenue grew 12 percent"], size=(800, 300)))).all()
    engine.ocr_worker().drain()
    assert not spool.exists()
    assert "revenue" in " ".join(t for (t,) in engine.store.sql("SELECT text FROM ocr_blocks"))


def test_forgetting_a_frame_that_waits_for_ocr_removes_its_spool_copy(engine: Engine) -> None:
    from memlane.memory.forget import Scope

    svc = service_with(engine, screen(["meeting notes"]))
    (frame_id,) = svc.tick().stored
    svc.close()
    engine.forget(Scope(ids=(f"frame:{frame_id}",)))
    assert not any(p.is_file() for p in engine.paths.home.rglob("*.webp"))
    assert engine.ocr_worker().drain() == 1  # its job finds no frame and closes


class TwoMonitors(StillGrabber):
    """Two side-by-side monitors showing different text."""

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        super().__init__(left)
        self.right = right

    def monitors(self) -> list[Rect]:
        h, w = self.pixels.shape
        return [Rect(0, 0, w, h), Rect(w, 0, w, h)]

    def grab(self, rect: Rect) -> np.ndarray:
        return (self.pixels if rect.left == 0 else self.right).copy()


def test_only_the_chosen_monitors_are_recorded() -> None:
    from memlane.core.errors import SettingsError
    from memlane.core.settings import CaptureSettings

    assert CaptureSettings().monitor_set() is None
    assert CaptureSettings(monitors="2").monitor_set() == {2}
    assert CaptureSettings(monitors=" 1, 3 ").monitor_set() == {1, 3}
    for bad in ("left", "0", "1,,x"):
        with pytest.raises(SettingsError, match="monitors"):
            CaptureSettings(monitors=bad).monitor_set()
    snap = Snapshot((win(1, "Notes", Rect(0, 0, 1600, 300)),), None)
    grabber = TwoMonitors(screen(["left screen"]), screen(["right screen"]))
    both = Recorder(ExclusionRules(), ChangeDetector(), windows=FakeWindows(snap), grabber=grabber)
    second = Recorder(ExclusionRules(), ChangeDetector(), windows=FakeWindows(snap),
                      grabber=grabber, monitors=frozenset({2}))
    assert [s.monitor for s in both.tick().shots] == [1, 2]
    assert [s.monitor for s in second.tick().shots] == [2]



STORM = """
import os, signal, subprocess, sys, threading
from memlane.services import recorder as cap

terms = []
cap._on_sigterm(terms)
stop = threading.Event()
sender = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
waits = 0
while sender.poll() is None:
    terms.clear()
    cap._wait_for_stop(stop, terms, 0.01)
    waits += 1
print("stopped", sender.returncode, waits > 0)
"""
SENDER = """
import os, sys
for _ in range(30000):
    os.kill(int(sys.argv[1]), 15)
"""


def test_a_storm_of_sigterms_never_deadlocks_the_recorders_wait() -> None:
    # GIVEN the recorder's SIGTERM handling; WHEN another process sends SIGTERMs as fast as it
    # can (the app dying, then a logout), many landing while the last one is still handled
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", STORM, SENDER], capture_output=True,
                          text=True, timeout=30)
    # THEN every wait ends (a handler calling Event.set deadlocked on its own lock in 2 of 3
    # runs of this test and in 3 of 3 standalone runs)
    assert done.stdout.strip() == "stopped 0 True", done.stderr


# -- Wayland parts that need no desktop --------------------------------------------------------


def test_an_excluded_window_whose_place_is_unknown_stops_every_monitor() -> None:
    rules = ExclusionRules(PrivacySettings().exclude_apps, PrivacySettings().exclude_titles)
    private = WindowInfo(1, "Bank - Private Browsing", "firefox", placed=False)
    notes = WindowInfo(2, "Notes", "gedit", placed=False)
    snap = Snapshot((private, notes), notes, stacking_known=False)
    excluded = rules.excluded(snap)
    for monitor in (Rect(0, 0, 1000, 800), Rect(1000, 0, 1000, 800)):
        plan = plan_monitor(monitor, snap, excluded)
        assert plan.skip and plan.covered == 1.0


def test_memlanes_own_unplaced_window_covers_itself_only_when_told_and_unfocused() -> None:
    own = WindowInfo(1, "Memlane", "Memlane", placed=False)
    notes = WindowInfo(2, "Notes", "gedit", placed=False)
    background = Snapshot((own, notes), notes, stacking_known=False)
    assert ExclusionRules().excluded(background) == {1: "app Memlane"}
    assert ExclusionRules(self_covered=True).excluded(background) == {}
    focused = Snapshot((own, notes), own, stacking_known=False)
    assert ExclusionRules(self_covered=True).excluded(focused) == {1: "app Memlane"}
    # a placed Memlane window is painted out as before, covered or not
    placed = Snapshot((win(1, "Memlane", Rect(0, 0, 10, 10), "Memlane"),), None)
    assert ExclusionRules(self_covered=True).excluded(placed) == {1: "app Memlane"}


def test_grim_ppm_becomes_the_bgrx_frame_every_grabber_returns() -> None:
    from memlane.capture.wayland import CaptureUnavailable, ppm_pixels

    rgb = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    pixels = ppm_pixels(b"P6\n# grim\n2 2\n255\n" + rgb)
    assert pixels.shape == (2, 2)
    assert [hex(int(v)) for v in pixels.ravel()] == [
        "0xffff0000", "0xff00ff00", "0xff0000ff", "0xff0a141e"]
    image = Image.frombuffer("RGB", (2, 2), pixels, "raw", "BGRX", 0, 1)
    assert image.getpixel((0, 0)) == (255, 0, 0) and image.getpixel((1, 1)) == (10, 20, 30)
    with pytest.raises(CaptureUnavailable):
        ppm_pixels(b"not an image")


def test_portal_grabber_without_a_token_needs_a_grant_and_backs_off() -> None:
    from memlane.capture.wayland import GrantNeeded, PortalGrabber

    class Slot:
        token: str | None = None

        def load(self) -> str | None:
            return self.token

        def save(self, token: str | None) -> None:
            self.token = token

    class NoPortal:  # start() must never be reached without a token
        def start(self, *_a: object, **_k: object) -> None:
            raise AssertionError("the recorder must not ask the desktop by itself")

    slot = Slot()
    grabber = PortalGrabber(slot, portal=NoPortal())  # type: ignore[arg-type]
    with pytest.raises(GrantNeeded, match="Allow screen recording"):
        grabber.prepare()
    with pytest.raises(GrantNeeded, match="Allow screen recording"):
        grabber.prepare()  # the same answer, no new attempt, until a token is there
    assert grabber.backoff.delay == 2.0


def test_the_compositor_is_told_by_who_holds_the_displays_lock(tmp_path: Path) -> None:
    import subprocess
    import sys

    from memlane.capture.wayland import compositor

    env = {"XDG_RUNTIME_DIR": str(tmp_path), "WAYLAND_DISPLAY": "wayland-7"}
    assert compositor(env) is None  # no display at all
    lock = tmp_path / "wayland-7.lock"
    lock.touch()
    assert compositor(env) is None  # left behind by a compositor that died
    # GIVEN a process holding the lock as a Wayland compositor does
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); "
         "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('held', flush=True); time.sleep(60)",
         str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        # THEN it is the compositor, by relative or absolute display name
        assert compositor(env) == (holder.pid, lock.stat().st_ino)
        assert compositor({"WAYLAND_DISPLAY": str(tmp_path / "wayland-7")}) == (
            holder.pid, lock.stat().st_ino)
    finally:
        holder.kill()
        holder.wait()
    # WHEN it dies, nothing serves the display any more
    assert compositor(env) is None


def test_sway_tree_gives_visible_windows_with_rects_and_focus(tmp_path: Path) -> None:
    import json
    import socket
    import struct
    import threading

    from memlane.capture.wayland_windows import SwayIpc, SwayWindows

    tree = {"type": "root", "nodes": [{"type": "output", "nodes": [{"type": "workspace", "nodes": [
        {"type": "con", "id": 4, "pid": 1, "name": "Notes", "app_id": "foot", "visible": True,
         "focused": True, "rect": {"x": 0, "y": 0, "width": 640, "height": 720}},
        {"type": "con", "id": 5, "pid": 1, "name": "Hidden", "app_id": "foot", "visible": False,
         "rect": {"x": 0, "y": 0, "width": 640, "height": 720}}],
        "floating_nodes": [
        {"type": "floating_con", "id": 6, "pid": 1, "name": "Float", "visible": True,
         "window_properties": {"class": "XTerm", "instance": "xterm"},
         "rect": {"x": 100, "y": 100, "width": 300, "height": 200}}]}]}]}
    path = str(tmp_path / "sway.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(14)
            body = json.dumps(tree).encode()
            conn.sendall(b"i3-ipc" + struct.pack("=II", len(body), 4) + body)

    thread = threading.Thread(target=answer)
    thread.start()
    snap = SwayWindows(SwayIpc(path)).snapshot()
    thread.join()
    server.close()
    assert [(w.id, w.app, w.title) for w in snap.windows] == [(4, "foot", "Notes"),
                                                              (6, "XTerm", "Float")]
    assert snap.active is not None and snap.active.id == 4
    assert snap.windows[1].rect == Rect(100, 100, 300, 200) and snap.stacking_known


class _Slot:
    def __init__(self, token: str | None) -> None:
        self.token = token

    def load(self) -> str | None:
        return self.token

    def save(self, token: str | None) -> None:
        self.token = token


class _DesktopPortal:
    """The portal's answers as the desktop would give them; ``shield`` is its lock screen,
    ``granted`` the monitors its record of each grant names, ``connected`` its monitors now
    (``None``: a desktop that does not tell), ``store`` the grants its permission store keeps."""

    def __init__(self) -> None:
        import socket

        self.granted: dict[str, list[str]] = {}
        self.connected: set[str] | None = None
        self.store: set[str] | None = None  # None: it keeps every grant
        self.monitor_changes: list[float] = []  # when GNOME's MonitorsChanged came
        self.shield: bool | None = False
        self.shield_ups: list[float] = []  # when the shield's ActiveChanged(true) came
        self.forgotten: list[str] = []
        self.starts = 0
        self._pipes: list[Any] = []
        self.grant: Any = None
        self.socket = socket

    def start(self, token: str | None, *, dialog_s: float) -> Any:
        from memlane.capture.portal import Grant

        self.starts += 1
        ours, theirs = self.socket.socketpair()  # the PipeWire remote: alive while both ends are
        self._pipes += [ours, theirs]
        self.grant = Grant(f"/session/{self.starts}", ours.fileno(), [], token, ":1.7")
        return self.grant

    def kept(self, token: str) -> bool:
        return self.store is None or token in self.store

    def granted_monitors(self, token: str) -> list[str] | None:
        return self.granted.get(token) if self.kept(token) else None

    def monitors_connected(self) -> set[str] | None:
        return self.connected

    def monitors_changed(self, start: float, end: float) -> bool:
        return any(start <= t <= end for t in self.monitor_changes)

    def alive(self, grant: Any) -> bool:
        return not grant.closed

    def owner(self) -> str:
        return ":1.7"

    def close(self, grant: Any) -> None:
        grant.closed = True

    def shield_up(self) -> bool | None:
        return self.shield

    def shield_seen(self, start: float, end: float) -> bool:
        return any(start <= t <= end for t in self.shield_ups)

    def forget(self, token: str) -> None:
        self.forgotten.append(token)


def test_a_screen_cast_the_desktop_ends_on_locking_resumes_after_unlock_and_one_the_person_stops_stays_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from memlane.capture import wayland
    from memlane.capture.wayland import GrantNeeded, PortalGrabber, ScreenLocked, Waiting

    monkeypatch.setattr(wayland, "ENDED_WAIT_S", 0.3)
    portal = _DesktopPortal()
    slot = _Slot("tok")
    grabber = PortalGrabber(slot, portal=portal)  # type: ignore[arg-type]

    def ended(shield_at: float | None = None) -> None:
        """The desktop closes the running session; its shield went up at ``shield_at``."""
        portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
        if shield_at is not None:
            portal.shield_ups.append(portal.grant.closed_at + shield_at)

    grabber.prepare()
    assert portal.starts == 1
    # GNOME locks: its shield goes up and every screen cast is ended
    ended(shield_at=-0.05)
    portal.shield = True
    with pytest.raises(ScreenLocked, match="locked"):
        grabber.prepare()
    with pytest.raises(ScreenLocked):
        grabber.prepare()  # no new start while locked: the desktop would refuse it
    assert portal.starts == 1
    portal.shield = False  # unlocked: the same grant restores without asking
    grabber.prepare()
    assert portal.starts == 2 and slot.token == "tok"
    # a lock screen that shows a moment after the end, and one already gone at the next tick
    # (only its signal tells; recording was paused, or the curtain lifted at once)
    time.sleep(0.7)  # (the last lock is long past)
    ended()
    with pytest.raises(Waiting, match="ended the screen cast"):
        grabber.prepare()
    portal.shield_ups.append(time.monotonic())
    grabber.prepare()
    assert portal.starts == 3 and slot.token == "tok"
    # the person clicks "Stop Screen Sharing", and locks the screen later: Memlane obeys
    time.sleep(0.7)
    ended()
    snap = Snapshot((win(1, "Notes", Rect(0, 0, 800, 300)),), None)
    tick = Recorder(ExclusionRules(), ChangeDetector(), windows=FakeWindows(snap),
                    grabber=grabber).tick()  # told apart in a moment: waiting, not an error
    assert (tick.state, tick.needs_grant) == ("waiting", False) and "ended" in tick.reason
    time.sleep(0.4)
    portal.shield, portal.shield_ups = True, [*portal.shield_ups, time.monotonic()]
    with pytest.raises(GrantNeeded, match="stopped from the desktop"):
        grabber.prepare()
    assert slot.token is None and portal.forgotten == ["tok"]  # the desktop's copy too
    portal.shield = False
    for _ in range(2):  # said until the person allows it again; nothing is started
        with pytest.raises(GrantNeeded, match="stopped from the desktop"):
            grabber.prepare()
    assert portal.starts == 3
    # allowed again while the screen is locked: nothing starts until it is unlocked
    slot.token = "tok2"
    portal.shield = True
    with pytest.raises(ScreenLocked):
        grabber.prepare()
    assert portal.starts == 3
    portal.shield = False
    grabber.prepare()
    assert portal.starts == 4


# a laptop's panel and the monitor on its dock, as GNOME's portal names them in a grant
LAPTOP, DOCK = "BOE:0x0a1c:0x00000000", "Dell Inc.:DELL U2720Q:7XC8N"


@pytest.fixture
def quick_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cast the desktop ends is told apart (lock, unplug or stop) within 0.3 s, not 5 s."""
    from memlane.capture import wayland

    monkeypatch.setattr(wayland, "ENDED_WAIT_S", 0.3)


@pytest.mark.usefixtures("quick_ends")
def test_a_screen_cast_ended_by_unplugging_a_granted_monitor_waits_for_it_without_a_dialog(
) -> None:
    from memlane.capture.wayland import GrantNeeded, MonitorsGone, PortalGrabber

    portal = _DesktopPortal()
    laptop, dock = LAPTOP, DOCK
    portal.granted = {"tok": [laptop, dock], "tok2": [laptop]}
    portal.connected = {laptop, dock}
    slot = _Slot("tok")
    grabber = PortalGrabber(slot, portal=portal)  # type: ignore[arg-type]
    grabber.prepare()
    # the dock is unplugged: GNOME ends the cast, and would restore the grant only with both
    portal.connected = {laptop}
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    for _ in range(3):  # said at once, and nothing is started (a start would show the dialog)
        with pytest.raises(MonitorsGone, match=r"or off \(DELL U2720Q\): recording resumes"):
            grabber.prepare()
    assert portal.starts == 1 and slot.token == "tok" and portal.forgotten == []
    # the recorder calls it waiting, not an error, and offers to allow the laptop alone
    snap = Snapshot((win(1, "Notes", Rect(0, 0, 800, 300)),), None)
    tick = Recorder(ExclusionRules(), ChangeDetector(), windows=FakeWindows(snap),
                    grabber=grabber).tick()
    assert (tick.state, tick.needs_grant) == ("waiting", True), tick
    # plugged back in: the same grant restores without asking
    portal.connected = {laptop, dock}
    grabber.prepare()
    assert portal.starts == 2 and slot.token == "tok"
    # unplugged again, and the person allows recording of the laptop's screen meanwhile
    portal.connected = {laptop}
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    with pytest.raises(MonitorsGone):
        grabber.prepare()
    slot.token = "tok2"
    grabber.prepare()
    assert portal.starts == 3
    # unplugged, and the person asks to record the laptop alone: while the desktop's dialog is
    # up, its record of the grant is gone (it writes it back, same token, once answered)
    portal.granted["tok2"] = [laptop, dock]
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    with pytest.raises(MonitorsGone):
        grabber.prepare()
    portal.store = set()
    for _ in range(2):  # not taken for a revoke: still waiting, nothing forgotten
        with pytest.raises(MonitorsGone):
            grabber.prepare()
    assert slot.token == "tok2" and portal.forgotten == [] and portal.starts == 3
    portal.store, portal.granted["tok2"] = {"tok2"}, [laptop]
    grabber.prepare()
    assert portal.starts == 4 and slot.token == "tok2"
    # unplugged with the grant revoked meanwhile: said as withdrawn once the monitor is back
    portal.granted["tok2"] = [laptop, dock]
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    with pytest.raises(MonitorsGone):
        grabber.prepare()
    portal.store = set()
    with pytest.raises(MonitorsGone):
        grabber.prepare()
    portal.connected = {laptop, dock}
    with pytest.raises(GrantNeeded, match="withdrew"):
        grabber.prepare()
    assert portal.starts == 4 and slot.token is None
    # the compositor cannot say which monitors are connected just now: still waiting for the
    # same one, nothing started
    slot.token, portal.store = "tok3", None
    portal.granted["tok3"], portal.connected = [laptop, dock], {laptop}
    with pytest.raises(MonitorsGone, match="DELL U2720Q"):
        grabber.prepare()
    portal.connected = None
    with pytest.raises(MonitorsGone, match="DELL U2720Q"):
        grabber.prepare()
    assert portal.starts == 4


@pytest.mark.usefixtures("quick_ends")
def test_a_monitor_unplugged_around_a_lock_or_a_restart_is_waited_for_and_a_quick_replug_restores(
) -> None:
    from memlane.capture import wayland
    from memlane.capture.wayland import GrantNeeded, MonitorsGone, PortalGrabber, ScreenLocked

    laptop, dock = LAPTOP, DOCK
    # started while undocked, with a grant made while docked: no start (it would show the dialog)
    portal = _DesktopPortal()
    portal.granted, portal.connected = {"tok": [laptop, dock]}, {laptop}
    slot = _Slot("tok")
    grabber = PortalGrabber(slot, portal=portal)  # type: ignore[arg-type]
    with pytest.raises(MonitorsGone):
        grabber.prepare()
    assert portal.starts == 0
    portal.connected = {laptop, dock}
    grabber.prepare()
    assert portal.starts == 1
    # locked, undocked while locked, unlocked: waits for the dock
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    portal.shield, portal.shield_ups = True, [time.monotonic()]
    with pytest.raises(ScreenLocked):
        grabber.prepare()
    portal.connected = {laptop}
    portal.shield = False
    with pytest.raises(MonitorsGone):
        grabber.prepare()
    assert portal.starts == 1 and slot.token == "tok" and portal.forgotten == []
    portal.connected = {laptop, dock}
    grabber.prepare()
    assert portal.starts == 2
    # a monitor that drops out and is back before the next tick (a KVM switch, a loose
    # cable): its MonitorsChanged at the end of the cast says so, and the grant restores
    time.sleep(1.2)  # (the lock is long past)
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    portal.monitor_changes.append(portal.grant.closed_at - 0.01)
    grabber.prepare()
    assert portal.starts == 3 and slot.token == "tok" and portal.forgotten == []
    # a monitor plugged seconds before the person's stop does not make the stop a replug
    time.sleep(1.2)
    portal.monitor_changes.append(time.monotonic())
    time.sleep(1.2)
    portal.grant.closed, portal.grant.closed_at = True, time.monotonic()
    with pytest.raises(wayland.Waiting, match="ended the screen cast"):
        grabber.prepare()
    time.sleep(0.4)
    with pytest.raises(GrantNeeded, match="stopped from the desktop"):
        grabber.prepare()
    assert portal.starts == 3 and slot.token is None and portal.forgotten == ["tok"]


def test_an_application_gone_from_the_accessibility_bus_is_skipped_not_every_tick_lost() -> None:
    # seen on GNOME Shell: the recorder's AT-SPI view kept an application that had left the bus,
    # and every tick failed with "The application no longer exists" (nothing was recorded).
    # Here the desktop's answers are scripted; what they raise is the bindings' own error.
    from gi.repository import GLib

    from memlane.capture.wayland_windows import AtspiWindows
    from memlane.capture.xlib import XError

    def error(domain: str, code: int, text: str) -> GLib.Error:
        return GLib.Error.new_literal(GLib.quark_from_string(domain), text, code)

    class States:
        def contains(self, state: object) -> bool:
            return True

    class Window:
        def get_state_set(self) -> States:
            return States()

        def get_name(self) -> str:
            return "Trip plan"

    class App:
        def __init__(self, name: str, fails: GLib.Error | None = None) -> None:
            self.name, self.fails = name, fails

        def get_name(self) -> str:
            if self.fails is not None:
                raise self.fails
            return self.name

        def get_process_id(self) -> int:
            return 0

        def get_child_count(self) -> int:
            return 1

        def get_child_at_index(self, i: int) -> Window:
            return Window()

    class Desktop:
        def __init__(self, apps: list[App]) -> None:
            self.apps = apps

        def get_child_count(self) -> int:
            return len(self.apps)

        def get_child_at_index(self, i: int) -> App:
            return self.apps[i]

    windows = AtspiWindows()
    real = windows._atspi
    gone = App("calendar", error("atspi_error", 0, "The application no longer exists"))

    class Bus:
        StateType = real.StateType
        desktop = Desktop([gone, App("notes")])

        @classmethod
        def get_desktop(cls, i: int) -> Desktop:
            return cls.desktop

    windows._atspi = Bus
    snap = windows.snapshot()
    assert [w.title for w in snap.windows] == ["Trip plan"] and snap.active is not None
    # an application that is there but does not answer may show an excluded window: no tick
    Bus.desktop = Desktop([App("vault", error("g-dbus-error-quark", 24, "Timeout")), App("notes")])
    with pytest.raises(XError, match="Timeout"):
        windows.snapshot()
