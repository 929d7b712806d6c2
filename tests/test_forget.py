"""Forgetting, proven: a canary string is nowhere on disk afterwards, and derived records go too."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from conftest import render_text
from memlane.capture.ocr import TesseractOcr
from memlane.core.paths import Paths
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine

LETTERS = "ACDEFHKMNPRTWXY"  # letters tesseract does not confuse with digits or each other


def _canary() -> str:
    return "ZEBRA" + "".join(random.choice(LETTERS) for _ in range(8))


def _all_bytes(home: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(home.rglob("*")) if p.is_file()]


def _found(home: Path, canary: str) -> list[str]:
    needles = []
    for form in {canary, canary.lower()}:
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            needles.append(form.encode(encoding))
    return [f"{p.relative_to(home)}" for p, data in _all_bytes(home)
            if any(n in data for n in needles)]


def _seed(run, tmp_path: Path, canary: str) -> None:  # type: ignore[no-untyped-def]
    shots = tmp_path / "shots"
    shots.mkdir()
    render_text([f"Secret code {canary}", "Quarterly planning notes"]).save(shots / "a.png")
    render_text(["Grocery list: apples, bread", "Dentist on Friday"]).save(shots / "b.png")
    out = run("ingest-image", str(shots), "--at", "2024-05-01T10:00:00", "--app", "notes")
    assert "2 frame(s) stored" in out.output
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(json.dumps(r) for r in [
        {"time": "2024-05-01T11:00:00", "speaker": "me", "text": f"the code is {canary}",
         "conversation": "secrets"},
        {"time": "2024-05-02T11:00:00", "speaker": "me", "text": "lunch with Sam at noon",
         "conversation": "daily"},
    ]))
    run("import-chat", str(chat))


def test_forgotten_canary_is_nowhere_on_disk(run, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    canary = _canary()
    _seed(run, tmp_path, canary)
    hits = run.json("search", canary)
    assert isinstance(hits, list) and {h["kind"] for h in hits} >= {"frame", "message"}
    assert _found(home, canary)  # the scan can see it while it is stored
    before = run.json("status")["counts"]  # type: ignore[index]
    with Engine(Paths(home)) as eng:
        vectors_before = eng.index.count()
    dry = run("forget", "--query", canary, "--dry-run").output
    assert "Would forget: 1 message(s), 1 frame(s)" in dry
    assert run.json("status")["counts"] == before  # type: ignore[index]
    out = run("forget", "--query", canary, "--yes").output
    assert "Forgot 1 message(s), 1 frame(s)" in out
    # every byte of every file under the home folder, in UTF-8 and UTF-16, both cases
    assert _found(home, canary) == []
    # and every image that is left, read again by OCR
    ocr = TesseractOcr("eng")
    images = [p for p in home.rglob("*") if p.suffix in (".webp", ".png", ".jpg")]
    assert images, "the other frame and its thumbnail should remain"
    for path in images:
        with Image.open(path) as img:
            assert canary not in ocr.read(img).text.upper()
    with Engine(Paths(home)) as eng:
        # one message (1 chunk) and one frame (1 chunk of OCR text) left the index
        assert eng.index.count() == vectors_before - 2
        assert eng.store.counts()["frames"] == 1 and eng.store.counts()["messages"] == 1
        log = eng.store.sql("SELECT scope, counts FROM deletion_log")
    assert json.loads(log[0][0]) == {"query": "(text not recorded)"}
    assert json.loads(log[0][1]) == {"message": 1, "frame": 1}
    left = run.json("search", canary)
    assert isinstance(left, list) and all(canary not in h["snippet"].upper() for h in left)


def test_scopes_ids_time_and_derived_records(home: Path, embedder: OnnxEmbedder, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _seed(run, tmp_path, _canary())
    with Engine(Paths(home), embedder=embedder) as eng:
        (msg_id,) = eng.store.sql("SELECT id FROM messages WHERE text LIKE 'lunch%'")[0]
        # an episode derived from that message (what consolidation will write)
        with eng.store.transaction() as conn:
            cur = conn.execute("INSERT INTO episodes (start, end, summary, created)"
                               " VALUES (1, 2, 'Lunch plans', 0)")
            conn.execute("INSERT INTO lineage VALUES ('episode', ?, 'message', ?)",
                         (cur.lastrowid, msg_id))
        from memlane.memory.forget import Scope

        todo, _ = eng.forget(Scope(ids=(f"message:{msg_id}",)), dry_run=True)
        assert todo.counts() == {"message": 1, "derived_episode": 1}
        eng.forget(Scope(ids=(f"message:{msg_id}",)))
        assert eng.store.counts()["episodes"] == 0
        assert eng.store.sql("SELECT count(*) FROM lineage")[0][0] == 0
        assert eng.store.sql("SELECT count(*) FROM conversations WHERE external_id = 'daily'"
                             )[0][0] == 0  # a conversation left empty goes too
    # a time range: the two frames were at 10:00 on 1 May
    out = run("forget", "--since", "2024-05-01T09:00:00", "--until", "2024-05-01T10:30:00",
              "--yes").output
    assert "2 frame(s)" in out
    assert list((home / "frames").rglob("*.webp")) == []
    assert run("forget", "--all", "--yes").output.startswith("Forgot 1 message(s)")
    status = run.json("status")
    assert isinstance(status, dict) and sum(status["counts"].values()) == 0


def test_forget_needs_a_scope_and_confirmation(run) -> None:  # type: ignore[no-untyped-def]
    assert run("forget", ok=False).exit_code == 2
    assert run("forget", "--id", "nonsense", ok=False).exit_code == 2
    assert "Nothing matches" in run("forget", "--query", "nothing-here").output


def test_forget_without_yes_refuses_when_it_cannot_ask(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _seed(run, tmp_path, _canary())
    result = run("forget", "--app", "notes", ok=False)
    assert result.exit_code == 2 and "--yes" in result.output
    conn = sqlite3.connect(run.home / "memlane.db")
    assert conn.execute("SELECT count(*) FROM frames").fetchone()[0] == 2
    conn.close()


@pytest.mark.parametrize("selector", [["--app", "notes"], ["--query", "grocery"]])
def test_app_and_query_scopes(run, tmp_path: Path, selector: list[str]) -> None:  # type: ignore[no-untyped-def]
    _seed(run, tmp_path, _canary())
    out = run("forget", *selector, "--yes").output
    assert ("2 frame(s)" in out) if selector[0] == "--app" else ("1 frame(s)" in out)
