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
        return list(db.execute("SELECT app, title, monitor, image_path FROM frames"))


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
