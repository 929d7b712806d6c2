"""``memlane journal`` and the timeline view it is built from, on a real home (chats, OCR'd screens,
consolidated episodes); the daily journal written by the recorder's upkeep; memlane:// links."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from conftest import Cli, chat_file, screenshots
from memlane.core.paths import Paths
from memlane.memory.store import Store
from memlane.models.embedder import OnnxEmbedder
from memlane.services import handoff
from memlane.services.engine import Engine
from memlane.services.journal import BEGIN, END
from memlane.services.upkeep import Upkeep


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    chat = chat_file(tmp_path / "chat.jsonl", [
        ("2024-05-01T11:00:00", "Ana", "The ferry leaves at 18:40.", "trip"),
        ("2024-05-01T11:01:00", "me", "I prefer the window seat.", "trip"),
        ("2024-05-03T09:00:00", "me", "Dentist on Thursday.", "plans"),
    ])
    shots = screenshots(tmp_path / "shots", {
        "2024-05-01_10-30-00.png": ["Ferry timetable Faro Tavira", "Departure 18:40 pier 3"]})
    run = Cli(home)
    run("import-chat", str(chat))
    run("ingest-image", str(shots), "--app", "firefox", "--title", "Ferries - Mozilla Firefox")
    run("consolidate", "--no-model")
    return home


def test_journal_writes_each_day_and_a_rerun_keeps_what_the_person_added(
        memory: Path, tmp_path: Path) -> None:
    run = Cli(memory)
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "ideas.md").write_text("my own note\n")
    (vault / "2024-05-03.md").write_text("# My own daily note\n")  # the person's, no markers
    out = run("journal", str(vault), "--since", "2024-05-01", "--until", "2024-05-03")
    assert "1 day file(s) written" in out.stdout
    assert "Kept your own 2024-05-03.md" in out.stderr
    day = (vault / "2024-05-01.md").read_text()
    assert day.startswith(BEGIN) and day.rstrip().endswith(END)
    assert "# Wednesday 1 May 2024" in day
    assert "Ferry timetable" in day and "memlane://frame/" in day  # the screen episode, linked
    assert "## Conversations" in day and "trip" in day and "(jsonl, 2 messages)" in day
    assert not (vault / "2024-05-02.md").exists()  # nothing that day
    assert (vault / "2024-05-03.md").read_text() == "# My own daily note\n"
    assert (vault / "ideas.md").read_text() == "my own note\n"
    # the person writes around Memlane's part; a re-run changes nothing of theirs
    (vault / "2024-05-01.md").write_text("Morning pages.\n" + day + "\nEvening: tired.\n")
    again = run("journal", str(vault), "--since", "2024-05-01", "--until", "2024-05-03")
    assert "0 day file(s) written, 1 unchanged" in again.stdout
    # a new memory of that day updates the block, and only the block
    chat = tmp_path / "more.jsonl"
    chat.write_text(json.dumps({"time": "2024-05-01T20:00:00", "speaker": "Ana",
                                "text": "Bring sunscreen.", "conversation": "sun"}))
    run("import-chat", str(chat))
    run("journal", str(vault), "--since", "2024-05-01", "--until", "2024-05-03")
    text = (vault / "2024-05-01.md").read_text()
    assert text.startswith("Morning pages.\n" + BEGIN) and text.endswith("\nEvening: tired.\n")
    assert "sun" in text and text.count(BEGIN) == 1
    # forgetting a day's memories takes them out of its file; the person's lines stay
    run("forget", "--since", "2024-05-01", "--until", "2024-05-01", "--yes")
    run("journal", str(vault), "--since", "2024-05-01", "--until", "2024-05-03")
    text = (vault / "2024-05-01.md").read_text()
    assert "Ferry" not in text and "Nothing remembered this day." in text
    assert text.startswith("Morning pages.\n") and text.endswith("\nEvening: tired.\n")


def test_a_file_holding_only_a_forgotten_day_is_removed(memory: Path, tmp_path: Path) -> None:
    run = Cli(memory)
    vault = tmp_path / "vault"
    run("journal", str(vault), "--since", "2024-05-03", "--until", "2024-05-03")
    assert (vault / "2024-05-03.md").exists()
    run("forget", "--query", "Dentist", "--yes")
    out = run("journal", str(vault), "--since", "2024-05-03", "--until", "2024-05-03")
    assert "1 removed" in out.stdout and not (vault / "2024-05-03.md").exists()
    assert not [p.name for p in vault.iterdir()]  # no temporary file left either


def test_journal_into_an_unwritable_place_is_a_clear_error(memory: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = Cli(memory)("journal", str(blocker / "vault"), ok=False)
    assert out.exit_code == 5 and "cannot create the journal folder" in out.output
    bad = Cli(memory)("journal", str(tmp_path / "v"), "--since", "whenever", ok=False)
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_timeline_command_shows_a_day_and_a_range(memory: Path) -> None:
    run = Cli(memory)
    view = run.json("timeline", "--since", "2024-05-01", "--until", "2024-05-03")
    assert [d["day"] for d in view["days"]] == ["2024-05-01", "2024-05-03"]
    first = view["days"][0]
    assert first["frames"] == 1 and first["activities"][0]["app"] == "firefox"
    assert [c["title"] for c in first["conversations"]] == ["trip"]
    shown = run("timeline", "--day", "2024-05-01").stdout
    assert "2024-05-01" in shown and "chat: trip (2 message(s))" in shown
    nothing = run("timeline", "--day", "2024-05-02").stdout
    assert "Nothing remembered from 2024-05-02 to 2024-05-02" in nothing
    assert run("timeline", "--day", "2024-05-01", "--since", "2024-05-01", ok=False).exit_code == 2


def test_the_recorders_upkeep_writes_the_daily_journal_when_a_folder_is_set(
        memory: Path, tmp_path: Path, embedder: OnnxEmbedder) -> None:
    vault = tmp_path / "vault"
    now = datetime(2024, 5, 2, 9, 0).timestamp()  # the day after the chat and the screen
    with Engine(Paths(memory), embedder=embedder) as engine:
        engine.settings.journal.folder = str(vault)
        upkeep = Upkeep(engine.settings.memory, lambda: "active", engine.for_thread,
                        engine.settings.journal)
        upkeep.run(now)
        assert sorted(p.name for p in vault.iterdir()) == ["2024-05-01.md"]
        (vault / "2024-05-01.md").unlink()
        upkeep.run(now + 60)  # at most hourly
        assert not (vault / "2024-05-01.md").exists()
        upkeep.run(now + 3700)
        assert (vault / "2024-05-01.md").exists()
        engine.settings.journal.folder = ""
        off = Upkeep(engine.settings.memory, lambda: "active", engine.for_thread,
                     engine.settings.journal)
        (vault / "2024-05-01.md").unlink()
        off.run(now + 9000)
        assert not list(vault.iterdir())


def test_links_and_requests_for_the_open_app(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "home")
    assert handoff.record_of_link("memlane://frame/12") == "frame:12"
    assert handoff.record_of_link("memlane://message/40/") == "message:40"
    for bad in ("memlane://frame/x", "https://frame/1", "memlane://frame/1?x=2",
                "memlane://secrets/1", "memlane://frame/1 && rm -rf /"):
        assert handoff.record_of_link(bad) is None
        with pytest.raises(ValueError):
            handoff.send(paths, bad)
    lock = handoff.AppLock.take(paths)
    assert lock is not None and handoff.AppLock.take(paths) is None  # one app per home
    handoff.send(paths, "memlane://frame/3")
    handoff.send(paths, handoff.SHOW)
    (paths.app_inbox / "junk.request").write_text("rm -rf /")
    (paths.app_inbox / "big.request").write_text("memlane://frame/1" + " " * 1000)
    assert handoff.take(paths) == ["memlane://frame/3", "show"]
    assert not list(paths.app_inbox.iterdir())
    lock.release()
    again = handoff.AppLock.take(paths)
    assert again is not None
    again.release()


def test_demo_rebuild_keeps_the_app_lock(tmp_path: Path) -> None:
    """The demo app holds its lock while the sample memory is rebuilt in the same folder."""
    from memlane.services.demo import build_demo

    home = tmp_path / "demo"
    home.mkdir()
    lock = handoff.AppLock.take(Paths(home))
    assert lock is not None
    (home / "stale.txt").write_text("from an older demo")
    build_demo(home)
    assert not (home / "stale.txt").exists() and handoff.AppLock.take(Paths(home)) is None
    lock.release()
    store = Store(home / "memlane.db")
    assert store.counts()["frames"] > 0
    store.close()


@pytest.mark.parametrize("clock", ["00:00:30", "00:40", "02:08", "15:00"])
def test_the_demos_today_stays_today_just_after_midnight(clock: str) -> None:
    """The sample memory's frames "of today" are today and in the past at any hour, so its
    yesterday always holds exactly yesterday's frames (CI once ran at 02:08)."""
    from memlane.services.demo import SCHEDULE, _when

    now = datetime.fromisoformat(f"2026-12-04T{clock}").astimezone()
    times = [datetime.fromtimestamp(_when(now.date(), o, h, m, now)).astimezone()
             for o, h, m, _, _ in SCHEDULE]
    yesterday = [t for (o, *_), t in zip(SCHEDULE, times, strict=True) if o == -1]
    today = [t for (o, *_), t in zip(SCHEDULE, times, strict=True) if o == 0]
    assert all(t.date() == date(2026, 12, 3) for t in yesterday)
    assert all(t.date() == now.date() and t <= now for t in today)
    assert today == sorted(today)


