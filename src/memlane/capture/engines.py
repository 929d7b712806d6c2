"""OCR engines behind one interface, and the choice between them (``[ocr] engine``).

An engine turns a PIL image into :class:`~memlane.capture.ocr.OcrResult` blocks with word boxes
(:meth:`read`) and reads only some rectangles of a frame (:meth:`read_regions`). Three exist:
``tesseract`` starts the tesseract program for every read (:class:`TesseractOcr`), ``tesserocr``
keeps tesseract's library and language data loaded in this process (:class:`TesserocrOcr`), and
``rapidocr`` runs the PP-OCR detection and recognition networks shipped inside the
``rapidocr_onnxruntime`` package through onnxruntime (:class:`RapidOcr`). Nothing is downloaded:
an engine whose package or data is missing is a :class:`DependencyError` saying what to install,
and :func:`make_engine` with ``auto`` takes the first one that is installed, in the order of
:data:`AUTO_ORDER` (ADR 011 says why). A loaded engine is used from one thread at a time; each
holds a lock so a second caller waits instead of corrupting its state.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Any

from PIL import Image

from memlane.capture.ocr import (
    Box,
    OcrBlock,
    OcrEngine,
    OcrResult,
    OcrWord,
    TesseractOcr,
    block_from_words,
    is_cjk,
    join_words,
)
from memlane.core.errors import DependencyError

log = logging.getLogger(__name__)

ENGINES = ("tesseract", "tesserocr", "rapidocr")
AUTO_ORDER = ("tesserocr", "tesseract", "rapidocr")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- tesseract kept loaded -------------------------------------------------------------------


@lru_cache(maxsize=1)
def tessdata_dir() -> str | None:
    """The folder holding tesseract's ``*.traineddata`` (the system's, as the program sees it)."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env and glob.glob(os.path.join(env, "*.traineddata")):
        return env
    if shutil.which("tesseract"):
        try:
            out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True,
                                 timeout=20, check=False)
            found = re.search(r'"([^"]+)"', out.stdout + out.stderr)
            if found and os.path.isdir(found.group(1)):
                return found.group(1).rstrip("/")
        except (OSError, subprocess.SubprocessError):
            pass
    for candidate in sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True):
        if glob.glob(os.path.join(candidate, "*.traineddata")):
            return candidate
    return None


def _tessdata_languages() -> tuple[str, ...]:
    folder = tessdata_dir()
    if folder is None:
        return ()
    return tuple(sorted(os.path.basename(p)[: -len(".traineddata")]
                        for p in glob.glob(os.path.join(folder, "*.traineddata"))))


