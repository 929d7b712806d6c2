"""A process killed with SIGKILL mid-import leaves a consistent store; re-running completes it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, memlane_subprocess_env

N = 2500


def _big_export(path: Path) -> Path:
    with path.open("w") as fh:
        for i in range(N):
            row = {"time": 1_700_000_000 + 60 * i, "speaker": "me" if i % 2 else "Kim",
                   "text": f"Note {i}: the rhubarb harvest, day {i % 97}, bucket {i % 13}",
                   "conversation": f"garden-{i // 500}"}
            fh.write(json.dumps(row) + "\n")
    return path


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("when", ["after-commit", "early"])
def test_kill_during_import_then_rerun(tmp_path: Path, when: str) -> None:
    home = tmp_path / "home"
    export = _big_export(tmp_path / "garden.jsonl")
    env = memlane_subprocess_env(home)
    cmd = [PYTHON, "-m", "memlane", "import-chat", str(export)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = home / "memlane.db"
    deadline = time.time() + 120
    if when == "after-commit":
        # wait until the messages are committed and embedding has started, then kill
        while time.time() < deadline:
            try:
                if db.exists() and _count(db, "SELECT count(*) FROM messages") == N:
                    break
            except sqlite3.OperationalError:  # schema not created yet
                pass
            time.sleep(0.05)
        time.sleep(1.0)
    else:
        while time.time() < deadline and not db.exists():
            time.sleep(0.01)
        time.sleep(0.2)
    assert proc.poll() is None, "the import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    # the store is consistent: all of the file or none of it, never a part
    if db.exists():
        assert _count(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'") == 0
        assert _count(db, "SELECT count(*) FROM messages") in (0, N)
    if when == "after-commit":
        assert _count(db, "SELECT count(*) FROM messages WHERE vec IS NULL") > 0

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _count(db, "SELECT count(*) FROM messages") == N
    assert _count(db, "SELECT count(DISTINCT conversation_id || external_id) FROM messages") == N
    assert _count(db, "SELECT count(*) FROM messages WHERE vec IS NULL") == 0
    status = subprocess.run([PYTHON, "-m", "memlane", "status", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    info = json.loads(status.stdout)
    assert info["counts"]["messages"] == N and info["pending_vectors"] == 0
    hits = subprocess.run([PYTHON, "-m", "memlane", "search", "rhubarb bucket 7", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(hits.stdout)
    # every row has exactly its vector: nothing missing, nothing duplicated
    vectors = subprocess.run(
        [PYTHON, "-c", "import sys; from memlane.services.engine import Engine; from pathlib import Path;"
         " e = Engine.open(Path(sys.argv[1])); print(e.index.count())", str(home)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert int(vectors.stdout.strip()) == N
