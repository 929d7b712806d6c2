"""One capture tick, without storage: window info, privacy gates, grab, paint-out, change detection.

:class:`Recorder` is what the scheduler calls every few seconds. Order matters and is the point:
it asks for the windows first and stops if an excluded window has focus, the screen is locked or
the user is idle; only then grabs each monitor (with the grabber
:mod:`memlane.capture.backends` chose for the session), paints excluded windows out of the pixels
*in memory*, skips monitors that are mostly excluded, and compares the rest with the last stored
frame. What it returns (:class:`Tick`) holds only frames that passed every gate; the caller
(``memlane.services.recorder``) stores them and queues OCR, which never runs here. A display
that goes away or a grab that fails is a tick with ``state == "error"``; the next tick reconnects.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from memlane.capture.backends import Grabber
from memlane.capture.browser import BrowserUrls, with_url
from memlane.capture.change import Change, ChangeDetector
from memlane.capture.privacy import ExclusionRules, paint_out, plan_monitor
from memlane.capture.wayland import CaptureUnavailable, GrantNeeded, ScreenLocked, Waiting
from memlane.capture.windows import Rect, Snapshot, WindowInfo, WindowProvider, X11Windows
from memlane.capture.xlib import XError

log = logging.getLogger(__name__)


@dataclass
class Shot:
    """One monitor's frame that passed the gates and changed enough to be stored."""

    monitor: int
    rect: Rect
    pixels: np.ndarray  # HxW uint32, BGRA byte order, excluded windows already painted out
    change: Change
    painted: float  # share of the frame painted out

    @property
    def key(self) -> str:
        return monitor_key(self.monitor, self.rect)

    def image(self) -> Image.Image:
        h, w = self.pixels.shape
        return Image.frombuffer("RGB", (w, h), self.pixels, "raw", "BGRX", 0, 1).copy()


@dataclass
class Tick:
    state: str  # recording | excluded | idle | locked | waiting | error
    reason: str = ""
    shots: list[Shot] = field(default_factory=list)
    unchanged: int = 0  # monitors not stored because nothing changed
    private: int = 0  # monitors not stored because excluded windows covered them
    active: WindowInfo | None = None
    windows: tuple[WindowInfo, ...] = ()  # visible windows, bottom to top
    excluded: dict[int, str] = field(default_factory=dict)  # window id -> rule
    needs_grant: bool = False  # Wayland: the person must allow recording from the app
    monitors: int = 0  # monitors the grabber sees


def monitor_key(index: int, rect: Rect) -> str:
    return f"{index}:{rect.width}x{rect.height}+{rect.left}+{rect.top}"


class MssGrabber:
    """Grabs monitors with mss; one mss instance per thread (mss is not thread-safe on X11)."""

    name = "x11"

    def __init__(self) -> None:
        self._local = threading.local()

    def _sct(self) -> Any:
        sct = getattr(self._local, "sct", None)
        if sct is None:
            import mss

            sct = self._local.sct = mss.mss()
        return sct

    def monitors(self) -> list[Rect]:
        return [
            Rect(int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))
            for m in self._sct().monitors[1:]
        ]

    def grab(self, rect: Rect) -> np.ndarray:
        shot = self._sct().grab(
            {"left": rect.left, "top": rect.top, "width": rect.width, "height": rect.height}
        )
        raw = shot.raw if isinstance(shot.raw, bytearray) else bytearray(shot.raw)
        return np.frombuffer(raw, dtype=np.uint32).reshape(shot.height, shot.width)

    def prepare(self) -> None:
        pass

    def reset(self) -> None:
        sct = getattr(self._local, "sct", None)
        self._local.sct = None
        if sct is not None:
            try:
                sct.close()
            except Exception:  # the display is already gone
                log.debug("closing mss failed", exc_info=True)


class StillGrabber:
    """One monitor showing a given frame: replays recorded screenshots through the same tick."""

    name = "still"

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    def monitors(self) -> list[Rect]:
        h, w = self.pixels.shape
        return [Rect(0, 0, w, h)]

    def grab(self, rect: Rect) -> np.ndarray:
        return self.pixels.copy()

    def prepare(self) -> None:
        pass

    def reset(self) -> None:
        pass


def to_pixels(image: Image.Image) -> np.ndarray:
    """A PIL image as the HxW uint32 BGRA frame a grab returns."""
    rgba = np.asarray(image.convert("RGBA"))
    return rgba[:, :, [2, 1, 0, 3]].copy().view(np.uint32).reshape(image.height, image.width)


