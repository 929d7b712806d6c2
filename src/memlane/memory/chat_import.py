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
from memlane.memory.records import ConversationIn, MessageIn

FORMATS = ("auto", "locomo", "chatgpt", "jsonl", "text")
LOCOMO_DATE = "%I:%M %p on %d %B, %Y"


def _fail(path: Path, problem: str) -> InputError:
    return InputError(f"{path}: {problem}; nothing was imported from it")


def _ts(value: Any, path: Path, where: str) -> float:
    """An epoch number or ISO 8601 string as seconds since the epoch (naive = local time)."""
    if isinstance(value, bool):
        raise _fail(path, f"{where}: time {value!r} is not a time")
    if isinstance(value, int | float):
        return float(value / 1000 if value > 1e11 else value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _fail(path, f"{where}: time {value!r} is not ISO 8601") from None
        return (parsed if parsed.tzinfo else parsed.astimezone()).timestamp()
    raise _fail(path, f"{where}: missing or invalid time")


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
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
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
    return convs


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
            except ValueError:
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
        created_ts = float(created) if isinstance(created, int | float) else 0.0
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
            author = msg.get("author") or {}
            role = str(author.get("role") or "user")
            text = _chatgpt_text(msg.get("content"))
            if not text or role == "system":
                continue
            stamp = msg.get("create_time")
            last = float(stamp) if isinstance(stamp, int | float) else last
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
_LINE = re.compile(
    r"^\s*(?:[-*]\s+)?(?:" + _STAMP + r"\s+)?(?:\*\*)?(?P<speaker>[^:\[\]*]{1,40}?)(?:\*\*)?"
    r"\s*:\s*(?:\*\*)?\s*(?P<text>.+)$",
    re.IGNORECASE,
)
_DATE_HEADING = re.compile(r"^#+\s*.*?(?P<date>\d{4}-\d{2}-\d{2})")


def _text(text: str, path: Path) -> list[ConversationIn]:
    try:
        base_time = path.stat().st_mtime
    except OSError:
        base_time = 0.0
    title = path.stem
    day: str | None = None
    messages: list[dict[str, Any]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if heading := _DATE_HEADING.match(line):
            day = heading["date"]
            continue
        if line.startswith("#"):
            if title == path.stem:
                title = line.lstrip("#").strip() or title
            continue
        match = _LINE.match(line)
        if match and not match["speaker"].strip().lower().startswith(("http", "note")):
            stamp = match["stamp"]
            when: float | None = None
            if stamp:
                full = stamp if "-" in stamp else f"{day or ''} {stamp}".strip()
                when = _parse_stamp(full)
            messages.append(
                {"speaker": match["speaker"].strip(), "text": match["text"].strip(), "time": when}
            )
        elif messages:
            messages[-1]["text"] += "\n" + line.strip()
    if not messages:
        raise _fail(path, "no 'Speaker: text' lines found")
    out: list[MessageIn] = []
    last = base_time - len(messages)
    for n, m in enumerate(messages):
        ts = m["time"] if m["time"] is not None else last + 1
        last = ts
        out.append(MessageIn(f"m{n + 1}", m["speaker"], m["text"], ts))
    first_lines = [(m.speaker, m.text) for m in out[:5]]
    return [ConversationIn("text", _digest(first_lines), title, out[0].time, tuple(out))]


def _parse_stamp(value: str) -> float | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %I:%M %p", "%Y-%m-%d %I:%M%p"):
        try:
            return datetime.strptime(value.strip(), fmt).astimezone().timestamp()
        except ValueError:
            continue
    return None
