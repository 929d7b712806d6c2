"""Every chat format imports, re-imports add nothing, and malformed files import nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memlane.core.errors import InputError
from memlane.memory.chat_import import parse_chat_file
from samples import CHATGPT, JSONL_ROWS, write_samples


def test_formats_are_detected_and_parsed(tmp_path: Path) -> None:
    files = write_samples(tmp_path)
    (locomo,) = parse_chat_file(files["locomo"])
    assert locomo.source == "locomo" and locomo.external_id == "conv-x"
    assert [m.external_id for m in locomo.messages] == ["D1:1", "D1:2", "D2:1"]
    assert "red racing bicycle" in locomo.messages[1].text
    assert locomo.title == "Ana & Ben"

    (chat,) = parse_chat_file(files["chatgpt"])
    assert chat.source == "chatgpt" and chat.title == "Sourdough help"
    # only the branch that was shown (current_node), in order
    assert [m.external_id for m in chat.messages] == ["n1", "n2", "n3"]
    assert [m.role for m in chat.messages] == ["user", "assistant", "user"]

    convs = {c.external_id: c for c in parse_chat_file(files["jsonl"])}
    assert set(convs) == {"notes", "sam"}
    assert [m.speaker for m in convs["sam"].messages] == ["Sam", "me"]

    (text,) = parse_chat_file(files["text"])
    assert text.title == "Call with Priya"
    assert [m.speaker for m in text.messages] == ["Priya", "Me", "Priya"]
    assert text.messages[1].text.endswith("supposed to open in March.")
    assert text.messages[1].time - text.messages[0].time == 60


def test_locomo_session_dates(tmp_path: Path) -> None:
    (conv,) = parse_chat_file(write_samples(tmp_path)["locomo"])
    from datetime import datetime

    first = datetime.fromtimestamp(conv.messages[0].time)
    assert (first.year, first.month, first.day, first.hour, first.minute) == (2023, 5, 8, 13, 56)
    assert datetime.fromtimestamp(conv.messages[2].time).month == 6


def test_cli_imports_each_format_once(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = write_samples(tmp_path / "in")
    for fmt, path in files.items():
        out = run("import-chat", str(path)).output
        assert "new message(s)" in out, fmt
    status = run.json("status")
    assert status["counts"]["messages"] == 3 + 3 + 3 + 3
    assert status["counts"]["conversations"] == 1 + 1 + 2 + 1
    assert status["pending_vectors"] == 0
    # importing again adds nothing
    for path in files.values():
        assert "0 new message(s)" in run("import-chat", str(path)).output
    again = run.json("status")
    assert again["counts"] == status["counts"]
    hits = run.json("search", "quokka photo")
    assert hits[0]["source"] == {
        "type": "message", "conversation": "sam", "external_id": hits[0]["source"]["external_id"]
    }
    assert "quokka" in hits[0]["snippet"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("broken.json", '[{"sample_id": "x", "conversation": ', "invalid JSON at line 1"),
        ("other.json", '{"hello": "world"}', "neither a LoCoMo nor a ChatGPT export"),
        ("bad.jsonl", '{"time": "2024-01-01T00:00:00", "speaker": "a", "text": "ok"}\n{"time": 5',
         "line 2: invalid JSON"),
        ("notext.jsonl", '{"time": "2024-01-01T00:00:00", "speaker": "a"}\n', "'text' must be a string"),
        ("badtime.jsonl", '{"time": "last thursday", "text": "x"}\n', "is not ISO 8601"),
        ("empty.txt", "\n\n", "no 'Speaker: text' lines found"),
        ("prose.md", "Just some notes without any speakers at all", "no 'Speaker: text' lines"),
    ],
)
def test_malformed_files_are_refused_whole(run, tmp_path: Path, name: str, content: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(content)
    result = run("import-chat", str(path), ok=False)
    assert result.exit_code == InputError.exit_code
    assert str(path) in result.stderr and problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run.json("status")["counts"]["messages"] == 0


def test_locomo_bad_date_and_binary_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from samples import LOCOMO

    broken = json.loads(json.dumps(LOCOMO))
    broken[0]["conversation"]["session_2_date_time"] = "sometime in spring"
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(broken))
    result = run("import-chat", str(path), ok=False)
    assert "bad date 'sometime in spring'" in result.stderr
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    assert "not UTF-8" in run("import-chat", str(binary), ok=False).stderr
    missing = run("import-chat", str(tmp_path / "nope.json"), ok=False)
    assert "cannot read it" in missing.stderr
    assert run.json("status")["counts"]["messages"] == 0


def test_partial_file_imports_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "half.jsonl"
    good = [json.dumps(r) for r in JSONL_ROWS]
    path.write_text("\n".join([*good, '{"speaker": "x", "text": "no time"}']))
    assert run("import-chat", str(path), ok=False).exit_code == InputError.exit_code
    assert run.json("status")["counts"]["messages"] == 0


def test_chatgpt_without_current_node_keeps_every_message(tmp_path: Path) -> None:
    data = json.loads(json.dumps(CHATGPT))
    del data[0]["current_node"]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data))
    (conv,) = parse_chat_file(path)
    assert len(conv.messages) == 4
    assert [m.time for m in conv.messages] == sorted(m.time for m in conv.messages)
