"""Parsers that turn chat exports into :class:`ConversationIn` records, validating everything first.

Formats: LoCoMo JSON (sessions with ``session_N_date_time``; ``dia_id`` kept as the external id,
image captions kept as text), ChatGPT ``conversations.json`` (the branch that was shown, by
``current_node``), JSON Lines ``{time, speaker, text, conversation}`` and plain text or Markdown
transcripts (``Speaker: text`` lines, optional ``[2023-05-08 13:56]`` stamps and date headings).
:func:`parse_chat_file` reads and checks the whole file before anything is stored, raising an
:class:`InputError` that names the file, the place and the problem. External ids are stable, so
importing the same file again adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from memlane.core.errors import InputError
from memlane.memory.records import ConversationIn, MessageIn, iso, time_ok
from memlane.memory.timeparse import NotIso, parse_iso

FORMATS = ("auto", "locomo", "chatgpt", "jsonl", "text")
LOCOMO_DATE = "%I:%M %p on %d %B, %Y"
# What one import may hold: bounds that keep a parse in memory and a message searchable.
MAX_FILE_BYTES = 256 << 20
MAX_MESSAGE_CHARS = 200_000


def _fail(path: Path, problem: str) -> InputError:
    return InputError(f"{path}: {problem}; nothing was imported from it")


def _ts(value: Any, path: Path, where: str) -> float:
    """An epoch number or ISO 8601 string as seconds since the epoch (naive = local time)."""
    if isinstance(value, bool):
        raise _fail(path, f"{where}: time {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = float(value / 1000 if value > 1e11 else value)
    elif isinstance(value, str):
        try:
            seconds = parse_iso(value).timestamp()
        except NotIso:
            raise _fail(path, f"{where}: time {value[:40]!r} is not ISO 8601") from None
        except ValueError:
            raise _fail(path, f"{where}: time {value[:40]!r} is outside 1900-3000") from None
    else:
        raise _fail(path, f"{where}: missing or invalid time")
    if not time_ok(seconds):
        raise _fail(path, f"{where}: time {str(value)[:40]!r} is outside 1900-3000")
    return seconds


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def detect_format(path: Path, head: str) -> str:
    suffix = path.suffix.lower()
    stripped = head.lstrip()
    if suffix == ".jsonl" or (stripped.startswith("{") and "\n{" in stripped[:4096]):
        return "jsonl"
    if stripped.startswith(("[", "{")) or suffix == ".json":
        if '"mapping"' in head:
            return "chatgpt"
        if '"speaker_a"' in head or '"session_1"' in head or '"sample_id"' in head:
            return "locomo"
        return "json?"
    return "text"


def parse_chat_file(path: Path, fmt: str = "auto") -> list[ConversationIn]:
    """Read and validate ``path``; return the conversations it holds (at least one message)."""
    try:
        if not path.exists():
            raise _fail(path, "cannot read it (no such file)")
        if not path.is_file():  # a folder, a FIFO or a device such as /dev/zero
            raise _fail(path, "not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _fail(path, f"larger than {MAX_FILE_BYTES >> 20} MB; split the export")
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise _fail(path, f"larger than {MAX_FILE_BYTES >> 20} MB; split the export")
        text = raw.decode("utf-8-sig")
        del raw
    except OSError as exc:
        raise _fail(path, f"cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text") from None
    if fmt == "auto":
        fmt = detect_format(path, text[:200_000])
    if fmt in ("locomo", "chatgpt", "json?"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(path, f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise _fail(path, "JSON nested too deeply to be a chat export") from None
        if fmt == "json?":
            raise _fail(path, "JSON that is neither a LoCoMo nor a ChatGPT export")
        convs = _locomo(data, path) if fmt == "locomo" else _chatgpt(data, path)
    elif fmt == "jsonl":
        convs = _jsonl(text, path)
    elif fmt == "text":
        convs = _text(text, path)
    else:
        raise _fail(path, f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    convs = [c for c in convs if c.messages]
    if not convs:
        raise _fail(path, "no messages found")
    for conv in convs:
        _check(conv, path)
    return convs


def _check(conv: ConversationIn, path: Path) -> None:
    """Every time in range and every message of a size Memlane keeps, whatever the format."""
    if not time_ok(conv.created):
        raise _fail(path, f"conversation {conv.title[:40]!r}: its time is outside 1900-3000")
    for m in conv.messages:
        where = f"conversation {conv.title[:40]!r} message {m.external_id[:40]!r}"
        if not time_ok(m.time):
            raise _fail(path, f"{where}: its time is outside 1900-3000")
        if len(m.text) > MAX_MESSAGE_CHARS:
            raise _fail(path, f"{where} ({iso(m.time)}): {len(m.text)} characters, more than "
                              f"the {MAX_MESSAGE_CHARS} a message may hold")


# -- LoCoMo ------------------------------------------------------------------------------------


def _locomo(data: Any, path: Path) -> list[ConversationIn]:
    samples = data if isinstance(data, list) else [data]
    out: list[ConversationIn] = []
    for n, sample in enumerate(samples):
        if not isinstance(sample, dict) or not isinstance(sample.get("conversation"), dict):
            raise _fail(path, f"sample {n}: no 'conversation' object")
        conv = sample["conversation"]
        sample_id = str(sample.get("sample_id") or f"sample-{n}")
        sessions = sorted(
            (int(m.group(1)), key)
            for key in conv
            if (m := re.fullmatch(r"session_(\d+)", key))
        )
        messages: list[MessageIn] = []
        first: float | None = None
        for number, key in sessions:
            stamp = conv.get(f"{key}_date_time")
            try:
                start = datetime.strptime(str(stamp).strip(), LOCOMO_DATE).astimezone().timestamp()
            except (ValueError, OverflowError, OSError):
                raise _fail(path, f"{sample_id} {key}: bad date {stamp!r}") from None
            first = start if first is None else min(first, start)
            turns = conv[key]
            if not isinstance(turns, list):
                raise _fail(path, f"{sample_id} {key}: turns must be a list")
            for i, turn in enumerate(turns):
                if not isinstance(turn, dict) or not isinstance(turn.get("text"), str):
                    raise _fail(path, f"{sample_id} {key} turn {i}: needs 'speaker' and 'text'")
                body = turn["text"]
                caption = turn.get("blip_caption")
                if caption:
                    body = f"{body} [shared a photo: {caption}]".strip()
                messages.append(
                    MessageIn(
                        external_id=str(turn.get("dia_id") or f"D{number}:{i + 1}"),
                        speaker=str(turn.get("speaker", "")),
                        text=body,
                        time=start + 30 * i,
                    )
                )
        title = " & ".join(str(conv[k]) for k in ("speaker_a", "speaker_b") if conv.get(k))
        out.append(ConversationIn("locomo", sample_id, title, first or 0.0, tuple(messages)))
    return out


# -- ChatGPT -----------------------------------------------------------------------------------


def _chatgpt_text(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(p for p in parts if isinstance(p, str)).strip()
    value = content.get("text")
    return value.strip() if isinstance(value, str) else ""


def _chatgpt(data: Any, path: Path) -> list[ConversationIn]:
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise _fail(path, "a ChatGPT export must be a list of conversations")
    out: list[ConversationIn] = []
    for n, conv in enumerate(data):
        if not isinstance(conv, dict) or not isinstance(conv.get("mapping"), dict):
            raise _fail(path, f"conversation {n}: no 'mapping' object")
        mapping: dict[str, Any] = conv["mapping"]
        conv_id = str(
            conv.get("conversation_id") or conv.get("id") or _digest(conv.get("title"), n)
        )
        created = conv.get("create_time")
        created_ts = (_ts(created, path, f"conversation {n}")
                      if isinstance(created, int | float) and not isinstance(created, bool)
                      else 0.0)
        node_ids: Iterable[str]
        current = conv.get("current_node")
        if isinstance(current, str) and current in mapping:
            chain: list[str] = []
            seen: set[str] = set()
            node: str | None = current
            while node and node in mapping and node not in seen:
                seen.add(node)
                chain.append(node)
                parent = mapping[node].get("parent") if isinstance(mapping[node], dict) else None
                node = parent if isinstance(parent, str) else None
            node_ids = reversed(chain)
        else:
            node_ids = mapping.keys()
        messages: list[MessageIn] = []
        last = created_ts
        for node_id in node_ids:
            entry = mapping[node_id]
            msg = entry.get("message") if isinstance(entry, dict) else None
            if not isinstance(msg, dict):
                continue
            author = msg.get("author")
            author = author if isinstance(author, dict) else {}
            role = str(author.get("role") or "user")
            text = _chatgpt_text(msg.get("content"))
            if not text or role == "system":
                continue
            stamp = msg.get("create_time")
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                last = _ts(stamp, path, f"conversation {n} message {str(msg.get('id'))[:40]}")
            default = {"assistant": "ChatGPT", "user": "You"}.get(role, role)
            speaker = str(author.get("name") or default)
            messages.append(MessageIn(str(msg.get("id") or node_id), speaker, text, last, role))
        messages.sort(key=lambda m: m.time)
        title = str(conv.get("title") or "ChatGPT conversation")
        out.append(ConversationIn("chatgpt", conv_id, title, created_ts or last, tuple(messages)))
    return out


# -- JSON Lines ----------------------------------------------------------------------------------


def _jsonl(text: str, path: Path) -> list[ConversationIn]:
    groups: dict[str, list[MessageIn]] = {}
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, f"line {lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise _fail(path, f"line {lineno}: expected an object")
        body = row.get("text")
        if not isinstance(body, str):
            raise _fail(path, f"line {lineno}: 'text' must be a string")
        ts = _ts(row.get("time"), path, f"line {lineno}")
        speaker = str(row.get("speaker") or "")
        conv = str(row.get("conversation") or path.stem)
        ext = row.get("id")
        if ext is None:
            base = _digest(ts, speaker, body)
            seen[base] = seen.get(base, 0) + 1
            ext = f"{base}-{seen[base]}"
        role = str(row.get("role") or "user")
        groups.setdefault(conv, []).append(MessageIn(str(ext), speaker, body, ts, role))
    return [
        ConversationIn("jsonl", name, name, min(m.time for m in msgs), tuple(msgs))
        for name, msgs in groups.items()
    ]


# -- plain text / Markdown -------------------------------------------------------------------

_STAMP = r"\[?(?P<stamp>(?:\d{4}-\d{2}-\d{2}[ T])?\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]m)?)\]?"
# The head of a "Speaker: text" line, matched against its first HEAD_CHARS characters only, so a
# line of any length costs time in proportion to it (a line of spaces or #s once took minutes).
HEAD_CHARS = 120
_HEAD = re.compile(
    r"(?:[-*] {1,4})?(?:" + _STAMP + r" {1,4})?(?:\*\*)?(?P<speaker>[^:\[\]*\s][^:\[\]*]{0,39}?)"
    r"(?:\*\*)? {0,4}: {0,4}(?:\*\*)? {0,4}",
    re.IGNORECASE,
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _text(text: str, path: Path) -> list[ConversationIn]:
    try:
        base_time = path.stat().st_mtime
    except OSError:
        base_time = 0.0
    title = path.stem
    day: str | None = None
    messages: list[dict[str, Any]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if date_in := _DATE.search(line[:HEAD_CHARS]):
                day = date_in[0]
            elif title == path.stem:
                title = line.lstrip("#").strip()[:200] or title
            continue
        match = _HEAD.match(line[:HEAD_CHARS])
        body = line[match.end():].strip() if match else ""
        if match and body and not match["speaker"].strip().lower().startswith(("http", "note")):
            stamp = match["stamp"]
            when: float | None = None
            if stamp:
                full = stamp if "-" in stamp else f"{day or ''} {stamp}".strip()
                when = _parse_stamp(full)
            messages.append({"speaker": match["speaker"].strip(), "parts": [body], "time": when})
        elif messages:
            messages[-1]["parts"].append(line)
    if not messages:
        raise _fail(path, "no 'Speaker: text' lines found")
    out: list[MessageIn] = []
    last = base_time - len(messages)
    for n, m in enumerate(messages):
        ts = m["time"] if m["time"] is not None else last + 1
        last = ts
        out.append(MessageIn(f"m{n + 1}", m["speaker"], "\n".join(m["parts"]), ts))
    first_lines = [(m.speaker, m.text) for m in out[:5]]
    return [ConversationIn("text", _digest(first_lines), title, out[0].time, tuple(out))]


def _parse_stamp(value: str) -> float | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %I:%M %p", "%Y-%m-%d %I:%M%p"):
        try:
            return datetime.strptime(value.strip(), fmt).astimezone().timestamp()
        except (ValueError, OverflowError, OSError):
            continue
    return None
