"""Screenshot files in, frames out: read, fingerprint, OCR, write WebP + thumbnail, store.

This is the composition of :mod:`memlane.capture` (OCR, fingerprints) and :mod:`memlane.memory`
(frame files, the store) for ``memlane ingest-image``. Each file is one transaction: its frame row
and OCR blocks land together or not at all, and files already stored (same pixels) are skipped.
A frame's time comes from ``--at``, else a timestamp in the file name, else the file's mtime.
With redaction on, sensitive words are blanked in the text and painted out of the image before
anything is written, exactly as for captured frames.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from memlane.capture.fingerprint import content_sha256, dhash
from memlane.capture.ocr import OcrEngine, OcrResult, redact_image
from memlane.core.errors import InputError, MemlaneError
from memlane.memory.frames import FrameFiles
from memlane.memory.records import FrameIn, OcrBlockIn, time_ok
from memlane.memory.store import Store

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
_NAME_STAMP = re.compile(
    r"(?P<y>(?:19|20)\d\d)[-_.]?(?P<mo>[01]\d)[-_.]?(?P<d>[0-3]\d)"
    r"(?:[ _T-]|\s+at\s+)?(?P<h>[0-2]?\d)[-_.:h]?(?P<mi>[0-5]\d)[-_.:m]?(?P<s>[0-5]\d)"
    r"(?:\s?(?P<ampm>[AaPp][Mm]))?"
)


def time_from_name(name: str) -> float | None:
    """A local time written in a screenshot's file name, as seconds since the epoch."""
    m = _NAME_STAMP.search(name)
    if not m:
        return None
    hour = int(m["h"])
    if m["ampm"]:
        hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
    try:
        return datetime(
            int(m["y"]), int(m["mo"]), int(m["d"]), hour, int(m["mi"]), int(m["s"])
        ).timestamp()
    except ValueError:
        return None


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and image files inside folders (recursively, sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            yield path


@dataclass
class IngestReport:
    stored: list[int] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    words: int = 0


# WebP cannot hold a side longer than this; a longer screenshot is scaled down to fit.
MAX_SIDE = 16383


def load_image(path: Path) -> Image.Image:
    if path.exists() and not path.is_file():  # a FIFO would block the read forever
        raise InputError(f"{path}: not a regular file")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
        if max(rgb.size) > MAX_SIDE:
            scale = MAX_SIDE / max(rgb.size)
            rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))))
        return rgb
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Memlane can read") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: broken image ({exc})") from None


def ocr_blocks(result: OcrResult) -> tuple[OcrBlockIn, ...]:
    return tuple(
        OcrBlockIn(
            b.block, b.text,
            tuple((w.text, w.left, w.top, w.width, w.height, w.confidence) for w in b.words),
            b.confidence,
        )
        for b in result.blocks
    )


# Window titles end with the program's name: "Flights to Lisbon — Mozilla Firefox".
_TITLE_APPS = (
    ("Mozilla Firefox", "firefox"), ("Firefox", "firefox"), ("Google Chrome", "chrome"),
    ("Chromium", "chromium"), ("Microsoft Edge", "edge"), ("Brave", "brave"),
    ("Visual Studio Code", "code"), ("Thunderbird", "thunderbird"),
    ("LibreOffice Calc", "libreoffice-calc"), ("LibreOffice Writer", "libreoffice-writer"),
    ("LibreOffice Impress", "libreoffice-impress"), ("Obsidian", "obsidian"),
    ("Slack", "slack"), ("Discord", "discord"), ("Telegram", "telegram"),
    ("Signal", "signal"), ("Spotify", "spotify"), ("GIMP", "gimp"), ("Inkscape", "inkscape"),
)
_SEPARATORS = ("-", "—", "–", "一", "|")  # OCR reads an em dash as 一 now and then
# What OCR makes of a title bar's icons before the title: "e ", "6 ", "i] ", "® ", "@ "; not a
# word of the title ("A Tale of Two Cities", "I love", "3 unread" keep theirs).
_NOISE = re.compile(r"^(?:(?:[a-z]|\d|\w?[^\w\s]+\S?)\s+(?=\S*[A-Z0-9_.])"
                    r"|[^\w\s]+\S?\s+)+")