def test_date_helpers() -> None:
    from memlane.memory.timeparse import day_span

    now = datetime(2024, 5, 8, 12, 0)
    assert day_span("yesterday", None, None, now) == (date(2024, 5, 7), date(2024, 5, 7))
    assert day_span(None, "2024-05-01", None, now) == (date(2024, 5, 1), date(2024, 5, 8))
    assert day_span(None, None, None, now) == (date(2024, 5, 8), date(2024, 5, 8))
    assert day_span("last week", None, None, now) == (date(2024, 4, 29), date(2024, 5, 5))
    with pytest.raises(ValueError, match="before"):
        day_span(None, "2024-05-09", "2024-05-01", now)


def test_forgetting_rewrites_the_journal_days_it_wrote(memory: Path, tmp_path: Path,
                                                       embedder: OnnxEmbedder) -> None:
    from memlane.memory.forget import Scope

    vault = tmp_path / "vault"
    with Engine(Paths(memory), embedder=embedder) as engine:
        engine.settings.journal.folder = str(vault)
        engine.write_journal(vault, date(2024, 5, 1), date(2024, 5, 3))
        assert "Ferry timetable" in (vault / "2024-05-01.md").read_text()
        engine.forget(Scope(query="Ferry timetable"))  # days old: upkeep would never get there
    assert "Ferry timetable" not in (vault / "2024-05-01.md").read_text()
    assert "trip" in (vault / "2024-05-01.md").read_text()  # the rest of the day stays


