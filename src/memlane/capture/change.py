"""Change detection per monitor: which tiles of the screen differ from the last *stored* frame.

Screen pixels are exact (no sensor noise), so tiles are compared exactly against the last stored
frame kept in memory, and a frame is stored only when enough tiles changed: a blinking caret is
ignored, while typing accumulates against the stored frame until it counts. The changed tiles,
merged into rectangles, go with the frame to OCR so it re-reads only those regions. After a
restart a per-tile checksum of the last stored frame (saved by the caller through
:func:`signature`) stands in for it, so a restart on an unchanged screen stores nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TILE = 40
_WEIGHTS = (
    np.random.default_rng(20261122).integers(1, 2**32, size=(TILE, TILE), dtype=np.uint32)
    | np.uint32(1)
)


Rect = tuple[int, int, int, int]  # left, top, width, height in frame pixels
_ROW_WEIGHTS = np.random.default_rng(20261202).integers(1, 2**63, size=8192, dtype=np.uint64)


@dataclass(frozen=True)
class Change:
    changed: bool
    tiles: int  # tiles that differ from the last stored frame
    total: int
    rects: tuple[Rect, ...]  # what OCR must read again
    # ``(dy, bands)``: inside each band the content moved up by ``dy`` pixels (down when
    # negative) since the last stored frame, like a terminal or a page scrolling; what was read
    # there moves with it and only ``rects`` are new.
    scroll: tuple[int, tuple[Rect, ...]] | None = None

    @property
    def share(self) -> float:
        return self.tiles / self.total if self.total else 0.0


def _padded(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape
    th, tw = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    if (th, tw) == (h, w):
        return pixels
    return np.pad(pixels, ((0, th - h), (0, tw - w)))


def signature(pixels: np.ndarray) -> np.ndarray:
    """A 32-bit checksum per tile of a HxW uint32 frame."""
    p = _padded(pixels)
    ty, tx = p.shape[0] // TILE, p.shape[1] // TILE
    tiles = p.reshape(ty, TILE, tx, TILE)
    out: np.ndarray = (tiles * _WEIGHTS[None, :, None, :]).sum(axis=(1, 3), dtype=np.uint32)
    return out


def tile_diff(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Bool grid of tiles where two same-sized frames differ."""
    diff = _padded(current != previous)
    ty, tx = diff.shape[0] // TILE, diff.shape[1] // TILE
    return np.asarray(diff.reshape(ty, TILE, tx, TILE).any(axis=(1, 3)))