class TesserocrOcr:
    """Tesseract's C++ API through ``tesserocr``: loaded once, then each read costs only itself.

    A region is read on its own crop, so the work follows the size of what changed.
    """

    name = "tesserocr"

    def __init__(self, languages: str = "auto") -> None:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self.requested = languages
        self._api: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def is_available() -> bool:
        return _installed("tesserocr") and tessdata_dir() is not None

    @staticmethod
    def install_hint() -> str:
        return "pip install tesserocr, and: sudo apt-get install tesseract-ocr-eng"

    @property
    def languages(self) -> str:
        have = set(_tessdata_languages())
        wanted = ["eng", "chi_sim"] if self.requested == "auto" else self.requested.split("+")
        return "+".join(lang for lang in wanted if lang in have) or "eng"

    def _loaded(self) -> Any:
        if self._api is None:
            try:
                import tesserocr
            except ImportError:
                raise DependencyError(
                    "the tesserocr OCR engine is not installed; run: " + self.install_hint()
                ) from None
            folder = tessdata_dir()
            if folder is None:
                raise DependencyError("no tesseract language data found; run: "
                                      "sudo apt-get install tesseract-ocr-eng")
            _quiet_leptonica(tesserocr.__file__)
            try:
                self._api = tesserocr.PyTessBaseAPI(
                    path=folder + "/", lang=self.languages, psm=tesserocr.PSM.AUTO
                )
            except RuntimeError as exc:
                raise DependencyError(f"tesseract could not load {self.languages!r} from "
                                      f"{folder}: {exc}") from None
        return self._api

    def read(self, image: Image.Image) -> OcrResult:
        with self._lock:
            words = self._words(image.convert("L"))
        return OcrResult(_blocks(words), self.languages)

    def read_regions(self, image: Image.Image, regions: Sequence[Box]) -> list[OcrBlock]:
        gray = image.convert("L")
        out: list[OcrBlock] = []
        with self._lock:
            for left, top, width, height in regions:
                crop = gray.crop((left, top, left + width, top + height))
                for block_words in _group(self._words(crop)):
                    moved = [OcrWord(w.text, w.left + left, w.top + top, w.width, w.height,
                                     w.confidence) for _, w in block_words]
                    out.append(block_from_words(len(out) + 1, moved))
        return out

    def _words(self, gray: Image.Image) -> list[tuple[int, OcrWord]]:
        """``(block number, word)`` in tesseract's reading order."""
        import tesserocr

        api = self._loaded()
        api.SetImage(gray)
        level = tesserocr.RIL.WORD
        words: list[tuple[int, OcrWord]] = []
        block = 0
        try:
            api.Recognize()
            iterator = api.GetIterator()
        except RuntimeError:  # nothing tesseract could lay out (a sliver, a blank image)
            return words
        if iterator is None:
            return words
        for item in tesserocr.iterate_level(iterator, level):
            if item.IsAtBeginningOf(tesserocr.RIL.BLOCK):
                block += 1
            try:
                text = (item.GetUTF8Text(level) or "").strip()
            except RuntimeError:  # "No text returned": an empty word
                continue
            box = item.BoundingBox(level)
            confidence = float(item.Confidence(level))
            if not text or box is None or confidence < 0:
                continue
            x1, y1, x2, y2 = box
            words.append((block, OcrWord(text, x1, y1, x2 - x1, y2 - y1, round(confidence, 2))))
        return words

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.End()
                self._api = None


def _quiet_leptonica(module_file: str) -> None:
    """Silence the image library inside the wheel: it prints a line to stderr for every box
    tesseract probes outside a region ("boxClipToRectangle: box outside rectangle"), thousands
    a day, none of them a fault of ours or the person's."""
    folder = os.path.join(os.path.dirname(os.path.dirname(module_file)), "tesserocr.libs")
    for lib in glob.glob(os.path.join(folder, "libleptonica*.so*")):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(lib).setMsgSeverity(6)  # L_SEVERITY_NONE


def _group(words: list[tuple[int, OcrWord]]) -> list[list[tuple[int, OcrWord]]]:
    groups: dict[int, list[tuple[int, OcrWord]]] = {}
    for number, word in words:
        groups.setdefault(number, []).append((number, word))
    return [groups[n] for n in sorted(groups)]


def _blocks(words: list[tuple[int, OcrWord]]) -> tuple[OcrBlock, ...]:
    return tuple(block_from_words(n + 1, [w for _, w in group])
                 for n, group in enumerate(_group(words)))


# -- PP-OCR in onnxruntime -------------------------------------------------------------------


