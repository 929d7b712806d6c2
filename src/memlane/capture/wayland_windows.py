"""Window info on Wayland, where a program cannot list other programs' windows by itself.

Three sources, best first. :class:`SwayWindows` asks a sway (or i3-compatible) compositor over
its IPC socket (``SWAYSOCK``): every visible window with its rectangle, app id, title, pid and
focus, so excluded windows can be painted out exactly as on X11. :class:`AtspiWindows` asks the
accessibility bus (AT-SPI), which GTK, Qt, Firefox and Chromium answer on GNOME and KDE: the
application, each window's title and which one is active, but not where a window is
(:attr:`WindowInfo.placed` is False), so the privacy gates treat an excluded window as covering
every monitor. :class:`UnknownWindows` is what is left: no window is known, and frames say so.
GNOME's idle time comes from mutter's IdleMonitor; the lock state from logind, as on X11.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from memlane.capture.wayland import COMPOSITOR_GONE, compositor
from memlane.capture.windows import LockProbe, Rect, Snapshot, WindowInfo, _comm

log = logging.getLogger(__name__)

IPC_MAGIC = b"i3-ipc"
GET_TREE, GET_OUTPUTS = 4, 3


class SwayIpc:
    """A short-lived connection per request to sway's IPC socket. A sway that restarted listens
    on a new socket (its name carries the new pid) while ``SWAYSOCK`` still names the old one:
    when the known socket does not answer, the one of whoever now serves the Wayland display
    is used instead."""

    def __init__(self, path: str | None = None, timeout_s: float = 2.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        self.path = path or self.env.get("SWAYSOCK", "")
        self.timeout_s = timeout_s

    def request(self, kind: int, payload: bytes = b"") -> Any:
        try:
            return self._ask(self.path, kind, payload)
        except OSError:
            moved = self._find()
            if moved is None or moved == self.path:
                if compositor(self.env) is None:
                    raise CompositorGone(COMPOSITOR_GONE) from None
                raise
        log.info("sway's IPC socket is now %s (the compositor restarted)", moved)
        self.path = moved
        return self._ask(moved, kind, payload)

    def _ask(self, path: str, kind: int, payload: bytes) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout_s)
            sock.connect(path)
            sock.sendall(IPC_MAGIC + struct.pack("=II", len(payload), kind) + payload)
            header = _read(sock, len(IPC_MAGIC) + 8)
            size, _ = struct.unpack("=II", header[len(IPC_MAGIC):])
            return json.loads(_read(sock, size))

    def _find(self) -> str | None:
        """The IPC socket of the sway serving this display: ``sway-ipc.<uid>.<pid>.sock`` in
        the folder of the old one, the runtime folder or ``/tmp`` (where sway puts it)."""
        holder = compositor(self.env)
        if holder is None:
            return None
        folders = [Path(self.path).parent] if self.path else []
        folders += [Path(self.env.get("XDG_RUNTIME_DIR") or "/nonexistent"), Path("/tmp")]
        for folder in folders:
            for found in sorted(folder.glob(f"sway-ipc.*.{holder[0]}.sock")):
                return str(found)
        return None

    def outputs(self) -> list[tuple[str, Rect]]:
        return [(str(o["name"]), _rect(o["rect"])) for o in self.request(GET_OUTPUTS)
                if o.get("active")]


def _read(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise OSError("the compositor closed its IPC socket")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _rect(r: dict[str, Any]) -> Rect:
    return Rect(int(r["x"]), int(r["y"]), int(r["width"]), int(r["height"]))


class CompositorGone(OSError):
    """Nobody serves the Wayland display any more."""


class SwayWindows:
    """Windows from sway's tree: tiled ones below floating ones, each with its rectangle."""

    def __init__(self, ipc: SwayIpc | None = None) -> None:
        self.ipc = ipc or SwayIpc()
        self.lock = LockProbe()

    def snapshot(self) -> Snapshot:
        try:
            tree = self.ipc.request(GET_TREE)
        except CompositorGone:
            from memlane.capture.xlib import XError

            raise XError(COMPOSITOR_GONE) from None
        except (OSError, ValueError) as exc:
            from memlane.capture.xlib import XError

            raise XError(f"cannot ask the compositor (sway IPC): {exc}") from None
        tiled: list[WindowInfo] = []
        floating: list[WindowInfo] = []
        active: WindowInfo | None = None
        for node, is_floating in _views(tree):
            if not node.get("visible", True):
                continue
            props = node.get("window_properties") or {}
            pid = node.get("pid")
            info = WindowInfo(
                int(node["id"]), str(node.get("name") or ""),
                str(node.get("app_id") or props.get("class") or _comm(pid)),
                str(props.get("instance") or ""), _comm(pid), pid, _rect(node["rect"]),
            )
            (floating if is_floating else tiled).append(info)
            if node.get("focused"):
                active = info
        return Snapshot(tuple(tiled + floating), active, True, None, self.lock.locked())

    def close(self) -> None:
        pass


