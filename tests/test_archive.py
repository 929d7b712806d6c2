"""Export to a portable archive and restore it: identical search results, all or nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from conftest import Cli, render_text

QUERIES = ["dentist friday", "grocery apples", "lunch with Sam", "quarterly planning",
           "what did I eat"]


def seed(run: Cli, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    render_text(["Quarterly planning notes", "Budget review on Monday"]).save(shots / "a.png")
    render_text(["Grocery list: apples, bread", "Dentist on Friday"]).save(shots / "b.png")
    run("ingest-image", str(shots / "a.png"), "--at", "2024-05-01T10:00:00", "--app", "notes")
    run("ingest-image", str(shots / "b.png"), "--at", "2024-05-03T10:00:00", "--app", "notes")
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(json.dumps(r) for r in [
        {"time": "2024-05-01T11:00:00", "speaker": "me", "text": "lunch with Sam at noon",
         "conversation": "daily"},
        {"time": "2024-05-03T12:30:00", "speaker": "Sam", "text": "the ramen place was great",
         "conversation": "daily"},
    ]))
    run("import-chat", str(chat))


def searches(run: Cli) -> list[object]:
    out = []
    for q in QUERIES:
        hits = run.json("search", q)
        assert isinstance(hits, list)
        for hit in hits:  # the image path names the home folder; the rest must be identical
            if hit["source"].get("path"):
                hit["source"]["path"] = Path(hit["source"]["path"]).relative_to(run.home).as_posix()
        out.append(hits)
    return out


@pytest.fixture
def archive(run: Cli, tmp_path: Path) -> Path:
    seed(run, tmp_path)
    path = tmp_path / "out" / "memory.zip"
    result = run("export", str(path))
    assert "2 frames" in result.output and "2 messages" in result.output
    return path


def files_under(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() and p.suffix == ".webp")


def test_round_trip_gives_identical_search_results(run: Cli, archive: Path, tmp_path: Path) -> None:
    before = searches(run)
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist())
    assert manifest["format"] == "memlane-archive" and manifest["version"] == 1
    assert manifest["counts"]["frames"] == 2 and manifest["counts"]["messages"] == 2
    assert {"records/frames.jsonl", "records/messages.jsonl", "manifest.json"} <= names
    assert sum(n.endswith(".webp") for n in names) == 4  # two frames and their thumbnails
    restored = Cli(tmp_path / "restored")
    result = restored("import-archive", str(archive))
    assert "2 frames" in result.output
    assert searches(restored) == before
    assert restored.json("status")["counts"] == run.json("status")["counts"]  # type: ignore[index]
    assert len(files_under(restored.home)) == 4


def test_export_of_a_time_range(run: Cli, tmp_path: Path) -> None:
    seed(run, tmp_path)
    path = tmp_path / "may3.zip"
    run("export", str(path), "--since", "2024-05-02", "--until", "2024-05-04")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        frames = [json.loads(line) for line in zf.read("records/frames.jsonl").splitlines()]
    assert manifest["counts"]["frames"] == 1 and manifest["counts"]["messages"] == 1
    assert manifest["counts"]["ocr_blocks"] >= 1 and manifest["counts"]["conversations"] == 1
    assert "vec" not in frames[0]


@pytest.mark.parametrize("damage", ["truncate", "tamper", "extra"])
def test_damaged_archive_is_refused_and_nothing_is_imported(
    archive: Path, tmp_path: Path, damage: str
) -> None:
    bad = tmp_path / f"{damage}.zip"
    data = archive.read_bytes()
    if damage == "truncate":
        bad.write_bytes(data[: len(data) * 2 // 3])
    else:
        with zipfile.ZipFile(archive) as src, zipfile.ZipFile(bad, "w") as dst:
            for item in src.infolist():
                body = src.read(item.filename)
                if damage == "tamper" and item.filename == "records/messages.jsonl":
                    body = body.replace(b"ramen", b"sushi")
                dst.writestr(item, body)
            if damage == "extra":
                dst.writestr("frames/evil.webp", b"not from this archive")
    restored = Cli(tmp_path / "restored")
    result = restored("import-archive", str(bad), ok=False)
    assert result.exit_code == 3
    assert "Error:" in result.output
    assert {"truncate": "truncated", "tamper": "SHA-256", "extra": "manifest"}[damage] in \
        result.output
    counts = restored.json("status")["counts"]  # type: ignore[index]
    assert not any(counts.values())
    assert files_under(restored.home) == []


def test_import_into_a_home_that_holds_memories_is_refused(run: Cli, archive: Path) -> None:
    result = run("import-archive", str(archive), ok=False)
    assert result.exit_code == 3 and "already holds memories" in result.output
