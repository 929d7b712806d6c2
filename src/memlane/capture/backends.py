"""Which grabber and which window source record this session: X11, or one of Wayland's.

:func:`choose_backend` looks at the session (``XDG_SESSION_TYPE``, ``WAYLAND_DISPLAY``,
``DISPLAY``, ``SWAYSOCK``) and what answers on it: on X11, mss and the EWMH window lists; on
Wayland, the ScreenCast portal with PipeWire when a portal can share monitors, else
wlr-screencopy (``grim``) on a wlroots compositor, logged as the fallback it is; window info from
sway's IPC, else the accessibility bus, else none. The :class:`Backend` it returns names each
choice, so ``status``, the status bar and the tray can say what is in use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from memlane.capture.windows import Rect, WindowProvider, X11Windows, display_server

log = logging.getLogger(__name__)


class Grabber(Protocol):
    name: str

    def monitors(self) -> list[Rect]: ...

    def grab(self, rect: Rect) -> np.ndarray: ...

    def prepare(self) -> None:
        """Get ready to grab (open a session); raise CaptureUnavailable when it cannot."""

    def reset(self) -> None: ...


@dataclass
class Backend:
    server: str  # x11 | wayland | none
    grabber: Grabber | None  # None: nothing can record this session (``note`` says why)
    windows: WindowProvider | None
    windows_name: str  # x11 | sway | at-spi | unknown
    note: str

    @property
    def name(self) -> str:
        return self.grabber.name if self.grabber is not None else "none"


def choose_backend(env: dict[str, str] | None = None, tokens: object = None) -> Backend:
    """The best way to record this session; ``tokens`` keeps the portal's restore token."""
    from memlane.capture.recorder import MssGrabber

    env = dict(os.environ) if env is None else env
    server, note = display_server(env)
    if server == "x11":
        return Backend(server, MssGrabber(), X11Windows(), "x11", note)
    if server != "wayland":
        return Backend(server, None, None, "unknown", note)
    windows, windows_name = _wayland_windows(env)
    from memlane.capture.portal import ScreenCastPortal
    from memlane.capture.wayland import GrimGrabber, PortalGrabber, TokenSlot

    portal = ScreenCastPortal()
    if _has_gi() and portal.available():
        assert tokens is not None, "the portal needs somewhere to keep its restore token"
        slot: TokenSlot = tokens  # type: ignore[assignment]
        return Backend(server, PortalGrabber(slot, portal=portal), windows, windows_name,
                       f"{note}, ScreenCast portal and PipeWire")
    if shutil.which("grim") and (env.get("SWAYSOCK") or _wlroots(env)):
        log.warning("no ScreenCast portal answers on this session: capturing with grim "
                    "(wlr-screencopy) instead")
        from memlane.capture.wayland_windows import SwayWindows

        outputs = windows.ipc.outputs if isinstance(windows, SwayWindows) else None
        return Backend(server, GrimGrabber(outputs), windows, windows_name,
                       f"{note}, wlr-screencopy (grim): no ScreenCast portal answered")
    return Backend(server, None, windows, windows_name, (
        f"{note}: no ScreenCast portal answers on the session bus and this is not a wlroots "
        "compositor with grim; install xdg-desktop-portal with your desktop's back end "
        "(xdg-desktop-portal-gnome, -kde or -wlr) and PipeWire"))


def _wayland_windows(env: dict[str, str]) -> tuple[WindowProvider, str]:
    from memlane.capture.wayland_windows import AtspiWindows, SwayIpc, SwayWindows, UnknownWindows

    if env.get("SWAYSOCK") and os.path.exists(env["SWAYSOCK"]):
        return SwayWindows(SwayIpc(env["SWAYSOCK"], env=env)), "sway"
    if _has_gi():
        try:
            return AtspiWindows(), "at-spi"
        except (ImportError, ValueError) as exc:
            log.info("no accessibility bus bindings: %s", exc)
    log.warning("nothing on this desktop tells which window is which: frames are stored "
                "without app and title, and exclusion rules by app or title cannot apply")
    return UnknownWindows(), "unknown"


def _has_gi() -> bool:
    return importlib.util.find_spec("gi") is not None


def _wlroots(env: dict[str, str]) -> bool:
    desktop = env.get("XDG_CURRENT_DESKTOP", "").lower()
    return any(name in desktop for name in ("sway", "wlroots", "hyprland", "river", "wayfire",
                                            "labwc"))
