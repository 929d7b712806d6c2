"""Frame image files on disk: lossy WebP frames and small thumbnails under the home folder.

:class:`FrameFiles` writes both atomically (temporary file, then rename) into a
``YYYY/MM/DD`` tree and returns paths relative to the home folder, which is what the database
stores, so the home folder can move. A full disk or a permission problem becomes a
:class:`StorageError` and leaves no half-written file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image

from memlane.app.errors import StorageError


@dataclass(frozen=True)
class StoredImage:
    image_path: str
    thumb_path: str
    bytes: int
    width: int
    height: int


class FrameFiles:
    def __init__(
        self, home: Path, frames: Path, thumbnails: Path, *, quality: int = 70,
        thumbnail_width: int = 320,
    ) -> None:
        self.home = home
        self.frames = frames
        self.thumbnails = thumbnails
        self.quality = quality
        self.thumbnail_width = thumbnail_width

    def write(self, image: Image.Image, when: float, key: str) -> StoredImage:
        day = datetime.fromtimestamp(when).strftime("%Y/%m/%d")
        stamp = datetime.fromtimestamp(when).strftime("%H%M%S")
        name = f"{stamp}-{key}.webp"
        rgb = image.convert("RGB")
        frame_path = self.frames / day / name
        thumb_path = self.thumbnails / day / name
        thumb = rgb.copy()
        height = max(1, round(rgb.height * self.thumbnail_width / max(rgb.width, 1)))
        thumb.thumbnail((self.thumbnail_width, height))
        size = self._save(rgb, frame_path, self.quality)
        try:
            self._save(thumb, thumb_path, 60)
        except BaseException:
            frame_path.unlink(missing_ok=True)
            raise
        return StoredImage(
            str(frame_path.relative_to(self.home)), str(thumb_path.relative_to(self.home)),
            size, rgb.width, rgb.height,
        )

    def remove(self, stored: StoredImage) -> None:
        for rel in (stored.image_path, stored.thumb_path):
            (self.home / rel).unlink(missing_ok=True)

    @staticmethod
    def _save(image: Image.Image, path: Path, quality: int) -> int:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                image.save(fh, format="WEBP", quality=quality, method=4)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if exc.errno == errno.ENOSPC:
                raise StorageError(f"the disk is full; could not write {path.name}") from exc
            raise StorageError(f"could not write {path}: {exc.strerror or exc}") from exc
        return path.stat().st_size