def rectangles(grid: np.ndarray, width: int, height: int) -> tuple[tuple[int, int, int, int], ...]:
    """Bounding boxes (in pixels) of 8-connected groups of changed tiles."""
    seen = np.zeros_like(grid)
    out = []
    rows, cols = grid.shape
    for r0, c0 in zip(*np.nonzero(grid), strict=True):
        if seen[r0, c0]:
            continue
        stack = [(int(r0), int(c0))]
        seen[r0, c0] = True
        top, left, bottom, right = r0, c0, r0, c0
        while stack:
            r, c = stack.pop()
            top, left, bottom, right = min(top, r), min(left, c), max(bottom, r), max(right, c)
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    nr, nc = r + dr, c + dc
                    if 0 <= nr < rows and 0 <= nc < cols and grid[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        x, y = int(left) * TILE, int(top) * TILE
        w = min((int(right) + 1) * TILE, width) - x
        h = min((int(bottom) + 1) * TILE, height) - y
        out.append((x, y, w, h))
    return tuple(out)


def _row_hashes(pixels: np.ndarray, rect: Rect) -> np.ndarray:
    left, top, width, height = rect
    rows = pixels[top : top + height, left : left + width].astype(np.uint64)
    out: np.ndarray = rows @ _ROW_WEIGHTS[:width]  # wraps around: a hash, not a sum
    return out


def find_scroll(current: np.ndarray, previous: np.ndarray, rect: Rect,
                min_rows: int = 24) -> int | None:
    """How far the content of ``rect`` moved up (negative: down) between the two frames, when
    most of its distinct rows are the previous frame's rows shifted by one same offset."""
    _, _, width, height = rect
    if height < 2 * TILE or width > _ROW_WEIGHTS.size:
        return None
    new, old = _row_hashes(current, rect), _row_hashes(previous, rect)
    # Rows that occur once in the old frame: blank lines and rules match anywhere, so they
    # cannot tell an offset.
    values, counts = np.unique(old, return_counts=True)
    unique = set(values[counts == 1].tolist())
    where = {int(h): i for i, h in enumerate(old.tolist()) if h in unique}
    votes: dict[int, int] = {}
    for i, h in enumerate(new.tolist()):
        j = where.get(int(h))
        if j is not None and j != i:
            votes[j - i] = votes.get(j - i, 0) + 1
    if not votes:
        return None
    dy, count = max(votes.items(), key=lambda kv: kv[1])
    return dy if count >= max(min_rows, len(unique) // 3) else None


def after_scroll(current: np.ndarray, previous: np.ndarray, rect: Rect, dy: int
                 ) -> tuple[Rect, ...]:
    """The parts of ``rect`` that still differ once the previous frame is moved by ``dy``."""
    left, top, width, height = rect
    new = current[top : top + height, left : left + width]
    old = previous[top : top + height, left : left + width]
    diff = np.ones(new.shape, dtype=bool)  # rows scrolled in from outside are new
    if dy >= 0:
        diff[: height - dy] = new[: height - dy] != old[dy:]
    else:
        diff[-dy:] = new[-dy:] != old[: height + dy]
    p = _padded(diff)
    ty, tx = p.shape[0] // TILE, p.shape[1] // TILE
    grid = np.asarray(p.reshape(ty, TILE, tx, TILE).any(axis=(1, 3)))
    return tuple((x + left, y + top, w, h) for x, y, w, h in rectangles(grid, width, height))


def _moved_mismatch(current: np.ndarray, previous: np.ndarray, rect: Rect, dy: int) -> int:
    """Pixels of ``rect`` that differ from the previous frame moved by ``dy`` (rows that came in
    from outside not counted)."""
    left, top, width, height = rect
    new = current[top : top + height, left : left + width]
    old = previous[top : top + height, left : left + width]
    if abs(dy) >= height:
        return 0
    if dy >= 0:
        return int((new[: height - dy] != old[dy:]).sum())
    return int((new[-dy:] != old[: height + dy]).sum())


def _area(rects: tuple[Rect, ...]) -> int:
    return sum(r[2] * r[3] for r in rects)


class ChangeDetector:
    """Remembers each monitor's last stored frame; says whether a new one is worth storing."""

    def __init__(self, min_change_percent: float = 0.4, min_tiles: int = 2) -> None:
        self.min_change_percent = min_change_percent
        self.min_tiles = min_tiles
        self._last: dict[str, np.ndarray] = {}
        self._seed: dict[str, np.ndarray] = {}

    def seed(self, key: str, sig: np.ndarray) -> None:
        """The tile checksums of the last stored frame, from before a restart."""
        if key not in self._last:
            self._seed[key] = sig

    def compare(self, key: str, pixels: np.ndarray) -> Change:
        h, w = pixels.shape
        previous = self._last.get(key)
        if previous is not None and previous.shape == pixels.shape:
            grid = tile_diff(pixels, previous)
        elif key in self._seed and self._seed[key].shape == signature_shape(h, w):
            grid = signature(pixels) != self._seed[key]
        else:
            grid = np.ones(signature_shape(h, w), dtype=bool)
        tiles, total = int(grid.sum()), int(grid.size)
        needed = max(self.min_tiles, self.min_change_percent / 100.0 * total)
        changed = tiles >= needed
        if not changed and previous is None:
            self._last[key] = pixels.copy()  # equal to the stored frame: compare exactly from now
            self._seed.pop(key, None)
        rects = rectangles(grid, w, h) if changed and tiles < total else ()
        if changed and tiles == total:
            rects = ((0, 0, w, h),)
        scroll = None
        if changed and previous is not None and previous.shape == pixels.shape and rects:
            # Scrolled text leaves tiles that happen to match in place (a word repeated on
            # every line), so the changed rectangles are ragged: the band is their union.
            left, top = min(r[0] for r in rects), min(r[1] for r in rects)
            band = (left, top, max(r[0] + r[2] for r in rects) - left,
                    max(r[1] + r[3] for r in rects) - top)
            dy = find_scroll(pixels, previous, band)
            if dy is not None:
                left_over = after_scroll(pixels, previous, band, dy)
                # Whole rows, when the rest of them moved too: no word then straddles the
                # band's edge (a line's unchanged start), which would have to be read again.
                rows = (0, top, w, band[3])
                extra = (rows[2] - band[2]) * rows[3]
                if _moved_mismatch(pixels, previous, rows, dy) <= _moved_mismatch(
                        pixels, previous, band, dy) + 0.005 * extra:
                    band, left_over = rows, after_scroll(pixels, previous, rows, dy)
                if _area(left_over) * 2 <= band[2] * band[3]:
                    scroll, rects = (dy, (band,)), left_over
        return Change(changed, tiles, total, rects, scroll)

    def stored(self, key: str, pixels: np.ndarray) -> None:
        """Remember ``pixels`` as the last stored frame of ``key``."""
        self._last[key] = pixels.copy()
        self._seed.pop(key, None)

    def forget(self) -> None:
        self._last.clear()
        self._seed.clear()


def signature_shape(height: int, width: int) -> tuple[int, int]:
    return -(-height // TILE), -(-width // TILE)
