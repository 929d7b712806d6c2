"""Window info: which windows are on screen, where, which app, which title, and which has focus.

:func:`display_server` tells X11 from Wayland (where mss cannot grab and Memlane must say so
instead of storing black frames). :class:`X11Windows` reads the EWMH lists a window manager
publishes (``_NET_CLIENT_LIST_STACKING``, ``_NET_ACTIVE_WINDOW``, ``_NET_WM_NAME``,
``_NET_WM_PID``, ``_NET_FRAME_EXTENTS``) plus ICCCM ``WM_CLASS`` and ``WM_TRANSIENT_FOR``; without
an EWMH window manager it falls back to the mapped top-level windows and the input focus. It
also reports the user's idle time and whether the screen saver (blank or lock) is on. The privacy
gates work on the :class:`Snapshot` it returns; nothing here decides what is excluded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Protocol

from memlane.capture.xlib import IS_VIEWABLE, Display, XError

SCREENSAVER_ON = 1


@dataclass(frozen=True)
class Rect:
    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def intersect(self, other: Rect) -> Rect | None:
        left, top = max(self.left, other.left), max(self.top, other.top)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)


@dataclass(frozen=True)
class WindowInfo:
    id: int
    title: str
    app: str  # WM_CLASS class name, else the process name
    instance: str = ""  # WM_CLASS instance name
    process: str = ""  # /proc/PID/comm
    pid: int | None = None
    rect: Rect = Rect(0, 0, 0, 0)  # outer rectangle including decorations, screen coordinates
    transient_for: int | None = None
    placed: bool = True  # False: the desktop does not say where it is (AT-SPI on Wayland)
    url: str = ""  # a browser's focused tab address (AT-SPI), for the focused window only

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.app, self.instance, self.process) if n)


@dataclass(frozen=True)
class Snapshot:
    windows: tuple[WindowInfo, ...]  # visible windows, bottom to top
    active: WindowInfo | None
    stacking_known: bool = True  # False: order unknown, treat every window as on top
    idle_s: float | None = None
    locked: bool = False
    taken: float = field(default_factory=time.time)


class WindowProvider(Protocol):
    def snapshot(self) -> Snapshot: ...

    def close(self) -> None: ...


def display_server(env: dict[str, str] | None = None) -> tuple[str, str]:
    """``("x11" | "wayland" | "none", explanation)`` for the current session."""
    env = dict(os.environ) if env is None else env
    session = env.get("XDG_SESSION_TYPE", "").lower()
    if session == "wayland" or (env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY")):
        return "wayland", f"Wayland display {env.get('WAYLAND_DISPLAY') or '(default)'}"
    if env.get("DISPLAY"):
        return "x11", f"X11 display {env['DISPLAY']}"
    return "none", "no graphical display (DISPLAY is not set)"


def _comm(pid: int | None) -> str:
    if not pid:
        return ""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


class LockProbe:
    """``loginctl``'s LockedHint for this session, read at most every ``every_s`` seconds."""

    def __init__(self, every_s: float = 15.0) -> None:
        self.every_s = every_s
        self.session = os.environ.get("XDG_SESSION_ID", "")
        self.tool = shutil.which("loginctl") if self.session else None
        self._checked = 0.0
        self._locked = False

    def locked(self) -> bool:
        if not self.tool:
            return False
        now = time.monotonic()
        if now - self._checked >= self.every_s:
            self._checked = now
            try:
                out = subprocess.run(
                    [self.tool, "show-session", self.session, "-p", "LockedHint", "--value"],
                    capture_output=True, text=True, timeout=2, check=False,
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                self.tool = None
                return False
            self._locked = out == "yes"
        return self._locked


class X11Windows:
    """Window info from an X11 server (re-connects when the display comes back)."""

    def __init__(self, display: str | None = None) -> None:
        self.name = display
        self._display: Display | None = None
        self.lock = LockProbe()

    def _connect(self) -> Display:
        if self._display is None:
            self._display = Display(self.name)
        return self._display

    def close(self) -> None:
        if self._display is not None:
            self._display.close()
            self._display = None

    def snapshot(self) -> Snapshot:
        try:
            return self._snapshot(self._connect())
        except XError:
            self.close()  # the server may have gone away: reconnect on the next call
            raise

    def _snapshot(self, d: Display) -> Snapshot:
        ewmh = d.property(d.root, "_NET_SUPPORTING_WM_CHECK") is not None
        stacking = d.cardinals(d.root, "_NET_CLIENT_LIST_STACKING") if ewmh else []
        clients = stacking or (d.cardinals(d.root, "_NET_CLIENT_LIST") if ewmh else [])
        if not clients:
            clients = [w for w in d.children(d.root)]
        windows: list[WindowInfo] = []
        for wid in clients:
            try:
                info = self._window(d, wid, managed=bool(ewmh and clients))
            except XError:
                if d.lost:
                    raise
                continue  # closed while we looked
            if info is not None:
                windows.append(info)
        active: WindowInfo | None = None
        if ewmh:
            ids = d.cardinals(d.root, "_NET_ACTIVE_WINDOW")
            active_id = ids[0] if ids else 0
        else:
            active_id = d.focus()
        by_id = {w.id: w for w in windows}
        active = by_id.get(active_id)
        if active is None and active_id > 1:
            active = self._owner(d, active_id, by_id)
        if d.lost:
            raise XError("the connection to the X display was lost")
        ss = d.screensaver()
        idle = ss[0] / 1000.0 if ss else None
        locked = bool(ss and ss[1] == SCREENSAVER_ON) or self.lock.locked()
        return Snapshot(tuple(windows), active, bool(stacking) or not ewmh, idle, locked)

    def _owner(self, d: Display, wid: int, by_id: dict[int, WindowInfo]) -> WindowInfo | None:
        """The listed top-level window that contains ``wid`` (focus often sits on a child)."""
        try:
            for top, info in by_id.items():
                if wid == top or wid in _descendants(d, top, depth=3):
                    return info
        except XError:
            return None
        return None

    def _window(self, d: Display, wid: int, *, managed: bool) -> WindowInfo | None:
        attrs = d.attributes(wid)
        if attrs.map_state != IS_VIEWABLE or attrs.width <= 1 or attrs.height <= 1:
            return None
        if not managed and attrs.override_redirect:
            return None
        title = d.text(wid, "_NET_WM_NAME")
        if title is None:
            raw = d.property(wid, "WM_NAME")
            title = raw.decode("latin-1").rstrip("\0") if raw else ""
        wm_class = d.property(wid, "WM_CLASS") or b""
        parts = [p.decode("utf-8", "replace") for p in wm_class.split(b"\0") if p]
        instance = parts[0] if parts else ""
        klass = parts[1] if len(parts) > 1 else instance
        pids = d.cardinals(wid, "_NET_WM_PID")
        pid = int(pids[0]) if pids else None
        transient = d.cardinals(wid, "WM_TRANSIENT_FOR")
        x, y = d.origin(wid)
        extents = d.cardinals(wid, "_NET_FRAME_EXTENTS")  # left, right, top, bottom
        el, er, et, eb = [*extents, 0, 0, 0, 0][:4] if extents else (0, 0, 0, 0)
        rect = Rect(x - el, y - et, attrs.width + el + er, attrs.height + et + eb)
        process = _comm(pid)
        return WindowInfo(
            wid, title, klass or process, instance, process, pid, rect,
            int(transient[0]) if transient else None,
        )


def _descendants(d: Display, wid: int, depth: int) -> set[int]:
    found: set[int] = set()
    frontier = [wid]
    for _ in range(depth):
        nxt: list[int] = []
        for w in frontier:
            kids = d.children(w)
            found.update(kids)
            nxt.extend(kids)
        frontier = nxt
    return found