def test_a_file_saved_by_a_notes_app_meanwhile_is_left_for_the_next_run(
        memory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memlane.services import journal

    vault = tmp_path / "vault"
    Cli(memory)("journal", str(vault), "--since", "2024-05-01", "--until", "2024-05-01")
    path = vault / "2024-05-01.md"
    path.write_text(path.read_text() + "\nmy line\n")
    real = journal._changed

    def saved_meanwhile(p: Path, seen: object) -> bool:
        path.write_text(path.read_text() + "typed just now\n")  # the notes app saves
        return real(p, seen)  # type: ignore[arg-type]

    monkeypatch.setattr(journal, "_changed", saved_meanwhile)
    chat = tmp_path / "more.jsonl"
    chat.write_text(json.dumps({"time": "2024-05-01T20:00:00", "speaker": "Ana",
                                "text": "Bring sunscreen.", "conversation": "sun"}))
    Cli(memory)("import-chat", str(chat))
    with Engine.open(memory) as engine:
        report = engine.write_journal(vault, date(2024, 5, 1), date(2024, 5, 1))
    assert report.busy == ["2024-05-01.md"] and report.written == []
    assert path.read_text().endswith("my line\ntyped just now\n")
    assert not [p for p in vault.iterdir() if p.name.startswith(".")]


def test_a_day_given_with_an_offset_is_the_local_day_it_falls_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as _time

    from memlane.memory.timeparse import day_span

    monkeypatch.setenv("TZ", "Europe/Berlin")
    _time.tzset()
    try:
        assert day_span("2024-03-30T23:30:00+00:00", None, None) == (date(2024, 3, 31),
                                                                        date(2024, 3, 31))
    finally:
        monkeypatch.undo()
        _time.tzset()
