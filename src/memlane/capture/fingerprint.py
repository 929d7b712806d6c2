"""Image fingerprints: an exact content hash of the pixels and a perceptual difference hash.

The content hash makes re-ingesting the same screenshot a no-op whatever its file name; the
difference hash (dHash, 64 bits) is the cheap whole-frame signature stored with each frame that
change detection compares against.
"""

from __future__ import annotations

import hashlib

from PIL import Image


def content_sha256(image: Image.Image) -> str:
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def dhash(image: Image.Image, size: int = 8) -> str:
    small = image.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR)
    px = list(small.getdata())
    bits = 0
    for row in range(size):
        for col in range(size):
            left = px[row * (size + 1) + col]
            right = px[row * (size + 1) + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:0{size * size // 4}x}"