def _clean_title(text: str) -> str:
    text = _NOISE.sub("", text).strip(" -—–一|")
    return re.sub(r"\s一\s", " — ", text)


def label_from_text(lines: Sequence[str]) -> tuple[str, str]:
    """``(app, title)`` read from a screenshot's first lines of text: a window title that ends
    with a known program's name ("Flights — Mozilla Firefox", OCR noise of the window buttons
    after it dropped) gives both; else the first line that reads like a title gives the title
    and the app stays unknown. ``("", "")`` when nothing does."""
    candidates = [" ".join(line.split()) for line in lines[:6]]
    for line in candidates:
        low = line.lower()
        for name, app in _TITLE_APPS:
            i = low.find(name.lower())
            if i < 0 or (i + len(name) < len(low) and low[i + len(name)].isalnum()):
                continue
            before = line[:i].rstrip()
            after = line[i + len(name):].strip()
            named = before.endswith(_SEPARATORS) and len(before) > 1
            alone = len(before.strip()) <= 2 and len(after) <= 5  # an icon, then the name
            if (named or alone) and len(line) <= 160:
                return app, _clean_title(line[: i + len(name)])
    for line in candidates:
        title = _clean_title(line)
        words = [w for w in title.split() if sum(c.isalpha() for c in w) >= 2]
        if len(words) >= 2 and 6 <= len(title) <= 120:
            return "", title
    return "", ""


def ingest_image(
    path: Path, *, store: Store, files: FrameFiles, ocr: OcrEngine,
    at: float | None = None, app: str = "", title: str = "", redact: bool = True,
) -> tuple[int | None, int]:
    """Store one screenshot file; return ``(frame id or None if known, OCR words)``."""
    image = load_image(path)
    sha = content_sha256(image)
    if store.frame_known(sha):
        return None, 0
    if at is None:
        at = time_from_name(path.name)
    if at is None:
        at = os.stat(path).st_mtime
    try:
        result = ocr.read(image)
    except (OSError, ValueError, RuntimeError) as exc:  # tesseract refused this image
        raise InputError(f"{path}: OCR could not read it ({exc})") from None
    if redact:
        result, kinds = redact_image(image, result)
        if kinds:
            log.info("redacted %d words in %s (%s)", len(kinds), path.name,
                     ", ".join(sorted(set(kinds))))
    if not time_ok(at):
        raise InputError(f"{path}: its time is outside the years 1900-3000; give one with --at")
    try:
        stored = files.write(image, at, sha[:12])
    except (OSError, ValueError) as exc:  # the encoder refused it (disk errors are StorageError)
        raise InputError(f"{path}: cannot be stored as WebP ({exc})") from None
    if not (app and title):  # what the image itself says, where the person said nothing
        read_app, read_title = label_from_text(
            [line for b in result.blocks for line in b.text.splitlines() if line.strip()])
        app, title = app or read_app, title or read_title
    frame = FrameIn(
        time=at, app=app, title=title or path.stem, image_path=stored.image_path,
        thumb_path=stored.thumb_path, width=stored.width, height=stored.height,
        bytes=stored.bytes, change_hash=dhash(image), content_sha256=sha, origin="import",
        blocks=ocr_blocks(result),
    )
    try:
        frame_id = store.add_frame(frame)
    except BaseException:
        files.remove(stored)
        raise
    if frame_id is None:  # stored by a concurrent run meanwhile; keep its files, not ours
        return None, 0
    return frame_id, result.word_count


def ingest_images(
    paths: Iterable[Path], *, store: Store, files: FrameFiles, ocr: OcrEngine,
    at: float | None = None, app: str = "", title: str = "", redact: bool = True,
    on_file: Callable[[Path], None] | None = None,
) -> IngestReport:
    report = IngestReport()
    for path in paths:
        try:
            frame_id, words = ingest_image(
                path, store=store, files=files, ocr=ocr, at=at, app=app, title=title,
                redact=redact,
            )
        except MemlaneError as exc:
            if not isinstance(exc, InputError):
                raise
            report.errors.append(str(exc))
        else:
            if frame_id is None:
                report.skipped.append(path)
            else:
                report.stored.append(frame_id)
                report.words += words
        if on_file:
            on_file(path)
    return report
