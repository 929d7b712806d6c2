"""Screenshots become frames with real tesseract OCR, word boxes and a time; bad files are refused."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from conftest import SCREENS, render_text, screenshots
from memlane.services.ingest import time_from_name


def test_screenshot_is_ocrd_stored_and_found(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shot = tmp_path / "Screenshot from 2024-06-03 14-05-09.png"
    render_text(["Flights to Lisbon - TAP Air Portugal", "Return fare 129 EUR Tuesday"]).save(shot)
    out = run("ingest-image", str(shot), "--app", "firefox").output
    assert "1 frame(s) stored" in out
    hits = run.json("search", "Lisbon fare", "--kind", "frame")
    assert hits and hits[0]["kind"] == "frame" and hits[0]["app"] == "firefox"
    assert "Lisbon" in hits[0]["snippet"]
    assert hits[0]["time"].startswith("2024-06-03T14:05:09")
    source = hits[0]["source"]
    assert source["type"] == "frame" and Path(source["path"]).is_file()
    assert source["path"].endswith(".webp") and str(run.home) in source["path"]
    # word boxes and confidences are kept
    from memlane.memory.store import Store

    store = Store(run.home / "memlane.db")
    (words,) = store.sql("SELECT words FROM ocr_blocks WHERE text LIKE '%Lisbon%'")[0]
    boxes = {w[0]: w for w in json.loads(words)}
    assert boxes["Lisbon"][3] > 0 and boxes["Lisbon"][5] > 50
    thumb = store.sql("SELECT thumb_path FROM frames")[0][0]
    assert (run.home / thumb).is_file()
    # the same pixels again, under another name, are not stored twice
    other = tmp_path / "copy.png"
    other.write_bytes(shot.read_bytes())
    assert "1 already known" in run("ingest-image", str(other)).output
    assert run.json("status")["counts"]["frames"] == 1


def test_time_from_at_name_or_mtime(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = tmp_path / "a.png"
    render_text(["Alpha quarterly report"]).save(a)
    b = tmp_path / "b.png"
    render_text(["Bravo invoice overdue"]).save(b)
    os.utime(b, (1_600_000_000, 1_600_000_000))
    run("ingest-image", str(a), "--at", "2022-01-02T03:04:05")
    run("ingest-image", str(b))
    alpha = run.json("search", "quarterly report", "--kind", "frame")[0]
    bravo = run.json("search", "invoice overdue", "--kind", "frame")[0]
    assert alpha["time"].startswith("2022-01-02T03:04:05")
    assert datetime.fromisoformat(bravo["time"]).timestamp() == 1_600_000_000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2023-12-20_19-31-31-255913.jpg", "2023-12-20 19:31:31"),
        ("Screenshot from 2024-06-03 14-05-09.png", "2024-06-03 14:05:09"),
        ("Screen Shot 2021-03-04 at 7.08.09 PM.png", "2021-03-04 19:08:09"),
        ("Screenshot_20240101-235959.png", "2024-01-01 23:59:59"),
        ("holiday.png", None),
    ],
)
def test_file_name_timestamps(name: str, expected: str | None) -> None:
    ts = time_from_name(name)
    got = None if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    assert got == expected


def test_corrupt_and_missing_images_are_reported_not_fatal(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.png"
    render_text(["Kilimanjaro trek packing list"]).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    result = run("ingest-image", str(bad), str(good), str(text), str(tmp_path / "gone.png"), ok=False)
    assert result.exit_code == 3
    assert f"{bad}: broken image" in result.stderr or f"{bad}: not an image" in result.stderr
    assert f"{text}: not an image" in result.stderr
    assert "gone.png: no such file" in result.stderr
    assert "1 frame(s) stored" in result.output
    assert run.json("search", "Kilimanjaro", "--kind", "frame")


@pytest.mark.shared_data
def test_real_desktop_screenshots(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not SCREENS.exists():
        pytest.skip(f"{SCREENS} not present")
    rows = [json.loads(line) for line in (SCREENS / "manifest.jsonl").read_text().splitlines()]
    # the last frame of a session shows the page the person was working in
    last: dict[str, dict[str, str]] = {}
    for row in rows:
        last[row["session"]] = row
    english = next(r for r in last.values() if r["task_prompt"].isascii())
    chinese = next(r for r in last.values() if not r["task_prompt"].isascii())
    paths = [str(SCREENS / english["path"]), str(SCREENS / chinese["path"])]
    run("ingest-image", *paths)
    status = run.json("status")
    assert status["counts"]["frames"] == 2
    # a word tesseract read from a screenshot finds that screenshot again
    from memlane.memory.store import Store

    store = Store(run.home / "memlane.db")
    other = " ".join(t for (t,) in store.sql("SELECT text FROM ocr_blocks WHERE frame_id = 2"))
    words = [w for (t,) in store.sql("SELECT text FROM ocr_blocks WHERE frame_id = 1")
             for w in t.split() if w.isalpha() and len(w) > 6 and w not in other]
    assert len(words) > 5
    hits = run.json("search", " ".join(words[:3]), "--kind", "frame")
    assert hits[0]["id"] == "frame:1"


def test_a_screenshot_is_labelled_from_its_own_title_bar(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = screenshots(tmp_path / "shots", {
        "2024-05-01_10-00-00.png": ["Flights to Lisbon - Mozilla Firefox", "Return fare 129 EUR"],
        "2024-05-01_10-01-00.png": ["Quarterly budget review notes", "Rent 950 Groceries 310"],
        "2024-05-01_10-02-00.png": ["Quarterly budget review notes 2", "Rent 950 Groceries 340"]})
    run("ingest-image", str(shots))
    from memlane.memory import timeline as tl
    from memlane.memory.store import Store

    store = Store(run.home / "memlane.db")
    rows = tl.frames_between(store, 0, 2e9)
    assert [(r.app, r.title) for r in rows][:2] == [
        ("firefox", "Flights to Lisbon - Mozilla Firefox"),
        ("", "Quarterly budget review notes")]
    assert rows[0].where == "firefox" and rows[1].where == "imported screenshot"
    # three screenshots a minute apart: two activities (firefox, then two alike titles)
    assert [len(r.frames) for r in tl.segment(rows)] == [1, 2]
    out = run("search", "quarterly budget").stdout
    assert "Quarterly budget review notes" in out  # the CLI names the screen, not "frame"


@pytest.mark.parametrize("line, expected", [
    ("e JSR RB - Search — Mozilla Firefox -oXx", ("firefox", "JSR RB - Search — Mozilla Firefox")),
    ("6 sales_data.ods — LibreOffice Calc 一中 X",
     ("libreoffice-calc", "sales_data.ods — LibreOffice Calc")),
    ("i] New.odt — LibreOffice Writer 一中 X", ("libreoffice-writer", "New.odt — LibreOffice Writer")),
    ("e Mozilla Firefox Ox", ("firefox", "Mozilla Firefox")),
    ("Signal strength is low today", ("", "Signal strength is low today")),
    ("@ x", ("", "")),
    ("A Tale of Two Cities", ("", "A Tale of Two Cities")),
    ("3 unread messages - Inbox", ("", "3 unread messages - Inbox")),
])
def test_titles_read_from_real_screenshot_lines(line: str, expected: tuple[str, str]) -> None:
    from memlane.services.ingest import label_from_text

    assert label_from_text([line]) == expected
