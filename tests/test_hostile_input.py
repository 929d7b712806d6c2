"""Hostile input: crafted archives stay inside the home, forget's text is literal, ingest redacts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from conftest import Cli, render_text


def _seed(run: Cli, tmp_path: Path) -> Path:
    shot = tmp_path / "a.png"
    render_text(["Quarterly planning notes", "Budget review on Monday"]).save(shot)
    run("ingest-image", str(shot), "--at", "2024-05-01T10:00:00", "--app", "notes")
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(json.dumps(r) for r in [
        {"time": "2024-05-01T11:00:00", "speaker": "me", "text": "Biscuit the dog needs a walk",
         "conversation": "Pets and vets"},
        {"time": "2024-05-01T11:05:00", "speaker": "me", "text": "100% sure about lunch",
         "conversation": "daily"},
    ]))
    run("import-chat", str(chat))
    archive = tmp_path / "memory.zip"
    run("export", str(archive))
    return archive


def _rewrite(src: Path, dst: Path, *, change: dict[str, bytes] | None = None,
             add: dict[str, bytes] | None = None, honest_manifest: bool = True) -> None:
    """Copy an archive with some members changed or added, the manifest updated to match."""
    change, add = change or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        manifest = json.loads(zin.read("manifest.json"))
        members = {**{n: zin.read(n) for n in manifest["members"]}, **change, **add}
        for name, data in members.items():
            zout.writestr(name, data)
            if honest_manifest:
                manifest["members"][name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                             "bytes": len(data)}
        zout.writestr("manifest.json", json.dumps(manifest))


def _frames_with(archive: Path, **values: object) -> bytes:
    with zipfile.ZipFile(archive) as zf:
        rows = [json.loads(line) for line in zf.read("records/frames.jsonl").splitlines()]
    rows[0].update(values)
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _counts(cli: Cli) -> dict[str, int]:
    return cli.json("status")["counts"]  # type: ignore[index,return-value]


@pytest.mark.parametrize("where", ["../outside.webp", "/tmp/memlane-victim.webp", "memlane.db",
                                   "settings.toml", "frames/../../outside.webp"])
def test_archive_rows_cannot_name_files_outside_the_frame_folders(
    run: Cli, tmp_path: Path, where: str
) -> None:
    archive = _seed(run, tmp_path)
    victim = tmp_path / "outside.webp"
    victim.write_bytes(b"the person's own file")
    bad = tmp_path / "bad.zip"
    _rewrite(archive, bad, change={"records/frames.jsonl": _frames_with(archive, image_path=where)})
    restored = Cli(tmp_path / "restored" / "home")
    result = restored("import-archive", str(bad), ok=False)
    assert result.exit_code == 3 and "outside the frames folder" in result.output
    assert not any(_counts(restored).values())
    assert victim.read_bytes() == b"the person's own file"


def test_settings_and_other_members_are_refused_and_settings_survive(
    run: Cli, tmp_path: Path
) -> None:
    archive = _seed(run, tmp_path)
    restored = Cli(tmp_path / "restored")
    restored("status")
    settings = restored.home / "settings.toml"
    settings.write_text("[privacy]\nredact = true\n")
    for name in ("settings.toml", "vectors/x.bin", "frames/2024/05/01/x.png", "key.json"):
        bad = tmp_path / "bad.zip"
        _rewrite(archive, bad, add={name: b"[privacy]\nredact = false\n"})
        result = restored("import-archive", str(bad), ok=False)
        assert result.exit_code == 3 and "unexpected member" in result.output, name
    assert settings.read_text() == "[privacy]\nredact = true\n"
    assert not any(_counts(restored).values())


def test_an_archive_image_never_replaces_a_file_and_rollback_keeps_it(
    run: Cli, tmp_path: Path
) -> None:
    archive = _seed(run, tmp_path)
    restored = Cli(tmp_path / "restored")
    restored("status")
    with zipfile.ZipFile(archive) as zf:
        image = next(n for n in zf.namelist() if n.startswith("frames/"))
    existing = restored.home / image
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"already here")
    result = restored("import-archive", str(archive), ok=False)
    assert result.exit_code == 3 and "never replaces" in result.output
    assert existing.read_bytes() == b"already here"
    assert not any(_counts(restored).values())


def test_a_zip_bomb_is_refused_before_it_is_inflated(run: Cli, tmp_path: Path) -> None:
    archive = _seed(run, tmp_path)
    bomb = tmp_path / "bomb.zip"
    big = b"\0" * (80 << 20)  # a "frame image" of 80 MB that deflates to almost nothing
    _rewrite(archive, bomb, add={"frames/2024/05/01/bomb.webp": big})
    restored = Cli(tmp_path / "restored")
    result = restored("import-archive", str(bomb), ok=False)
    assert result.exit_code == 3 and "more than any frame image" in result.output
    assert not list((restored.home / "frames").rglob("*.webp"))


def test_a_manifest_that_lies_about_sizes_is_refused(run: Cli, tmp_path: Path) -> None:
    archive = _seed(run, tmp_path)
    liar = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(liar, "w") as zout:
        manifest = json.loads(zin.read("manifest.json"))
        for name in manifest["members"]:
            zout.writestr(name, zin.read(name))
        manifest["members"]["records/messages.jsonl"]["bytes"] = 10
        zout.writestr("manifest.json", json.dumps(manifest))
    result = Cli(tmp_path / "restored")("import-archive", str(liar), ok=False)
    assert result.exit_code == 3 and "size" in result.output


@pytest.mark.parametrize("manifest", [[], {"format": "memlane-archive", "version": 1},
                                      {"format": "memlane-archive", "version": 1,
                                       "members": {"records/frames.jsonl": "x"}},
                                      {"format": "memlane-archive", "version": [1]}])
def test_manifests_of_the_wrong_shape_are_one_line_errors(tmp_path: Path, manifest: object) -> None:
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
    result = Cli(tmp_path / "home")("import-archive", str(path), ok=False)
    assert result.exit_code == 3 and result.output.startswith("Error:")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", [1e300, -1e15, "yesterday", [1, 2]])
def test_archive_rows_with_impossible_values_are_refused(
    run: Cli, tmp_path: Path, value: object
) -> None:
    archive = _seed(run, tmp_path)
    bad = tmp_path / "bad.zip"
    _rewrite(archive, bad, change={"records/frames.jsonl": _frames_with(archive, time=value)})
    restored = Cli(tmp_path / "restored")
    result = restored("import-archive", str(bad), ok=False)
    assert result.exit_code == 3 and "records/frames.jsonl line 1" in result.output
    assert not any(_counts(restored).values())
    assert not list((restored.home / "frames").rglob("*.webp"))


def test_forget_never_deletes_a_file_a_row_names_outside_the_home(
    run: Cli, tmp_path: Path
) -> None:
    _seed(run, tmp_path)
    victim = tmp_path / "victim.webp"
    victim.write_bytes(b"keep me")
    conn = sqlite3.connect(run.home / "memlane.db")
    conn.execute("UPDATE frames SET thumb_path = ?", [str(victim)])
    conn.commit()
    conn.close()
    run("forget", "--app", "notes", "--yes")
    assert victim.read_bytes() == b"keep me"


@pytest.mark.parametrize("query", ["_", "B_scuit", "%%", "Bisc%", "\\"])
def test_forget_query_wildcards_are_literal(run: Cli, tmp_path: Path, query: str) -> None:
    _seed(run, tmp_path)
    before = _counts(run)
    out = run("forget", "--query", query, "--yes").output
    assert "Nothing matches" in out
    assert _counts(run) == before


def test_forget_query_matches_a_literal_percent_and_a_conversation_title(
    run: Cli, tmp_path: Path
) -> None:
    _seed(run, tmp_path)
    run("forget", "--query", "100%", "--yes")
    assert _counts(run)["messages"] == 1
    run("forget", "--query", "Pets and vets", "--yes")  # the title, not the message text
    assert _counts(run)["messages"] == 0


def test_ingest_image_redacts_text_and_pixels(run: Cli, tmp_path: Path) -> None:
    secrets = ["Card 4111 1111 1111 1111", "password: hunter2swordfish",
               "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
               "IBAN GB82 WEST 1234 5698 7654 32"]
    shot = tmp_path / "secrets.png"
    image = render_text(["Account settings", *secrets], size=(1400, 500))
    image.save(shot)
    run("ingest-image", str(shot), "--app", "firefox")
    conn = sqlite3.connect(run.home / "memlane.db")
    text = " ".join(r[0] for r in conn.execute("SELECT text FROM ocr_blocks"))
    paths = conn.execute("SELECT image_path, thumb_path FROM frames").fetchone()
    conn.close()
    assert "Account" in text
    for needle in ("4111", "hunter2", "wJalrXUtnFEMI", "WEST"):
        assert needle not in text, text
    assert text.count("[redacted") >= 4
    # the stored frame is painted: OCR of it no longer reads the secrets
    from memlane.capture.ocr import TesseractOcr

    stored = TesseractOcr().read(_open(run.home / paths[0]))
    assert "hunter2" not in stored.text and "4111" not in stored.text
    assert "Account" in stored.text


def _open(path: Path):  # type: ignore[no-untyped-def]
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def test_a_killed_exports_snapshot_is_cleaned_at_the_next_start(run: Cli, tmp_path: Path) -> None:
    _seed(run, tmp_path)
    # what a SIGKILLed export leaves: its work folder with a copy of the database, and a partial
    # archive beside the target
    work = run.home / "tmp" / "export-killed"
    work.mkdir(parents=True)
    (work / "snapshot.db").write_bytes((run.home / "memlane.db").read_bytes())
    partial = tmp_path / ".memory.zip.123.partial"
    partial.write_bytes(b"PK partial")
    (work / "lock").write_text(str(partial))
    run("status")
    assert not work.exists() and not partial.exists()


def test_an_export_in_progress_is_not_cleaned_up(run: Cli, tmp_path: Path) -> None:
    import fcntl

    _seed(run, tmp_path)
    work = run.home / "tmp" / "export-running"
    work.mkdir(parents=True)
    with (work / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run("status")
        assert work.exists()


def test_export_never_leaves_a_snapshot_beside_the_target(run: Cli, tmp_path: Path) -> None:
    _seed(run, tmp_path)
    out = tmp_path / "exports" / "m.zip"
    run("export", str(out))
    assert [p.name for p in out.parent.iterdir()] == ["m.zip"]
    assert not list((run.home / "tmp").iterdir())
    result = run("export", "/dev/null/m.zip", ok=False)
    assert result.exit_code == 5 and result.output.startswith("Error:")


@pytest.mark.parametrize("probe", ["dev-zero", "fifo", "folder", "nan", "year-1", "deep",
                                   "author", "huge-message"])
def test_malformed_chat_files_are_one_line_errors(run: Cli, tmp_path: Path, probe: str) -> None:
    import os

    path = tmp_path / f"{probe}.json"
    if probe == "dev-zero":
        path = Path("/dev/zero")
    elif probe == "fifo":
        os.mkfifo(path)
    elif probe == "folder":
        path.mkdir()
    elif probe == "nan":
        path = tmp_path / "nan.jsonl"
        path.write_text('{"time": NaN, "text": "x"}\n')
    elif probe == "year-1":
        path = tmp_path / "old.jsonl"
        path.write_text('{"time": "0001-01-01T00:00:00", "text": "x"}\n')
    elif probe == "deep":
        path.write_text("[" * 50_000 + "]" * 50_000)
    elif probe == "author":
        path.write_text(json.dumps([{"mapping": {"a": {"message": {
            "author": "bob", "content": {"parts": ["hi"]}, "create_time": 1e400}}}}]))
    elif probe == "huge-message":
        path = tmp_path / "huge.jsonl"
        path.write_text(json.dumps({"time": 1_700_000_000, "text": "x" * 300_000}) + "\n")
    result = run("import-chat", str(path), ok=False)
    assert result.exit_code == 3
    assert result.output.startswith("Error:") and result.output.count("\n") == 1, result.output
    assert run.json("status")["counts"]["messages"] == 0  # type: ignore[index]


def test_a_huge_text_line_is_parsed_in_linear_time(run: Cli, tmp_path: Path) -> None:
    import time

    path = tmp_path / "transcript.txt"
    path.write_text("Ana: hello\n" + " " * 40_000 + "x\n" + "#" * 40_000 + "\n"
                    + "Ana" + " " * 40_000 + ": still here\n")
    t0 = time.perf_counter()
    run("import-chat", str(path))
    assert time.perf_counter() - t0 < 30  # was 145 s for one such line
    assert run.json("status")["counts"]["messages"] == 1  # type: ignore[index]


def test_odd_images_do_not_stop_a_folder_ingest(run: Cli, tmp_path: Path) -> None:
    import os

    from PIL import Image

    shots = tmp_path / "shots"
    shots.mkdir()
    Image.new("RGB", (40_000, 20), "white").save(shots / "a-wide.png")
    (shots / "b-corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    render_text(["Quarterly planning notes"]).save(shots / "c-good.png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result = run("ingest-image", str(shots), str(fifo), ok=False)
    assert result.exit_code == 3
    assert "2 frame(s) stored" in result.output  # the wide one (scaled) and the good one
    assert "not a regular file" in result.output and "b-corrupt.png" in result.output
    assert "Traceback" not in result.output
