"""Stored images for the GUI: read through :class:`memlane.memory.frames.FrameFiles` (which
decrypts them in an encrypted home) and turned into ``QImage``s, on a worker lane.

Widgets never open a frame or thumbnail by path, so encryption at rest needs nothing of them.
"""

from __future__ import annotations

from PySide6.QtGui import QImage

from memlane.core.errors import StorageError
from memlane.memory.frames import FrameFiles


class Images:
    def __init__(self, files: FrameFiles) -> None:
        self.files = files

    def load(self, rel: str | None) -> QImage:
        """The image at ``rel`` (relative to the home folder); a null image if it cannot be read."""
        image = QImage()
        if not rel:
            return image
        try:
            data = self.files.read_bytes(rel)
        except StorageError:
            return image
        image.loadFromData(data)
        return image
