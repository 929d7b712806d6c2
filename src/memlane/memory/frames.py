"""Frame image files on disk: lossy WebP frames, small thumbnails, and lossless copies awaiting OCR.

:class:`FrameFiles` writes them atomically (temporary file, then rename) into a ``YYYY/MM/DD``
tree under paths relative to the home folder, so the home can move; a full disk or a permission
problem is a :class:`StorageError` and leaves no half-written file. Lossy WebP blurs coloured text
and loses words tesseract could read, so a captured frame also gets a lossless *spool* copy that
OCR reads and then deletes. In an encrypted home every file is sealed before it touches the disk,
and :meth:`FrameFiles.read_bytes` / :meth:`FrameFiles.read` are the only way to read one back
(the GUI gets image bytes from here, never a path).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from PIL import Image

from memlane.core.errors import StorageError
from memlane.core.paths import FRAME_FOLDERS
from memlane.memory.crypto import FileCipher, is_sealed


@dataclass(frozen=True)
class StoredImage:
    image_path: str
    thumb_path: str
    bytes: int
    width: int
    height: int
    spool_path: str | None = None


def frame_rel_ok(rel: str, folders: tuple[str, ...] = FRAME_FOLDERS) -> bool:
    """Whether ``rel`` names an image file inside the home's frame folders, and nothing else.

    Paths come from the database, which an imported archive or a bug may have filled: a frame
    file is only ever read, replaced or deleted when its path passes this check.
    """
    path = PurePosixPath(rel)
    return (
        bool(rel) and not path.is_absolute() and ".." not in path.parts
        and rel == path.as_posix() and len(path.parts) >= 2 and path.parts[0] in folders
        and path.suffix == ".webp" and "\\" not in rel and "\x00" not in rel
    )


def spool_rel(image_rel: str) -> str:
    """Where the lossless copy of a stored frame waits for OCR (relative to the home folder)."""
    parts = Path(image_rel).parts
    return str(Path(FRAME_FOLDERS[2], *parts[1:]))


class FrameFiles:
    def __init__(
        self, home: Path, frames: Path, thumbnails: Path, *, quality: int = 70,
        thumbnail_width: int = 320, cipher: FileCipher | None = None,
    ) -> None:
        self.home = home
        self.cipher = cipher
        self.frames = frames
        self.thumbnails = thumbnails
        self.quality = quality
        self.thumbnail_width = thumbnail_width

    def write(
        self, image: Image.Image, when: float, key: str, *, spool: bool = False
    ) -> StoredImage:
        day = datetime.fromtimestamp(when).strftime("%Y/%m/%d")
        stamp = datetime.fromtimestamp(when).strftime("%H%M%S")
        name = f"{stamp}-{key}.webp"
        rgb = image.convert("RGB")
        frame_path = self.frames / day / name
        thumb_path = self.thumbnails / day / name
        image_rel = str(frame_path.relative_to(self.home))
        spool_path = self.home / spool_rel(image_rel) if spool else None
        size = self._save(rgb, frame_path, self.quality)
        try:
            self._save(self.thumbnail(rgb), thumb_path, 60)
            if spool_path is not None:
                self._save(rgb, spool_path, None)
        except BaseException:
            frame_path.unlink(missing_ok=True)
            thumb_path.unlink(missing_ok=True)
            raise
        return StoredImage(
            image_rel, str(thumb_path.relative_to(self.home)), size, rgb.width, rgb.height,
            str(spool_path.relative_to(self.home)) if spool_path else None,
        )

    def thumbnail(self, rgb: Image.Image) -> Image.Image:
        thumb = rgb.copy()
        height = max(1, round(rgb.height * self.thumbnail_width / max(rgb.width, 1)))
        thumb.thumbnail((self.thumbnail_width, height))
        return thumb

    def path(self, rel: str) -> Path:
        """The file a stored path names; :class:`StorageError` when it leaves the frame folders."""
        if not frame_rel_ok(rel):
            raise StorageError(f"{rel!r} is not a frame image inside the data folder")
        return self.home / rel

    def read_bytes(self, rel: str) -> bytes:
        """A stored image file's bytes (WebP), decrypted in an encrypted home."""
        try:
            blob = self.path(rel).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read the frame {rel}: {exc.strerror or exc}") from exc
        if self.cipher is not None:
            return self.cipher.open(blob, rel)
        if is_sealed(blob):
            raise StorageError(f"{rel} is encrypted; unlock Memlane to read it")
        return blob

    def read(self, rel: str) -> Image.Image:
        """A stored frame as RGB; :class:`StorageError` when it is missing or unreadable."""
        data = self.read_bytes(rel)
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                return img.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise StorageError(f"cannot read the frame {rel}: {exc}") from exc

    def read_for_ocr(self, image_rel: str) -> Image.Image:
        """The lossless spool copy of a frame when it is still there, else the stored frame."""
        spool = spool_rel(image_rel)
        if frame_rel_ok(spool) and (self.home / spool).is_file():
            try:
                return self.read(spool)
            except StorageError:
                pass  # a torn spool copy: the stored frame is still good
        return self.read(image_rel)

    def drop_spool(self, image_rel: str) -> None:
        if frame_rel_ok(spool_rel(image_rel)):
            (self.home / spool_rel(image_rel)).unlink(missing_ok=True)

    def rewrite(self, image_rel: str, thumb_rel: str | None, image: Image.Image) -> int:
        """Replace a stored frame and its thumbnail (e.g. after redaction); return its size."""
        rgb = image.convert("RGB")
        if thumb_rel:
            self._save(self.thumbnail(rgb), self.path(thumb_rel), 60)
        return self._save(rgb, self.path(image_rel), self.quality)

    def remove(self, stored: StoredImage) -> None:
        for rel in (stored.image_path, stored.thumb_path, stored.spool_path):
            if rel and frame_rel_ok(rel):
                (self.home / rel).unlink(missing_ok=True)

    def _save(self, image: Image.Image, path: Path, quality: int | None) -> int:
        """Write WebP atomically: lossy at ``quality``, or lossless and fast when ``None``."""
        buf = io.BytesIO()
        if quality is None:
            image.save(buf, format="WEBP", lossless=True, quality=0, method=0)
        else:
            # method 2: half the encoding time of the default 4 for 3% more bytes (ADR 011)
            image.save(buf, format="WEBP", quality=quality, method=2)
        return self.write_bytes(path, buf.getvalue())

    def write_bytes(self, path: Path, data: bytes) -> int:
        """Write an image file atomically, sealed in an encrypted home; returns its size."""
        if self.cipher is not None:
            data = self.cipher.seal(data)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if exc.errno == errno.ENOSPC:
                raise StorageError(f"the disk is full; could not write {path.name}") from exc
            raise StorageError(f"could not write {path}: {exc.strerror or exc}") from exc
        return path.stat().st_size
