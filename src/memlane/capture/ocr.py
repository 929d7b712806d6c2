"""OCR: tesseract through pytesseract, with word boxes, re-use of unchanged regions, and redaction.

:class:`TesseractOcr` turns a PIL image into :class:`OcrResult` blocks, each with its text, its
words with pixel boxes and a mean confidence, in the languages the settings name (``auto`` falls
back to the installed data and says so in the log); a missing tesseract binary is a
:class:`DependencyError` with the install command, never a crash. :func:`read_changed` re-reads
only the regions that changed since the previous frame and keeps its words everywhere else, and
:func:`redact` blanks sensitive words and returns their boxes so the image can be painted too.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

from PIL import Image, ImageDraw

from memlane.capture.redact import find_sensitive
from memlane.core.errors import DependencyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrWord:
    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float


@dataclass(frozen=True)
class OcrBlock:
    block: int
    text: str
    words: tuple[OcrWord, ...]
    confidence: float


@dataclass(frozen=True)
class OcrResult:
    blocks: tuple[OcrBlock, ...]
    languages: str

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)

    @property
    def word_count(self) -> int:
        return sum(len(b.words) for b in self.blocks)


Box = tuple[int, int, int, int]  # left, top, width, height


class OcrEngine(Protocol):
    """What reads text off an image; the engines are in :mod:`memlane.capture.engines`."""

    name: str

    @property
    def languages(self) -> str: ...

    def read(self, image: Image.Image) -> OcrResult: ...

    def read_regions(self, image: Image.Image, regions: Sequence[Box]) -> list[OcrBlock]: ...

    def close(self) -> None: ...


@lru_cache(maxsize=1)
def installed_languages() -> tuple[str, ...]:
    import pytesseract

    try:
        return tuple(sorted(pytesseract.get_languages(config="")))
    except Exception:
        return ()


class TesseractOcr:
    """Tesseract OCR with word boxes."""

    name = "tesseract"

    def __init__(self, languages: str = "auto") -> None:
        self.requested = languages
        # One OpenMP thread per page: on 2 cores a 1280x800 read took 4.9 s with tesseract's
        # default threads (spinning against the rest of the app) and 0.8 s with one.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    @staticmethod
    def is_available() -> bool:
        return shutil.which("tesseract") is not None

    @staticmethod
    def install_hint() -> str:
        return "sudo apt-get install tesseract-ocr tesseract-ocr-chi-sim"

    @property
    def languages(self) -> str:
        have = set(installed_languages())
        wanted = ["eng", "chi_sim"] if self.requested == "auto" else self.requested.split("+")
        usable = [lang for lang in wanted if lang in have]
        missing = [lang for lang in wanted if lang not in have]
        if missing and self.requested != "auto":
            log.warning("OCR languages not installed: %s", ", ".join(missing))
        return "+".join(usable) or "eng"

    def read_regions(
        self, image: Image.Image, regions: Sequence[tuple[int, int, int, int]]
    ) -> list[OcrBlock]:
        """Blocks read from each ``(left, top, width, height)`` region, in frame coordinates.

        The regions are stacked into one image with gaps and read in one tesseract run: each
        run costs a process start and loading the language data, which for small regions is
        most of the work.
        """
        if not regions:
            return []
        gap = 24
        width = max(r[2] for r in regions)
        height = sum(r[3] for r in regions) + gap * (len(regions) - 1)
        background = image.getpixel((regions[0][0], regions[0][1]))
        mosaic = Image.new(image.mode, (width, height), background)
        offsets: list[int] = []
        y = 0
        for left, top, w, h in regions:
            mosaic.paste(image.crop((left, top, left + w, top + h)), (0, y))
            offsets.append(y)
            y += h + gap
        out: list[OcrBlock] = []
        for block in self.read(mosaic).blocks:
            parts: dict[int, list[OcrWord]] = {}
            for word in block.words:
                middle = word.top + word.height / 2
                for n, ((left, top, _, h), off) in enumerate(zip(regions, offsets, strict=True)):
                    if off <= middle < off + h:
                        parts.setdefault(n, []).append(
                            replace(word, left=word.left + left, top=word.top - off + top)
                        )
                        break
            for words in parts.values():
                out.append(block_from_words(len(out) + 1, words))
        return out

    def close(self) -> None:
        pass  # nothing stays loaded: each read is a process of its own

    def read(self, image: Image.Image) -> OcrResult:
        if not self.is_available():
            raise DependencyError(
                "the tesseract OCR program is not installed; run: " + self.install_hint()
            )
        import pytesseract

        langs = self.languages
        gray = image.convert("L")
        data = pytesseract.image_to_data(
            gray, lang=langs, config="--psm 3", output_type=pytesseract.Output.DICT
        )
        blocks: dict[int, list[tuple[int, int, OcrWord]]] = {}
        for i, word in enumerate(data["text"]):
            word = (word or "").strip()
            conf = float(data["conf"][i])
            if not word or conf < 0:
                continue
            blocks.setdefault(int(data["block_num"][i]), []).append(
                (
                    int(data["par_num"][i]) * 10000 + int(data["line_num"][i]),
                    i,
                    OcrWord(
                        word, int(data["left"][i]), int(data["top"][i]),
                        int(data["width"][i]), int(data["height"][i]), conf,
                    ),
                )
            )
        out: list[OcrBlock] = []
        for number in sorted(blocks):
            entries = blocks[number]
            lines: dict[int, list[str]] = {}
            for line_key, _, w in entries:
                lines.setdefault(line_key, []).append(w.text)
            text = "\n".join(join_words(words) for _, words in sorted(lines.items()))
            words = tuple(w for _, _, w in entries)
            mean = sum(w.confidence for w in words) / len(words)
            out.append(OcrBlock(number, text, words, round(mean, 1)))
        return OcrResult(tuple(out), langs)


def join_words(words: list[str]) -> str:
    """Join words with spaces, except between CJK characters (tesseract splits them)."""
    out = ""
    for word in words:
        if out and not (is_cjk(out[-1]) and is_cjk(word[0])):
            out += " "
        out += word
    return out


def is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


_REDACTED = re.compile(r"^\[redacted (\w+)\]$")


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _union(a: Box, b: Box) -> Box:
    left, top = min(a[0], b[0]), min(a[1], b[1])
    right, bottom = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return left, top, right - left, bottom - top


def _box(w: OcrWord) -> Box:
    return w.left, w.top, w.width, w.height


def lines_of(words: Sequence[OcrWord]) -> list[list[int]]:
    """Word indexes grouped into text lines by geometry, top to bottom, left to right."""
    order = sorted(range(len(words)), key=lambda i: (words[i].top, words[i].left))
    lines: list[tuple[int, int, list[int]]] = []  # top, bottom, members
    for i in order:
        w = words[i]
        middle = w.top + w.height / 2
        for n, (top, bottom, members) in enumerate(lines):
            if top <= middle <= bottom:
                members.append(i)
                lines[n] = (min(top, w.top), max(bottom, w.top + w.height), members)
                break
        else:
            lines.append((w.top, w.top + w.height, [i]))
    return [sorted(m, key=lambda i: words[i].left) for _, _, m in sorted(lines)]


def block_from_words(number: int, words: Sequence[OcrWord]) -> OcrBlock:
    text = "\n".join(join_words([words[i].text for i in line]) for line in lines_of(words))
    mean = sum(w.confidence for w in words) / len(words) if words else 0.0
    return OcrBlock(number, text, tuple(words), round(mean, 1))


def grow_regions(
    changed: Sequence[Box], previous: Sequence[OcrBlock], size: tuple[int, int], margin: int = 8
) -> list[Box]:
    """Changed rectangles grown over every previous word they touch, plus a margin, merged.

    A region takes in a word (with a margin, so a crop never ends exactly at a glyph's edge)
    when it touches the word itself, not its margin: margins of words on adjacent lines overlap,
    and growing through them would take in a whole page of text for one changed line.
    """
    words = [
        ((w.left, w.top, w.width, w.height),
         (max(0, w.left - margin), max(0, w.top - margin), w.width + 2 * margin,
          w.height + 2 * margin))
        for b in previous for w in b.words
    ]
    regions = [
        (max(0, x - margin), max(0, y - margin), w + 2 * margin, h + 2 * margin)
        for x, y, w, h in changed
    ]
    grown = True
    while grown:
        grown = False
        for n, region in enumerate(regions):
            for word, padded in words:
                if _overlaps(region, word) and _union(region, padded) != region:
                    regions[n] = region = _union(region, padded)
                    grown = True
        merged: list[Box] = []
        for region in regions:
            for n, other in enumerate(merged):
                if _overlaps(region, other):
                    merged[n] = _union(region, other)
                    grown = True
                    break
            else:
                merged.append(region)
        regions = merged
    width, height = size
    return [
        (x, y, min(w, width - x), min(h, height - y)) for x, y, w, h in regions
        if x < width and y < height
    ]


def scrolled(previous: Sequence[OcrBlock], dy: int, bands: Sequence[Box]
             ) -> tuple[list[OcrBlock], list[Box]]:
    """The previous frame's words after its content moved up by ``dy`` inside ``bands``.

    Words inside a band move with it (and go when they leave it), words outside every band stay
    where they were, and a word partly in a band is dropped and its box returned, to be read
    again: part of it moved and part did not.
    """
    out: list[OcrBlock] = []
    again: list[Box] = []
    for block in previous:
        words: list[OcrWord] = []
        for w in block.words:
            box = _box(w)
            band = next((b for b in bands if _inside(box, b)), None)
            if band is None:
                if any(_overlaps(box, b) for b in bands):
                    again.append(box)
                else:
                    words.append(w)
                continue
            moved = replace(w, top=w.top - dy)
            if _inside(_box(moved), band):
                words.append(moved)
        if words:
            out.append(block_from_words(block.block, words))
    return out, again


def _inside(a: Box, b: Box) -> bool:
    return b[0] <= a[0] and b[1] <= a[1] and a[0] + a[2] <= b[0] + b[2] \
        and a[1] + a[3] <= b[1] + b[3]


def read_changed(
    ocr: OcrEngine, image: Image.Image, previous: Sequence[OcrBlock],
    changed: Sequence[Box],
) -> tuple[OcrResult, int]:
    """OCR only the changed regions and keep the previous words elsewhere.

    Returns the result and how many words were re-used.
    """
    regions = grow_regions(changed, previous, image.size)
    kept: list[OcrBlock] = []
    reused = 0
    for block in previous:
        words = [w for w in block.words if not any(_overlaps(_box(w), r) for r in regions)]
        reused += len(words)
        for line in lines_of(words):  # a line per block, so fresh text can sit between them
            kept.append(block_from_words(len(kept) + 1, [words[i] for i in line]))
    fresh = ocr.read_regions(image, regions)
    ordered = sorted([*kept, *fresh], key=_block_position)  # reading order, top to bottom
    blocks = [replace(b, block=i + 1) for i, b in enumerate(ordered)]
    return OcrResult(tuple(blocks), ocr.languages), reused


def _block_position(block: OcrBlock) -> tuple[int, int]:
    if not block.words:
        return (0, 0)
    return min(w.top for w in block.words), min(w.left for w in block.words)


def redact(result: OcrResult) -> tuple[OcrResult, list[tuple[str, Box]]]:
    """Blank sensitive words; return the redacted result and ``(kind, box)`` for each word."""
    boxes: list[tuple[str, Box]] = []
    blocks: list[OcrBlock] = []
    for block in result.blocks:
        words = list(block.words)
        for w in words:  # re-used from a previous frame: already blank, the pixels are not
            done = _REDACTED.match(w.text)
            if done:
                boxes.append((done.group(1), _box(w)))
        lines = [[(i, words[i].text) for i in line] for line in lines_of(words)]
        hits = find_sensitive(lines)
        if not hits:
            blocks.append(block)
            continue
        for hit in hits:
            for i in hit.words:
                boxes.append((hit.kind, _box(words[i])))
                words[i] = replace(words[i], text=f"[redacted {hit.kind}]")
        blocks.append(block_from_words(block.block, words))
    return OcrResult(tuple(blocks), result.languages), boxes


REDACT_FILL = (32, 32, 32)


def paint_out(image: Image.Image, boxes: Sequence[Box], pad: int = 2) -> None:
    """Paint redacted word boxes out of ``image`` (in place), a little wider than the words."""
    draw = ImageDraw.Draw(image)
    for left, top, width, height in boxes:
        draw.rectangle(
            (left - pad, top - pad, left + width + pad, top + height + pad), fill=REDACT_FILL
        )


def redact_image(image: Image.Image, result: OcrResult) -> tuple[OcrResult, list[str]]:
    """Redact ``result`` and paint the same words out of ``image``; return the kinds found."""
    redacted, boxes = redact(result)
    if boxes:
        paint_out(image, [b for _, b in boxes])
    return redacted, [kind for kind, _ in boxes]
