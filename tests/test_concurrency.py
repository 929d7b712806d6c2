"""Fault injection: imports, forgets, searches and the recorder run at once on one home, as separate
processes. None may crash, and afterwards the vector index and the store agree exactly."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import memlane_subprocess_env
from memlane.core.paths import Paths
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine
from xserver import XServer, have_x


def _chats(folder: Path, n: int, per: int) -> list[Path]:
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        path = folder / f"chat{k}.jsonl"
        path.write_text("\n".join(json.dumps({
            "time": 1_700_000_000 + k * 100_000 + i * 60, "speaker": rng.choice(["Ana", "me"]),
            "text": f"chat {k} line {i}: Biscuit walked to the Lisbon ferry {rng.randint(0, 10**6)}",
            "conversation": f"chat {k}"}) for i in range(per)) + "\n")
        out.append(path)
    return out


def _memlane(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "memlane", *args],
                            env=env or memlane_subprocess_env(home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _storm(home: Path, tmp_path: Path, extra: list[subprocess.Popen[str]]) -> None:
    chats = _chats(tmp_path / "chats", 5, 150)
    first = _memlane(home, "import-chat", str(chats[0]))
    assert first.wait(120) == 0, first.stderr.read() if first.stderr else ""
    procs = [_memlane(home, "import-chat", str(p)) for p in chats[1:]]
    time.sleep(0.5)
    procs.append(_memlane(home, "forget", "--query", "chat 0 line 1", "--yes"))
    procs += [_memlane(home, "search", "Biscuit ferry") for _ in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
    for proc in extra:
        proc.terminate()
        proc.wait(60)


def _agree(home: Path, embedder: OnnxEmbedder) -> None:
    with Engine(Paths(home), embedder=embedder) as engine:
        engine.repair()  # what any writer does next: embeds what is pending
        assert engine.index.all_ids() == set(engine.store.expected_vector_ids())
        assert engine.store.count_unembedded() == 0
        assert engine.search("Biscuit ferry").hits
    conn = sqlite3.connect(home / "memlane.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    left = conn.execute("SELECT count(*) FROM messages WHERE text LIKE 'chat 0 line 1%'")
    assert left.fetchone()[0] == 0  # the forget happened, all of it
    # "chat 0 line 1" is lines 1, 10-19 and 100-149 of chat 0
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 5 * 150 - 61
    conn.close()


@pytest.mark.slow
def test_concurrent_imports_forget_and_searches_leave_index_and_store_agreeing(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    home = tmp_path / "home"
    _storm(home, tmp_path, [])
    _agree(home, embedder)


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.skipif(not have_x(), reason="needs Xvfb and openbox")
def test_the_same_storm_with_the_recorder_running(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    home = tmp_path / "home"
    Paths(home).ensure()
    (home / "settings.toml").write_text("[capture]\ninterval_seconds = 1\n")
    xs = XServer()
    try:
        xs.window("Ferry times - Firefox", "Firefox", ["Ferry to Cacilhas leaves at 18:40"])
        env = {**memlane_subprocess_env(home), **xs.env}
        recorder = _memlane(home, "capture", env=env)
        time.sleep(3)
        _storm(home, tmp_path, [recorder])
        assert recorder.returncode in (0, -15), recorder.stderr.read() if recorder.stderr else ""
    finally:
        xs.stop()
    _agree(home, embedder)
    conn = sqlite3.connect(home / "memlane.db")
    assert conn.execute("SELECT count(*) FROM frames").fetchone()[0] >= 1
    conn.close()