class RapidOcr:
    """PP-OCR (detection and recognition, Chinese and English) from ``rapidocr_onnxruntime``.

    It finds text lines, not words: each line's words get boxes in proportion to their
    characters, close enough to paint a redacted word out.
    """

    name = "rapidocr"

    def __init__(self, languages: str = "auto", threads: int = 1) -> None:
        self.requested = languages
        self.threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def is_available() -> bool:
        return _installed("rapidocr_onnxruntime")

    @staticmethod
    def install_hint() -> str:
        return "pip install rapidocr-onnxruntime"

    @property
    def languages(self) -> str:
        return "ch+en"  # one model reads both; the setting cannot narrow it

    def _loaded(self) -> Any:
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise DependencyError("the rapidocr OCR engine is not installed; run: "
                                      + self.install_hint()) from None
            import onnxruntime

            onnxruntime.disable_telemetry_events()  # it phones Microsoft otherwise
            self._engine = RapidOCR(intra_op_num_threads=self.threads,
                                    inter_op_num_threads=1)
        return self._engine

    def read(self, image: Image.Image) -> OcrResult:
        with self._lock:
            lines = self._lines(image)
        return OcrResult(tuple(block_from_words(n + 1, words)
                               for n, words in enumerate(lines)), self.languages)

    def read_regions(self, image: Image.Image, regions: Sequence[Box]) -> list[OcrBlock]:
        out: list[OcrBlock] = []
        with self._lock:
            for left, top, width, height in regions:
                crop = image.crop((left, top, left + width, top + height))
                for words in self._lines(crop):
                    moved = [OcrWord(w.text, w.left + left, w.top + top, w.width, w.height,
                                     w.confidence) for w in words]
                    out.append(block_from_words(len(out) + 1, moved))
        return out

    def _lines(self, image: Image.Image) -> list[list[OcrWord]]:
        import numpy as np

        engine = self._loaded()
        rgb = np.asarray(image.convert("RGB"))[:, :, ::-1]  # the package works in BGR
        found, _ = engine(rgb, use_cls=False)
        lines: list[list[OcrWord]] = []
        for points, text, score in found or []:
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            box = (int(min(xs)), int(min(ys)), int(max(xs) - min(xs)), int(max(ys) - min(ys)))
            words = split_line(str(text), box, 100.0 * float(score))
            if words:
                lines.append(words)
        return lines

    def close(self) -> None:
        with self._lock:
            self._engine = None


_TOKEN = re.compile(r"[\u3000-\u9fff\uf900-\ufaff]|[^\s\u3000-\u9fff\uf900-\ufaff]+")


def split_line(text: str, box: Box, confidence: float) -> list[OcrWord]:
    """A line's words with boxes shared out by character count (CJK characters one each)."""
    tokens = [t for t in _TOKEN.findall(text) if t.strip()]
    if not tokens:
        return []
    left, top, width, height = box
    # A space is about half a character wide; CJK characters are about two.
    units = [2.0 if is_cjk(t[0]) else float(len(t)) for t in tokens]
    gaps = [0.0 if (is_cjk(a[0]) and is_cjk(b[0])) else 0.5 for a, b in pairwise(tokens)]
    scale = width / max(1.0, sum(units) + sum(gaps))
    words: list[OcrWord] = []
    x = float(left)
    for n, (token, unit) in enumerate(zip(tokens, units, strict=True)):
        w = unit * scale
        words.append(OcrWord(token, int(x), top, max(1, int(w)), height, round(confidence, 2)))
        x += w + (gaps[n] * scale if n < len(gaps) else 0.0)
    return words


# -- choosing --------------------------------------------------------------------------------


def engine_available(name: str) -> bool:
    return {"tesseract": TesseractOcr.is_available, "tesserocr": TesserocrOcr.is_available,
            "rapidocr": RapidOcr.is_available}[name]()


def make_engine(name: str, languages: str = "auto") -> OcrEngine:
    """The engine ``name`` names (``auto``: the first installed of :data:`AUTO_ORDER`).

    An engine named but not installed is a :class:`DependencyError` when it first reads, so
    the message reaches the person through the job that failed, not a crash at start.
    """
    if name == "auto":
        name = next((n for n in AUTO_ORDER if engine_available(n)), "tesseract")
        log.debug("OCR engine: %s", name)
    if name == "tesserocr":
        return TesserocrOcr(languages)
    if name == "rapidocr":
        return RapidOcr(languages)
    if name == "tesseract":
        return TesseractOcr(languages)
    raise DependencyError(f"unknown OCR engine {name!r}; one of: auto, {', '.join(ENGINES)}")


__all__ = ["ENGINES", "OcrEngine", "RapidOcr", "TesserocrOcr", "join_words", "make_engine",
           "split_line", "tessdata_dir"]
