"""The address of the focused browser tab, read from the accessibility bus (AT-SPI).

Firefox and the Chromium family expose each tab's page as a web document whose ``DocURL`` (or
``URI``) attribute is the address. :class:`BrowserUrls` finds the showing document of the focused
window of a known browser, on X11 and on Wayland alike, and returns its address; anything that
fails (no bus, no bindings, a browser that does not answer in time) is an empty address, never an
error and never a guess. :func:`with_url` puts the address on a snapshot's focused window, where
the privacy rules (``[privacy] exclude_urls``) and the stored frame pick it up.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from memlane.capture.windows import Snapshot, WindowInfo

log = logging.getLogger(__name__)

BROWSERS = frozenset({
    "firefox", "firefoxesr", "librewolf", "waterfox", "zen", "chromium", "chromiumbrowser",
    "googlechrome", "chrome", "brave", "bravebrowser", "vivaldi", "vivaldibin", "microsoftedge",
    "msedge", "opera", "epiphany", "orgmozillafirefox", "orggnomeepiphany",
})
DOC_ATTRIBUTES = ("DocURL", "URI", "URL")
MAX_NODES = 600


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def is_browser(window: WindowInfo) -> bool:
    return any(_norm(n) in BROWSERS for n in window.names())


class BrowserUrls:
    """Addresses of focused browser windows. One thread; each lookup is bounded."""

    def __init__(self, timeout_ms: int = 800) -> None:
        self.timeout_ms = timeout_ms
        self._atspi: Any = None
        self._broken = False

    def _bus(self) -> Any:
        if self._atspi is None and not self._broken:
            if not _session_bus():
                self._broken = True
                return None
            try:
                import gi

                gi.require_version("Atspi", "2.0")
                from gi.repository import Atspi

                from memlane.capture.wayland_windows import _enable_accessibility

                _enable_accessibility()
                Atspi.set_timeout(self.timeout_ms, self.timeout_ms)
                self._atspi = Atspi
            except (ImportError, ValueError) as exc:
                log.info("browser addresses unavailable: %s", exc)
                self._broken = True
        return self._atspi

    def url(self, window: WindowInfo) -> str:
        """The focused tab's address of ``window`` (a browser), or ``""``."""
        Atspi = self._bus()
        if Atspi is None or not is_browser(window):
            return ""
        started = time.monotonic()
        try:
            for app in _apps(Atspi, window.pid):
                for frame in _children(app):  # the window with this title, else the active one
                    if not ((frame.get_name() or "") == window.title
                            or frame.get_state_set().contains(Atspi.StateType.ACTIVE)):
                        continue
                    address = _document_url(Atspi, frame)
                    if address:
                        return address
        except Exception as exc:  # a bus or a browser that went away mid-walk
            log.debug("reading the browser address failed: %s", exc)
        finally:
            log.debug("browser address lookup took %.0f ms",
                      1000 * (time.monotonic() - started))
        return ""


def with_url(snapshot: Snapshot, urls: BrowserUrls) -> Snapshot:
    """``snapshot`` with the focused window's address set, when it is a browser's."""
    active = snapshot.active
    if active is None or not is_browser(active):
        return snapshot
    address = urls.url(active)
    if not address:
        return snapshot
    named = dataclasses.replace(active, url=address)
    windows = tuple(named if w.id == active.id else w for w in snapshot.windows)
    return dataclasses.replace(snapshot, windows=windows, active=named)


def _session_bus() -> bool:
    """Whether this session has a D-Bus session bus at all (the accessibility bus hangs off it)."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        path = address.split("path=", 1)[1].split(",", 1)[0] if "path=" in address else ""
        return not path or os.path.exists(path)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return bool(runtime) and os.path.exists(os.path.join(runtime, "bus"))


def _children(acc: Any) -> Iterator[Any]:
    for i in range(acc.get_child_count()):
        child = acc.get_child_at_index(i)
        if child is not None:
            yield child


def _apps(Atspi: Any, pid: int | None) -> Iterator[Any]:
    desktop = Atspi.get_desktop(0)
    for app in _children(desktop):
        if pid is None or int(app.get_process_id()) == pid:
            yield app


def _document_url(Atspi: Any, frame: Any) -> str:
    """The address of the showing web document inside ``frame`` (breadth first, bounded)."""
    queue, seen = [frame], 0
    while queue and seen < MAX_NODES:
        node = queue.pop(0)
        seen += 1
        role = node.get_role()
        if role in (Atspi.Role.DOCUMENT_WEB, Atspi.Role.DOCUMENT_FRAME):
            showing = node.get_state_set().contains(Atspi.StateType.SHOWING)
            if showing:
                for name in DOC_ATTRIBUTES:
                    try:
                        value = Atspi.Document.get_document_attribute_value(node, name)
                    except Exception:
                        value = None
                    if value and "://" in value and not value.startswith(("about:", "chrome:")):
                        return str(value)
            if role == Atspi.Role.DOCUMENT_WEB:
                continue  # a page's own insides hold no other tab
        queue.extend(_children(node))
    return ""