class Recorder:
    def __init__(
        self, rules: ExclusionRules, detector: ChangeDetector, *,
        windows: WindowProvider | None = None,
        grabber: Grabber | None = None,
        idle_limit_s: float = 300.0, monitors: frozenset[int] | None = None,
    ) -> None:
        self.rules = rules
        self.only = monitors  # 1-based monitor numbers to record; None: every monitor
        self.detector = detector
        self.windows: WindowProvider = windows or X11Windows()
        self.grabber: Grabber = grabber or MssGrabber()
        self.idle_limit_s = idle_limit_s
        self.urls = BrowserUrls()  # the focused browser tab's address, for rules and frames

    def close(self) -> None:
        self.windows.close()
        self.grabber.reset()

    def tick(self) -> Tick:
        try:
            snapshot = self.windows.snapshot()
        except XError as exc:
            self.grabber.reset()  # its connection is as dead as ours
            return Tick("error", f"cannot read windows from the display: {exc}")
        snapshot = with_url(snapshot, self.urls)
        excluded = self.rules.excluded(snapshot)
        try:  # a missing permission is said even while nothing would be grabbed
            self.grabber.prepare()
        except ScreenLocked as exc:
            return Tick("locked", str(exc))
        except Waiting as exc:
            return Tick("waiting", str(exc), active=snapshot.active, needs_grant=exc.grant_helps)
        except CaptureUnavailable as exc:
            return Tick("error", str(exc), active=snapshot.active,
                        needs_grant=isinstance(exc, GrantNeeded))
        gate = self._gate(snapshot, excluded)
        if gate is not None:
            return gate
        tick = Tick("recording", active=snapshot.active, windows=snapshot.windows,
                    excluded=excluded)
        try:
            monitors = self.grabber.monitors()
            if not monitors:
                return Tick("error", "no monitor found", active=snapshot.active)
            tick.monitors = len(monitors)
            for index, rect in enumerate(monitors, start=1):
                if self.only is not None and index not in self.only:
                    continue
                plan = plan_monitor(rect, snapshot, excluded)
                if plan.skip:
                    tick.private += 1
                    continue
                pixels = self.grabber.grab(rect)
                if plan.mask is not None:
                    if plan.mask.shape != pixels.shape:  # geometry changed under us: be safe
                        tick.private += 1
                        continue
                    paint_out(pixels, plan.mask)
                change = self.detector.compare(monitor_key(index, rect), pixels)
                if not change.changed:
                    tick.unchanged += 1
                    continue
                tick.shots.append(Shot(index, rect, pixels, change, plan.covered))
        except ScreenLocked as exc:  # the session ended under the lock screen meanwhile
            return Tick("locked", str(exc))
        except Waiting as exc:  # ended meanwhile: a monitor unplugged, or not told apart yet
            return Tick("waiting", str(exc), active=snapshot.active, needs_grant=exc.grant_helps)
        except CaptureUnavailable as exc:  # the grabber said why, and retries by itself
            return Tick("error", str(exc), active=snapshot.active,
                        needs_grant=isinstance(exc, GrantNeeded))
        except Exception as exc:  # mss raises its own errors; a vanished display raises many
            self.grabber.reset()
            log.warning("screen grab failed: %s", exc)
            return Tick("error", f"screen grab failed: {exc}", active=snapshot.active)
        if tick.shots and self._changed_meanwhile(snapshot, excluded):
            tick.shots.clear()
            tick.private += 1
            tick.state = "excluded"
            tick.reason = ("an excluded window appeared or moved while the screen was read: "
                           "nothing stored this tick")
            return tick
        if tick.private and not tick.shots and not tick.unchanged:
            tick.state, tick.reason = "excluded", "excluded windows cover the screen"
            unplaced = [excluded[w.id] for w in snapshot.windows
                        if w.id in excluded and not w.placed]
            if unplaced:
                tick.reason = (f"an excluded window is open ({unplaced[0]}) and this desktop "
                               "does not say where: nothing is stored while it shows")
        return tick

    def _changed_meanwhile(self, before: Snapshot, excluded: dict[int, str]) -> bool:
        """Whether the privacy plan no longer holds after the grab: an excluded window gained
        focus, appeared or moved (a grab is not instant: grim takes a while, and a stream's
        frame may be up to one frame period younger than the window list)."""
        try:
            after = with_url(self.windows.snapshot(), self.urls)
        except XError:
            return True  # cannot confirm: store nothing
        now = self.rules.excluded(after)
        if after.active is not None and after.active.id in now:
            return True
        if set(now) - set(excluded):
            return True
        where = {w.id: w.rect for w in before.windows}
        return any(w.id in now and where.get(w.id) != w.rect for w in after.windows)

    def _gate(self, snapshot: Snapshot, excluded: dict[int, str]) -> Tick | None:
        if snapshot.locked:
            return Tick("locked", "the screen is locked or blanked")
        if snapshot.idle_s is not None and snapshot.idle_s > self.idle_limit_s:
            return Tick("idle", f"no input for {snapshot.idle_s:.0f} s", active=snapshot.active)
        if snapshot.active is not None and snapshot.active.id in excluded:
            why = excluded[snapshot.active.id]
            return Tick("excluded", f"the focused window is excluded ({why})")
        return None
