"""The Markdown journal: one file per day in a folder such as an Obsidian or Logseq vault.

Each day that holds anything becomes ``YYYY-MM-DD.md``: the day's digest, its episodes with times
and apps, what was learned that day, and the conversations held, with ``memlane://frame/ID`` links
that open the moment in the app. What Memlane writes sits between two marker lines; a re-run
replaces only that part, so notes the person adds around it stay. A file of that name without
the markers is the person's own and is never touched, nor is any other file in the folder. A day
whose memories were forgotten loses them from its file too (the file goes when nothing else was
in it). Files are replaced atomically, only when their text changes, and not when a notes app
saved them while they were being rewritten (that day is written on the next run).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from memlane.core.errors import StorageError
from memlane.memory.store import Store
from memlane.services.views import Hide, fact_dicts, show_all, timeline

BEGIN = "<!-- memlane:begin (memlane journal rewrites up to memlane:end; write outside) -->"
END = "<!-- memlane:end -->"
SUMMARY_CHARS = 280


@dataclass
class JournalReport:
    written: list[str] = field(default_factory=list)  # file names created or updated
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)  # files that held only a forgotten day
    kept: list[str] = field(default_factory=list)  # the person's own files of a day's name
    busy: list[str] = field(default_factory=list)  # changed while being rewritten: next time

    def to_json(self) -> dict[str, Any]:
        return {"written": self.written, "unchanged": self.unchanged, "removed": self.removed,
                "kept": self.kept, "busy": self.busy}


def first_day(store: Store) -> date | None:
    """The earliest local day with a frame or a message."""
    rows = store.sql("SELECT min(t) FROM (SELECT min(time) t FROM frames"
                     " UNION ALL SELECT min(time) FROM messages)")
    t = rows[0][0] if rows else None
    return date.fromtimestamp(float(t)) if t is not None else None


def _clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _md(text: str) -> str:
    """Text that Markdown shows as written (no stray links, emphasis or HTML)."""
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


def _clock(iso_time: str) -> str:
    return iso_time[11:16]


def _frame_link(ident: str | None) -> str:
    if not ident or not ident.startswith("frame:"):
        return ""
    return f" ([open](memlane://frame/{ident.split(':', 1)[1]}))"


def day_markdown(day_view: dict[str, Any], learned: Sequence[dict[str, Any]]) -> str:
    """Memlane's part of one day's file, markers included."""
    d = date.fromisoformat(day_view["day"])
    out = [BEGIN, f"# {d:%A} {d.day} {d:%B %Y}", ""]
    if day_view["digest"] and day_view["digest_by"] != "extractive":  # else it lists episodes
        out += [f"> {_md(_clip(day_view['digest'], 600))}", ""]
    screen = [e for e in day_view["episodes"] if e["kind"] != "chat"]
    chats = [e for e in day_view["episodes"] if e["kind"] == "chat"]
    if screen:
        out.append("## What I did")
        for e in screen:
            first = next((s["id"] for s in e["sources"] if s["id"].startswith("frame:")), None)
            apps = ", ".join(e["apps"]) or "unknown app"
            summary = e["summary"].removeprefix(f"{apps}, ")  # extractive: "app, title: text"
            out.append(f"- **{_clock(e['start'])}–{_clock(e['end'])}** · {_md(apps)}: "
                       f"{_md(_clip(summary))}{_frame_link(first)}")
        out.append("")
    elif day_view["activities"]:
        out.append("## On screen")
        for a in day_view["activities"]:
            what = " - ".join(x for x in (a["app"], a["title"]) if x) or "unknown app"
            out.append(f"- **{_clock(a['start'])}–{_clock(a['end'])}** · {_md(_clip(what, 120))}"
                       f" ({a['frames']} frame{'s' if a['frames'] != 1 else ''})"
                       f"{_frame_link(a['first_frame'])}")
        out.append("")
    if learned:
        out.append("## Learned")
        out += [f"- {_md(_clip(f['text']))} ({f['category']})" for f in learned]
        out.append("")
    if day_view["conversations"]:
        out.append("## Conversations")
        for c in day_view["conversations"]:
            n = c["messages"]
            out.append(f"- **{_clock(c['start'])}–{_clock(c['end'])}** {_md(c['title'])} "
                       f"({_md(c['source'])}, {n} message{'s' if n != 1 else ''})")
        for e in chats:
            out.append(f"  - {_md(_clip(e['summary']))}")
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def _empty_block(day: date) -> str:
    return f"{BEGIN}\n# {day:%A} {day.day} {day:%B %Y}\n\nNothing remembered this day.\n{END}\n"


def _split(text: str) -> tuple[str, str] | None:
    """The text before and after Memlane's block, or None when the file has no block."""
    start = text.find("<!-- memlane:begin")
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return None
    end = text.find(END, start)
    if end < 0:
        return None
    after = text[end + len(END):]
    return text[:start], after[1:] if after.startswith("\n") else after