def _views(node: dict[str, Any], floating: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    if node.get("type") in ("con", "floating_con") and node.get("pid"):
        yield node, floating
    for child in node.get("nodes", []):
        yield from _views(child, floating)
    for child in node.get("floating_nodes", []):
        yield from _views(child, True)


class AtspiWindows:
    """Windows from the accessibility bus: app and title known, position not (Wayland)."""

    def __init__(self) -> None:
        import gi

        gi.require_version("Atspi", "2.0")
        from gi.repository import Atspi

        self._atspi: Any = Atspi
        self.lock = LockProbe()
        self.idle = MutterIdle()
        _enable_accessibility()

    def snapshot(self) -> Snapshot:
        Atspi = self._atspi
        windows: list[WindowInfo] = []
        active: WindowInfo | None = None
        try:
            desktop = Atspi.get_desktop(0)
            for a in range(desktop.get_child_count()):
                app = desktop.get_child_at_index(a)
                if app is None:
                    continue
                try:
                    frames = list(self._frames(app))
                except Exception as exc:
                    if not _gone(exc):
                        raise
                    # listed, but its process has left the bus: it shows no window (the same
                    # as an app that never spoke AT-SPI); one such entry stopped every tick
                    log.debug("skipping an application that left the accessibility bus")
                    continue
                for info, is_active in frames:
                    windows.append(info)
                    if is_active:
                        active = info
        except Exception as exc:  # GLib.Error from a bus that went away
            from memlane.capture.xlib import XError

            raise XError(f"cannot read windows from the accessibility bus: {exc}") from None
        return Snapshot(tuple(windows), active, False, self.idle.idle_s(), self.lock.locked())

    def _frames(self, app: Any) -> Iterator[tuple[WindowInfo, bool]]:
        Atspi = self._atspi
        name = str(app.get_name() or "")
        try:
            pid = int(app.get_process_id())
        except Exception:
            pid = 0
        for i in range(app.get_child_count()):
            win = app.get_child_at_index(i)  # an application's children are its windows
            if win is None:
                continue
            states = win.get_state_set()
            if not (states.contains(Atspi.StateType.SHOWING)
                    or states.contains(Atspi.StateType.VISIBLE)):
                continue
            title = str(win.get_name() or "")
            wid = hash((pid, i, title)) & 0x7FFFFFFF
            yield (WindowInfo(wid, title, name or _comm(pid), "", _comm(pid), pid or None,
                              placed=False),
                   states.contains(Atspi.StateType.ACTIVE))

    def close(self) -> None:
        pass


def _gone(exc: BaseException) -> bool:
    """Whether an AT-SPI error says the application asked is no longer there
    (``ATSPI_ERROR_APPLICATION_GONE``)."""
    return getattr(exc, "domain", None) == "atspi_error" and getattr(exc, "code", None) == 0


class UnknownWindows:
    """No source of window info: every frame's app and title are unknown, never guessed."""

    def __init__(self) -> None:
        self.lock = LockProbe()

    def snapshot(self) -> Snapshot:
        return Snapshot((), None, False, None, self.lock.locked())

    def close(self) -> None:
        pass


class MutterIdle:
    """Idle time from GNOME's ``org.gnome.Mutter.IdleMonitor``; ``None`` elsewhere."""

    def __init__(self) -> None:
        self._bus: Any = None
        self.works = True

    def idle_s(self) -> float | None:
        if not self.works:
            return None
        try:
            from gi.repository import Gio

            if self._bus is None:
                self._bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
            reply = self._bus.call_sync(
                "org.gnome.Mutter.IdleMonitor", "/org/gnome/Mutter/IdleMonitor/Core",
                "org.gnome.Mutter.IdleMonitor", "GetIdletime", None, None, 0, 1000, None)
        except Exception:
            self.works = False  # not GNOME: idle is unknown, not zero
            return None
        return float(reply.unpack()[0]) / 1000.0


def _enable_accessibility() -> None:
    """Turn on the desktop's accessibility switch (``org.a11y.Status.IsEnabled``), which Qt,
    Firefox and Chromium wait for before they tell their window titles to anyone."""
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        bus.call_sync("org.a11y.Bus", "/org/a11y/bus", "org.freedesktop.DBus.Properties", "Set",
                      GLib.Variant("(ssv)", ("org.a11y.Status", "IsEnabled",
                                             GLib.Variant("b", True))),
                      None, 0, 2000, None)
    except Exception as exc:
        log.info("could not turn on the accessibility bus: %s", exc)
