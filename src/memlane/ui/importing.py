"""Importing from the app: screenshots, folders of them, chat exports and Memlane archives.

What File > Import and a drop onto the window do. The paths are sorted by what they are, the work
runs on the background lane on an engine of its own (questions and browsing go on; it waits while
an answer is written and can be stopped between files, keeping what was stored), and the status
bar says what was imported, what failed and what was not importable.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from memlane.core.errors import MemlaneError
from memlane.core.text import plural
from memlane.ui.dialogs import show_error
from memlane.ui.tasks import Cancelled, Task

if TYPE_CHECKING:
    from memlane.ui.mainwindow import MainWindow

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
CHAT_SUFFIXES = (".json", ".jsonl", ".txt", ".md", ".zip")
T = TypeVar("T")


def is_memlane_archive(path: Path) -> bool:
    """A zip written by ``memlane export`` (it holds a manifest.json), not a chat export."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "manifest.json" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


@dataclass
class Batch:
    """Dropped or chosen paths, by what they are."""

    archives: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)  # files and folders
    chats: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # names of what cannot be imported

    @classmethod
    def of(cls, paths: Sequence[Path]) -> Batch:
        batch = cls()
        for p in paths:
            suffix = p.suffix.lower()
            if suffix == ".zip" and is_memlane_archive(p):
                batch.archives.append(p)
            elif p.is_dir() or suffix in IMAGE_SUFFIXES:
                batch.images.append(p)
            elif p.is_file() and suffix in CHAT_SUFFIXES:
                batch.chats.append(p)
            else:
                batch.skipped.append(p.name)
        return batch

    def empty(self) -> bool:
        return not (self.archives or self.images or self.chats)


def _each(paths: Sequence[Path], do: Callable[[Path], T], say: Callable[[Path, T], str],
          lines: list[str]) -> None:
    """``do`` each path; a line per path: what it did, or why it could not."""
    for path in paths:
        try:
            result = do(path)
        except MemlaneError as exc:
            lines.append(str(exc))
            continue
        lines.append(say(path, result))


def run_batch(engine: Any, batch: Batch, on_file: Callable[[Path], None]) -> list[str]:
    """Import a batch with ``engine``; the lines to show. Archives go into an empty home only,
    all or nothing; a failing file never stops the others."""
    lines: list[str] = []
    _each(batch.archives, engine.import_archive, lambda p, r: f"{p.name}: restored " + ", ".join(
        f"{n} {t}" for t, n in r.counts.items() if n), lines)
    if batch.images:
        report = engine.ingest_images(batch.images, on_file=on_file)
        lines.append(f"{plural(len(report.stored), 'screenshot')} stored, "
                     f"{len(report.skipped)} already known")
        lines += report.errors[:3]
    _each(batch.chats, engine.import_chat, lambda p, r: f"{p.name}: {plural(r.added, 'message')}"
          f" from {plural(r.conversations, 'conversation')}", lines)
    return lines


def import_files(window: MainWindow, paths: Sequence[Path]) -> Task | None:
    batch = Batch.of(paths)
    bar = window.statusBar()
    if batch.empty():
        bar.showMessage("Nothing to import there: drop screenshots, folders of them, chat exports"
                        " (.json, .jsonl, .txt, .md) or Memlane archives.", 8000)
        return None
    bar.showMessage(f"Importing {plural(len(paths), 'item')}…")
    main_engine = window.services.engine
    tasks = window.tasks

    def work(task: Task) -> list[str]:
        engine = main_engine.for_thread()  # its own: questions and browsing go on meanwhile

        def each_file(path: Path) -> None:
            task.check()  # stop between files; what is stored stays
            tasks.yield_to_foreground(task)
            task.progress(path.name)

        try:
            return run_batch(engine, batch, each_file)
        finally:
            engine.close()

    def done(lines: list[str]) -> None:
        if batch.skipped:
            lines.append(f"not imported: {', '.join(batch.skipped[:5])}")
        bar.showMessage("Imported: " + "; ".join(lines), 15000)
        window.reload()
        window.knows.refresh()
        if batch.images:
            window.timeline.show_latest()

    def failed(exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            bar.showMessage("Import stopped; what was imported stays.", 8000)
            window.reload()
        else:
            show_error(window, "Import failed", str(exc))

    return tasks.run("import", work, on_done=done, owner=window, on_error=failed,
                     lane="background", on_progress=lambda name: bar.showMessage(
                         f"Importing {name}…"))
