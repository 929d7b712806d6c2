"""Property-based tests of every parser and entry point: whatever the input, a one-line error or a
success, never a traceback; what was stored stays intact and nothing is written outside the home."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlane.cli import cli
from memlane.core.errors import InputError
from memlane.memory.archive import ArchiveError, import_archive, verify_archive
from memlane.memory.chat_import import FORMATS, parse_chat_file
from memlane.memory.records import time_ok
from memlane.memory.store import Store
from memlane.memory.timeparse import parse_time_expression, parse_when

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
NOW = datetime(2024, 5, 8, 12, 0).astimezone()

# JSON values of any shape, with the numbers and strings that broke parsers before.
scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
           | st.sampled_from(["0001-01-01", "9999-12-31T23:59:59-12:00", "1e400", "NaN",
                              "2024-05-01T11:00:00", "10:30 am on 8 May, 2023"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(
                               ["time", "text", "speaker", "conversation", "mapping", "message",
                                "author", "content", "parts", "create_time", "current_node",
                                "conversation_id", "session_1", "session_1_date_time",
                                "sample_id", "speaker_a", "role", "id", "name", "parent"])
                               | st.text(max_size=8), inner, max_size=5), max_leaves=25)


def _check_parsed(convs: list) -> None:  # type: ignore[type-arg]
    for conv in convs:
        assert conv.messages and time_ok(conv.created)
        assert all(time_ok(m.time) and isinstance(m.text, str) for m in conv.messages)


@SETTINGS
@given(data=json_values, fmt=st.sampled_from(FORMATS))
def test_any_json_export_parses_or_is_refused_in_one_line(tmp_path: Path, data: object,
                                                            fmt: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data, allow_nan=True))
    try:
        convs = parse_chat_file(path, fmt)
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        _check_parsed(convs)


@SETTINGS
@given(lines=st.lists(json_values | st.text(max_size=60), min_size=1, max_size=8))
def test_any_json_lines_file_parses_or_is_refused(tmp_path: Path, lines: list[object]) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(v if isinstance(v, str) else json.dumps(v) for v in lines))
    try:
        _check_parsed(parse_chat_file(path, "jsonl"))
    except InputError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(pieces=st.lists(st.sampled_from([*" \t#*-:[]ab1\n", "Ana: ", "**", "12:30",
                                        "2023-05-08", " " * 50]), max_size=120))
def test_any_transcript_parses_or_is_refused(tmp_path: Path, pieces: list[str]) -> None:
    path = tmp_path / "transcript.txt"
    path.write_text("".join(pieces))
    try:
        _check_parsed(parse_chat_file(path, "text"))
    except InputError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(text=st.text(max_size=80) | st.from_regex(
    r"(past|last|next|in) \d{1,12} (days|weeks|months|years)|(in|on) \d{1,6}|"
    r"\d{1,9} (days|weeks) ago|[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True))
def test_time_expressions_never_raise_and_stay_in_range(text: str) -> None:
    rng = parse_time_expression(text, NOW)
    if rng is not None:
        assert time_ok(rng.since_ts) and time_ok(rng.until_ts)
    for end in (False, True):
        try:
            when = parse_when(text, NOW, end=end)
        except ValueError as exc:
            assert "\n" not in str(exc)
        else:
            assert time_ok(when.timestamp())


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("seeded") / "home"
    chat = home.parent / "chat.jsonl"
    chat.write_text(json.dumps({"time": "2024-05-01T11:00:00", "speaker": "Ana",
                                "text": "Biscuit needs a walk", "conversation": "pets"}))
    result = CliRunner().invoke(cli, ["--home", str(home), "import-chat", str(chat)])
    assert result.exit_code == 0, result.output
    return home


def _intact(home: Path) -> None:
    conn = sqlite3.connect(home / "memlane.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    conn.close()


option_values = (st.text(max_size=40) | st.sampled_from(
    ["0001-01-01", "9999-12-31T23:59:59-12:00", "past 999999999 days", "garbage", "",
     "1e400", "2024-13-45", "yesterday", "in 99999", "last 0 weeks"]))


@SETTINGS
@given(option=st.sampled_from(["--now", "--since", "--until"]), value=option_values,
       query=st.text(max_size=30))
def test_search_options_give_an_answer_or_a_usage_error(seeded: Path, option: str, value: str,
                                                       query: str) -> None:
    result = CliRunner().invoke(cli, ["--home", str(seeded), "search", query or "walk",
                                      option, value, "--json"])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    _intact(seeded)


@SETTINGS
@given(option=st.sampled_from(["--since", "--until", "--now"]), value=option_values)
def test_forget_options_never_trace_back(seeded: Path, option: str, value: str) -> None:
    result = CliRunner().invoke(cli, ["--home", str(seeded), "forget", option, value,
                                      "--dry-run"])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    _intact(seeded)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, seeded: Path) -> Path:
    out = tmp_path_factory.mktemp("archive") / "memory.zip"
    result = CliRunner().invoke(cli, ["--home", str(seeded), "export", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _with_rows(src: Path, dst: Path, table: str, rows: list[object]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        manifest = json.loads(zin.read("manifest.json"))
        for name in manifest["members"]:
            data = zin.read(name)
            if name == f"records/{table}.jsonl":
                data = "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows).encode()
                manifest["members"][name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                             "bytes": len(data)}
            zout.writestr(name, data)
        zout.writestr("manifest.json", json.dumps(manifest))


row_values = st.dictionaries(
    st.sampled_from(["id", "time", "app", "title", "image_path", "thumb_path", "text",
                     "conversation_id", "speaker", "external_id", "source", "created", "ocr",
                     "start", "end", "vec", "junk"]),
    scalars | st.sampled_from(["../x.webp", "/tmp/x.webp", "frames/a.webp", "memlane.db",
                               "thumbnails/../../x.webp"]), max_size=8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=st.sampled_from(["frames", "messages", "conversations", "facts", "episodes"]),
       rows=st.lists(row_values, max_size=3))
def test_any_archive_rows_import_or_are_refused_and_stay_in_the_home(
    tmp_path_factory: pytest.TempPathFactory, archive: Path, table: str, rows: list[object]
) -> None:
    root = tmp_path_factory.mktemp("restore")
    bad = root / "bad.zip"
    _with_rows(archive, bad, table, rows)
    home = root / "home"
    home.mkdir()
    before = {p for p in root.rglob("*")}
    store = Store(home / "memlane.db")
    try:
        verify_archive(bad)
        import_archive(store, home, bad)
    except ArchiveError as exc:
        assert "\n" not in str(exc)
        assert store.sql("SELECT count(*) FROM messages") == [(0,)]
    finally:
        store.close()
    outside = {p for p in root.rglob("*") if not p.is_relative_to(home)} - before
    assert not outside
