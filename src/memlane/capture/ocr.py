"""OCR backends: tesseract through pytesseract, with word boxes and confidences.

:class:`TesseractOcr` reads a PIL image and returns :class:`OcrResult` blocks (tesseract's
layout blocks), each with its text, its words with pixel boxes and a mean confidence. Languages
come from settings; ``auto`` picks ``eng+chi_sim`` when that data is installed and says so in the
log when it falls back to what is there. A missing tesseract binary is a
:class:`DependencyError` with the install command, never a crash.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

from memlane.app.errors import DependencyError

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
            text = "\n".join(_join(words) for _, words in sorted(lines.items()))
            words = tuple(w for _, _, w in entries)
            mean = sum(w.confidence for w in words) / len(words)
            out.append(OcrBlock(number, text, words, round(mean, 1)))
        return OcrResult(tuple(out), langs)


def _join(words: list[str]) -> str:
    """Join words with spaces, except between CJK characters (tesseract splits them)."""
    out = ""
    for word in words:
        if out and not (_is_cjk(out[-1]) and _is_cjk(word[0])):
            out += " "
        out += word
    return out


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"
