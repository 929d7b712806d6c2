"""Renders Memlane's SVG icon to the PNG sizes desktops and the Debian package need.

``python -m memlane.ui.icons OUT_DIR`` writes ``OUT_DIR/<size>x<size>/memlane.png`` for the
freedesktop hicolor sizes. The PNGs are committed under ``packaging/icons`` (re-run this after
changing the SVG); the package build copies them into ``/usr/share/icons/hicolor``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from memlane.ui.mainwindow import ICON

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(out: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Write one PNG per size; returns their paths."""
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICON))
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out / f"{size}x{size}" / "memlane.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path)):
            raise OSError(f"could not write {path}")
        written.append(path)
    del app
    return written


if __name__ == "__main__":
    for p in render(Path(sys.argv[1] if len(sys.argv) > 1 else "packaging/icons")):
        print(p)