def _replace(path: Path, text: str, seen: os.stat_result | None = None) -> bool:
    """Write ``path`` atomically; False (nothing written) when it changed since ``seen``."""
    tmp = path.with_name(f".{path.name}.memlane-tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if seen is not None and _changed(path, seen):  # saved by a notes app meanwhile
            tmp.unlink()
            return False
        os.replace(tmp, path)
        return True
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def written_days(folder: Path) -> list[date]:
    """The days whose files in ``folder`` hold Memlane's block, in order."""
    days = []
    try:
        paths = list(folder.glob("????-??-??.md"))
    except OSError:
        return []
    for path in paths:
        try:
            day = date.fromisoformat(path.stem)
            if "<!-- memlane:begin" in path.read_text(encoding="utf-8", errors="replace"):
                days.append(day)
        except (OSError, ValueError):
            continue
    return sorted(days)


def _changed(path: Path, seen: os.stat_result) -> bool:
    try:
        now = path.stat()
    except OSError:
        return True
    return (now.st_mtime_ns, now.st_size) != (seen.st_mtime_ns, seen.st_size)


def write_journal(store: Store, folder: Path, first: date | None = None,
                  last: date | None = None, *, hide: Hide = show_all) -> JournalReport:
    """Write (or update) one file per day from ``first`` (default: the earliest memory) to
    ``last`` (default: today) into ``folder``; see the module docstring for what is kept."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the journal folder {folder}: {exc.strerror or exc}") from exc
    report = JournalReport()
    last = last or datetime.now().date()
    first = first or first_day(store) or last
    learned_by_day: dict[str, list[dict[str, Any]]] = {}
    for f in fact_dicts(store, hide=hide):
        learned_by_day.setdefault(f["first_seen"][:10], []).append(f)
    day = first
    while day <= last:
        chunk_end = min(last, day + timedelta(days=30))
        view = timeline(store, day, chunk_end, hide=hide)
        shown = {d["day"]: d for d in view["days"]}
        while day <= chunk_end:
            key = day.isoformat()
            block = (day_markdown(shown[key], learned_by_day.get(key, ())) if key in shown
                     else None)
            _update_day(folder / f"{key}.md", day, block, report)
            day += timedelta(days=1)
    return report


def _update_day(path: Path, day: date, block: str | None, report: JournalReport) -> None:
    try:
        seen = path.stat() if path.exists() else None
        old = path.read_text(encoding="utf-8") if seen is not None else None
    except (OSError, UnicodeDecodeError):
        report.kept.append(path.name)  # unreadable: not ours to touch
        return
    if old is None:
        if block is not None and _replace(path, block):
            report.written.append(path.name)
        return
    parts = _split(old)
    if parts is None:  # the person's own file of this name
        report.kept.append(path.name)
        return
    before, after = parts
    if block is None and not (before + after).strip():  # nothing but a day now forgotten
        if seen is not None and not _changed(path, seen):
            path.unlink(missing_ok=True)
            report.removed.append(path.name)
        return
    new = before + (block if block is not None else _empty_block(day)) + after
    if new == old:
        report.unchanged += 1
    elif _replace(path, new, seen):
        report.written.append(path.name)
    else:
        report.busy.append(path.name)
