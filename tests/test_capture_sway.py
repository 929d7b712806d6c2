"""Capture on a real headless sway (wlroots) desktop without a portal: grim and sway's IPC.

sway runs as an unprivileged user (it refuses root), on its headless back end with the pixman
renderer; the terminals are real ``foot`` windows, and ``memlane`` runs as a separate process.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from wayland_session import SwaySession, sway_missing

pytestmark = [
    pytest.mark.wayland,
    pytest.mark.slow,
    pytest.mark.skipif(sway_missing() is not None, reason=str(sway_missing())),
]


def memlane(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memlane", *args], env=env, capture_output=True,
                          text=True, timeout=180)


def terminal(env: dict[str, str], title: str, text: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["foot", "--title", title, "--app-id", "foot", "sh", "-c",
                             f"echo; echo '   {text}'; sleep 120"], env=env)
    time.sleep(1.5)
    return proc


def frames(home: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "memlane.db") as db:
        try:
            return list(db.execute("SELECT app, title, monitor, image_path FROM frames"))
        except sqlite3.OperationalError:  # a recorder that started is still creating its store
            return []


@pytest.fixture
def sway(tmp_path: Path) -> Iterator[SwaySession]:
    with SwaySession(tmp_path / "desk") as session:
        yield session


def test_terminal_text_is_recorded_with_grim_and_named_from_sway(sway: SwaySession,
                                                                 tmp_path: Path) -> None:
    env = {**sway.env, "MEMLANE_HOME": str(tmp_path / "home")}
    term = terminal(sway.env, "Ledger notes", "quokkamarmalade")
    try:
        done = memlane(env, "capture", "--once")
    finally:
        term.kill()
    assert done.returncode == 0, done.stderr
    assert "capturing with grim" in done.stderr  # the fallback is logged, never silent
    found = json.loads(memlane(env, "search", "quokkamarmalade", "--json").stdout)
    assert found and (found[0]["app"], found[0]["title"]) == ("foot", "Ledger notes")


def test_private_terminal_is_painted_out_beside_and_stops_everything_focused(
    sway: SwaySession, tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env = {**sway.env, "MEMLANE_HOME": str(home)}
    private = terminal(sway.env, "Bank - Private Browsing", "walrusvault")
    try:
        done = memlane(env, "capture", "--once")
        assert "the focused window is excluded" in done.stderr, done.stderr
        assert frames(home) == []
        other = terminal(sway.env, "Shopping list", "pumpernickel")  # tiled beside, focused
        try:
            done = memlane(env, "capture", "--once")
        finally:
            other.kill()
    finally:
        private.kill()
    assert done.returncode == 0, done.stderr
    stored = frames(home)
    assert [(a, t) for a, t, _, _ in stored] == [("foot", "Shopping list")]
    assert json.loads(memlane(env, "search", "pumpernickel", "--json").stdout)
    hits = json.loads(memlane(env, "search", "walrusvault", "--json").stdout)
    assert not any("walrus" in json.dumps(hit).lower() for hit in hits)  # only look-alikes
    # the private half of the screen is one flat colour in the stored (lossy WebP) image
    image = Image.open(home / stored[0][3]).convert("L")
    low, high = image.crop((0, 0, image.width // 2 - 2, image.height)).getextrema()
    assert high - low <= 8


def test_two_outputs_are_both_recorded(tmp_path: Path) -> None:
    with SwaySession(tmp_path / "desk", outputs=2) as session:
        for _ in range(50):
            if session.msg("-t", "get_outputs").count('"name"') >= 2:
                break
            time.sleep(0.2)
        env = {**session.env, "MEMLANE_HOME": str(tmp_path / "home")}
        term = terminal(session.env, "Ledger notes", "quokkamarmalade")
        try:
            done = memlane(env, "capture", "--once")
        finally:
            term.kill()
    assert done.returncode == 0, done.stderr
    assert sorted(m for _, _, m, _ in frames(tmp_path / "home")) == [1, 2]


def _wait(what: str, ready: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(what)


def last_tick(home: Path) -> dict[str, Any]:
    with sqlite3.connect(home / "memlane.db") as db:
        try:
            rows = list(db.execute("SELECT value FROM state WHERE key = 'capture.last_tick'"))
        except sqlite3.OperationalError:
            return {}
    return json.loads(rows[0][0]) if rows else {}


def test_sway_restarting_mid_recording_is_said_then_recording_resumes_with_window_names(
    sway: SwaySession, tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.toml").write_text("[capture]\ninterval_seconds = 1\n")
    env = {**sway.env, "MEMLANE_HOME": str(home)}
    term = terminal(sway.env, "Ledger notes", "lowtidequokka")
    recorder = subprocess.Popen([sys.executable, "-m", "memlane", "capture", "--for", "90"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait("nothing was recorded", lambda: len(frames(home)) >= 1)
        sway.kill()  # a crash: its IPC socket file stays, and nobody answers on it
        # within a tick or two (one may still be a grim run that sway's death cut short)
        _wait("the stopped compositor was not reported",
              lambda: "compositor" in last_tick(home).get("reason", ""), seconds=10)
        time.sleep(2)  # still said while sway is away, without a traceback
        assert "compositor stopped or restarted" in last_tick(home)["reason"], last_tick(home)
        sway.restart()  # a new IPC socket; the recorder's SWAYSOCK names the dead one
        term = terminal(sway.env, "Harbour log", "hightidewalrus")
        _wait("recording did not come back with window names",
              lambda: any(t == "Harbour log" for _, t, _, _ in frames(home)), 60)
        assert last_tick(home).get("state") == "recording", last_tick(home)
    finally:
        term.kill()
        recorder.terminate()
        recorder.wait(60)
    assert recorder.returncode == 0
    found = json.loads(memlane(env, "search", "lowtidequokka", "--json").stdout)
    assert found, "a frame stored before the crash was lost"
    later = json.loads(memlane(env, "search", "hightidewalrus", "--json").stdout)
    assert later and (later[0]["app"], later[0]["title"]) == ("foot", "Harbour log")
