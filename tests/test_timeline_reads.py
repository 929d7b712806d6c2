"""Timeline reads and the pieces the desktop app relies on, without Qt."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta

from memlane.capture.privacy import ExclusionRules
from memlane.capture.windows import Rect, WindowInfo
from memlane.core.settings import (
    DEFAULT_TOML,
    Settings,
    dump_settings,
    parse_settings,
    save_settings,
)
from memlane.memory import timeline as tl


def frame(i: int, t: float, app: str, title: str) -> tl.FrameRow:
    return tl.FrameRow(i, t, app, title, None, None, 0, "done")


def test_segment_splits_at_app_and_title_switches_and_gaps() -> None:
    # GIVEN a scripted morning: editor, browser (two tabs), a coffee break, editor again
    base = datetime(2026, 3, 2, 9, 0).timestamp()
    frames = [
        frame(1, base, "code", "a.py"), frame(2, base + 5, "code", "a.py"),
        frame(3, base + 10, "firefox", "Docs"), frame(4, base + 15, "firefox", "Docs"),
        frame(5, base + 20, "firefox", "Flights"),
        frame(6, base + 20 + 301, "firefox", "Flights"),  # over the 300 s gap
        frame(7, base + 400, "code", "a.py"),
    ]
    runs = tl.segment(frames)
    assert [(r.app, r.title, [f.id for f in r.frames]) for r in runs] == [
        ("code", "a.py", [1, 2]), ("firefox", "Docs", [3, 4]), ("firefox", "Flights", [5]),
        ("firefox", "Flights", [6]), ("code", "a.py", [7]),
    ]
    assert runs[0].start == base and runs[0].end == base + 5
    assert tl.segment([]) == []
    day_start = tl.day_bounds(date(2026, 3, 2))[0]
    counts = tl.per_hour(frames, day_start)
    assert len(counts) == 24 and counts[9] == 7 and sum(counts) == 7


def test_day_bounds_are_local_midnights() -> None:
    start, end = tl.day_bounds(date(2026, 3, 2))
    assert datetime.fromtimestamp(start) == datetime(2026, 3, 2)
    assert datetime.fromtimestamp(end) == datetime(2026, 3, 2) + timedelta(days=1)


def test_settings_written_back_keep_comments_and_load_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert dump_settings(Settings()) == DEFAULT_TOML
    s = Settings()
    s.capture.interval_seconds = 2.5
    s.privacy.exclude_titles = [r"\bBank\b", "it's private", 'say "hi"']
    s.privacy.redact = False
    s.model.path = "/models/my model.gguf"
    path = tmp_path / "settings.toml"
    path.write_text(DEFAULT_TOML)
    save_settings(path, s)
    text = path.read_text()
    assert parse_settings(tomllib.loads(text)) == s
    assert "# Seconds between screen captures." in text
    assert not list(tmp_path.glob("*.tmp"))


def test_memlanes_own_windows_are_always_excluded() -> None:
    rules = ExclusionRules(apps=(), titles=())  # even with every exclusion removed
    own = WindowInfo(1, "Memlane", "Memlane", pid=42, rect=Rect(0, 0, 800, 600))
    other = WindowInfo(2, "Flights", "firefox", pid=43, rect=Rect(0, 0, 800, 600))
    assert rules.why(own) == "app Memlane"
    assert rules.why(other) is None


def test_days_with_frames_counts_local_days(engine) -> None:  # type: ignore[no-untyped-def]
    from memlane.memory.records import FrameIn

    day = date(2026, 3, 2)
    start, _ = tl.day_bounds(day)
    for t in (start + 1, start + 3600 * 23.9, start + 86400 + 5):  # two on the 2nd, one on the 3rd
        engine.store.add_frame(FrameIn(t, "app", "title", "", "", 1, 1, 0, "", None))
    counts = tl.days_with_frames(engine.store, start - 86400, start + 5 * 86400)
    assert counts == {day: 2, day + timedelta(days=1): 1}


def test_imports_merge_by_alike_read_titles_never_by_alike_file_names() -> None:
    def shot(i: int, title: str) -> tl.FrameRow:
        return tl.FrameRow(i, 1000.0 + 60 * i, "", title, None, None, 0, "done", "import")

    read = [shot(1, "6 sales_data.ods — LibreOffice Calc"), shot(2, "sales_data.ods — LibreOffice Cale")]
    named = [shot(3, "IMG_0001"), shot(4, "IMG_0002")]
    assert [len(r.frames) for r in tl.segment(read)] == [2]
    assert [len(r.frames) for r in tl.segment(named)] == [1, 1]
