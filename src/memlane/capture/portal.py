"""The xdg-desktop-portal ScreenCast client: one session, its monitors' PipeWire nodes, a grant.

On Wayland a program may not read the screen; it asks the desktop's portal over the session bus
(``org.freedesktop.portal.ScreenCast``): CreateSession, SelectSources (monitors, several,
``persist_mode`` 2 so the desktop hands back a restore token, the saved token if there is one),
Start (where the desktop shows its permission dialog unless the token restores the grant), and
OpenPipeWireRemote (a file descriptor on which only the granted streams can be read). Each call
answers through a ``Request`` object's ``Response`` signal, awaited here on a private GLib main
context so the calling thread needs no main loop. :class:`ScreenCastPortal` owns that handshake;
what reads the streams is :mod:`memlane.capture.pipewire`. Nothing here stores the token: the
caller gets it in :class:`Grant` and keeps it where it keeps its other secrets.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENCAST = "org.freedesktop.portal.ScreenCast"
MONITOR = 1  # AvailableSourceTypes / types bit for monitors
PERSIST_UNTIL_REVOKED = 2
# where xdg-desktop-portal keeps the grants that persist: one entry per restore token
STORE = "org.freedesktop.impl.portal.PermissionStore"
STORE_PATH = "/org/freedesktop/impl/portal/PermissionStore"
SCREENCAST_TABLE = "screencast"
# who tells whether the screen shield (lock screen, idle curtain) is up: GNOME, else KDE & co.
SHIELDS = ("org.gnome.ScreenSaver", "org.freedesktop.ScreenSaver")
# GNOME's monitors as its compositor lays them out now (mutter)
DISPLAYS = "org.gnome.Mutter.DisplayConfig"
CURSOR_HIDDEN = 1
USER_CANCELLED, OTHER_ERROR = 1, 2


class PortalError(RuntimeError):
    """The portal cannot give a stream. ``kind``: missing | refused | dialog | failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Stream:
    node: int  # PipeWire node id
    position: tuple[int, int] | None  # in the compositor's logical layout, when it tells
    size: tuple[int, int] | None


@dataclass
class Grant:
    """A started ScreenCast session: its streams, the PipeWire remote's fd, the restore token."""

    session: str
    fd: int
    streams: list[Stream]
    restore_token: str | None
    owner: str  # the portal's unique bus name when the session started
    closed: bool = field(default=False)
    closed_at: float | None = None  # time.monotonic() when the desktop closed it
    watch: Any = None  # the subscription that notices the desktop closing it


def _gi() -> tuple[Any, Any]:
    try:
        import gi  # noqa: F401 - imported for its side effect of setting up the bindings
        from gi.repository import Gio, GLib
    except ImportError as exc:
        raise PortalError("missing", "PyGObject (gi) is not installed, so Memlane cannot talk to "
                          f"the desktop portal: {exc}") from None
    return Gio, GLib


class _Signals:
    """The desktop's signals that a recording cares about, noted as they arrive: each session's
    ``Closed``, the screen shield going up and GNOME's monitors changing. A daemon thread owns
    their GLib main context, so a signal gets its time when it comes, also between ticks and
    while recording is paused."""

    def __init__(self, bus: Any) -> None:
        _, GLib = _gi()
        self.bus = bus
        self.context = GLib.MainContext.new()
        self.shield_ups: deque[float] = deque(maxlen=64)  # time.monotonic() of each
        self.monitor_changes: deque[float] = deque(maxlen=64)  # GNOME's, likewise
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="portal-signals", daemon=True)
        self._thread.start()
        for name in SHIELDS:
            self.subscribe(name, name, "ActiveChanged", "/" + name.replace(".", "/"),
                           self._shield)
        self.subscribe(DISPLAYS, DISPLAYS, "MonitorsChanged", "/org/gnome/Mutter/DisplayConfig",
                       lambda *_: self.monitor_changes.append(time.monotonic()))

    def _run(self) -> None:
        self.context.push_thread_default()  # what this thread subscribes is dispatched here
        while not self._stop:
            self.context.iteration(True)

    def _shield(self, *args: Any) -> None:
        if args[-1].unpack()[0]:
            self.shield_ups.append(time.monotonic())

    def subscribe(self, sender: str, interface: str, member: str, path: str,
                  callback: Callable[..., None]) -> int:
        """Subscribe from the signal thread (a subscription dispatches on the context that is
        the subscribing thread's default); the subscription's id."""
        Gio, GLib = _gi()
        done = threading.Event()
        result: list[int] = []

        def run(*_: Any) -> bool:
            try:
                result.append(self.bus.signal_subscribe(
                    sender, interface, member, path, None, Gio.DBusSignalFlags.NONE, callback))
            finally:
                done.set()
            return False

        self.context.invoke_full(GLib.PRIORITY_DEFAULT, run)
        if not done.wait(5.0) or not result:
            raise PortalError("failed", f"cannot watch {member} on the session bus")
        return result[0]

    def stop(self) -> None:
        self._stop = True
        self.context.wakeup()


class ScreenCastPortal:
    """One connection to the session bus and the ScreenCast handshake over it. One thread."""

    _tokens = itertools.count(1)

    def __init__(self, call_timeout_s: float = 10.0) -> None:
        self.call_timeout_s = call_timeout_s
        self._bus: Any = None
        self._signals: _Signals | None = None

    def _connect(self) -> Any:
        if self._bus is None or self._bus.is_closed():
            Gio, _ = _gi()
            try:
                self._bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
            except Exception as exc:  # GLib.Error: no session bus
                raise PortalError("missing", f"no D-Bus session bus: {_message(exc)}") from None
        return self._bus

    def owner(self) -> str | None:
        """The portal's unique bus name now, ``None`` when no portal runs."""
        _, GLib = _gi()
        try:
            reply = self._connect().call_sync(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "GetNameOwner", GLib.Variant("(s)", (PORTAL,)), None, 0, 2000, None)
        except PortalError:
            return None
        except Exception:  # NameHasNoOwner (and activation is not attempted here)
            return None
        return str(reply.unpack()[0])

    def available(self) -> bool:
        """Whether a ScreenCast portal that can share monitors answers on this session bus."""
        _, GLib = _gi()
        try:
            reply = self._connect().call_sync(
                PORTAL, PORTAL_PATH, "org.freedesktop.DBus.Properties", "Get",
                GLib.Variant("(ss)", (SCREENCAST, "AvailableSourceTypes")), None, 0, 5000, None)
        except PortalError:
            return False
        except Exception as exc:
            log.info("no ScreenCast portal: %s", _message(exc))
            return False
        return bool(int(reply.unpack()[0]) & MONITOR)

    def kept(self, restore_token: str) -> bool | None:
        """Whether the desktop still keeps the grant that ``restore_token`` restores.

        xdg-desktop-portal keeps each persistent ScreenCast grant in its permission store (the
        ``screencast`` table, the token as the entry's id) and removes it when the grant is
        revoked (``flatpak permission-remove screencast TOKEN``, a desktop's privacy settings).
        A token without its entry brings up the permission dialog, so the recorder asks here
        first. ``None`` when the store cannot tell (not running, or another portal).
        """
        try:
            self._store("Lookup", restore_token)
        except PortalError:
            return None
        except Exception as exc:
            if "portal.Error.NotFound" in str(getattr(exc, "message", exc)):
                return False  # no such entry (or no screencast grant was ever kept)
            log.info("cannot ask the permission store about the screen-cast grant: %s",
                     _message(exc))
            return None
        return True

    def granted_monitors(self, restore_token: str) -> list[str] | None:
        """The monitors that ``restore_token``'s grant restores, named ``vendor:product:serial``,
        where the desktop's record of the grant says (GNOME's back end keeps them with it and
        restores the grant only while every one of them is connected); ``None`` where it does
        not say, or the grant is not kept."""
        try:
            reply = self._store("Lookup", restore_token)
        except Exception:  # no store, or no such grant
            return None
        return _gnome_monitors(reply.unpack()[1])

    def monitors_connected(self) -> set[str] | None:
        """The monitors in use now (connected and lit), named as in :meth:`granted_monitors`,
        from GNOME's display configuration; ``None`` where nobody answers for it."""
        Gio, _ = _gi()
        try:
            reply = self._connect().call_sync(
                DISPLAYS, "/org/gnome/Mutter/DisplayConfig", DISPLAYS, "GetCurrentState", None,
                None, Gio.DBusCallFlags.NO_AUTO_START, 2000, None)
            logical = reply.unpack()[2]
            return {f"{vendor}:{product}:{serial}"
                    for lm in logical for _connector, vendor, product, serial in lm[5]}
        except Exception as exc:  # not GNOME, or mutter is restarting
            log.debug("cannot read the desktop's monitors: %s", _message(exc))
            return None

    def shield_up(self) -> bool | None:
        """Whether the desktop's screen shield is up: the lock screen, or the curtain of an idle
        session. GNOME ends every screen cast when it goes up and refuses new ones until it is
        down. GNOME's ``org.gnome.ScreenSaver``, else the freedesktop one (KDE); ``None`` when
        neither answers (nothing is started to ask)."""
        Gio, GLib = _gi()
        for name in SHIELDS:
            try:
                reply = self._connect().call_sync(
                    name, "/" + name.replace(".", "/"), name, "GetActive", None,
                    GLib.VariantType("(b)"), Gio.DBusCallFlags.NO_AUTO_START, 1000, None)
            except PortalError:
                return None
            except Exception:  # not on this desktop
                continue
            return bool(reply.unpack()[0])
        return None

    def start(self, restore_token: str | None, *, dialog_s: float) -> Grant:
        """Start a session on every monitor the desktop grants.

        ``dialog_s`` is how long Start may wait for the person to answer a permission dialog;
        a caller that must never leave one on screen (the recorder) passes a few seconds, and
        the session is closed (taking the dialog with it) when no answer comes.
        """
        _, GLib = _gi()
        owner = self.owner()
        if owner is None:
            raise PortalError("missing", "no xdg-desktop-portal is running on this session bus")
        tag = f"memlane{os.getpid()}_{next(self._tokens)}"
        reply = self._request("CreateSession", [{"session_handle_token": GLib.Variant("s", tag)}],
                              self.call_timeout_s)
        session = str(reply.get("session_handle", ""))
        if not session:
            raise PortalError("failed", "the portal created no session")
        try:
            options: dict[str, Any] = {
                "types": GLib.Variant("u", MONITOR), "multiple": GLib.Variant("b", True),
                "persist_mode": GLib.Variant("u", PERSIST_UNTIL_REVOKED),
                "cursor_mode": GLib.Variant("u", CURSOR_HIDDEN),
            }
            if restore_token:
                options["restore_token"] = GLib.Variant("s", restore_token)
            self._request("SelectSources", [GLib.Variant("o", session), options],
                          self.call_timeout_s)
            started = self._request("Start", [GLib.Variant("o", session), GLib.Variant("s", ""),
                                              {}], dialog_s, timeout_kind="dialog")
            streams = [_stream(node, props) for node, props in started.get("streams", [])]
            if not streams:
                raise PortalError("refused", "the desktop granted no monitor")
            fd = self._remote(session)
        except BaseException:
            self.close_session(session)
            raise
        token = started.get("restore_token")
        grant = Grant(session, fd, streams, str(token) if token else None, owner)
        self._watch(grant)
        return grant

    def _watch(self, grant: Grant) -> None:
        """Note the desktop closing the session: the person's stop, a screen lock, a revoked
        grant or a monitor gone (a compositor that dies sends nothing, see ``wayland``)."""
        if self._signals is None:
            self._signals = _Signals(self._connect())

        def closed(*_: Any) -> None:
            grant.closed_at = time.monotonic()
            grant.closed = True

        grant.watch = self._signals.subscribe(PORTAL, "org.freedesktop.portal.Session", "Closed",
                                              grant.session, closed)

    def shield_seen(self, start: float, end: float) -> bool:
        """Whether the screen shield went up between ``start`` and ``end`` (``time.monotonic``),
        as far as the signals since the first session tell."""
        return self._signals is not None and any(
            start <= t <= end for t in list(self._signals.shield_ups))

    def monitors_changed(self, start: float, end: float) -> bool:
        """Whether GNOME's monitors changed (one plugged, unplugged or set up anew) between
        ``start`` and ``end`` (``time.monotonic``), as far as the signals since the first
        session tell."""
        return self._signals is not None and any(
            start <= t <= end for t in list(self._signals.monitor_changes))

    def alive(self, grant: Grant) -> bool:
        """Whether ``grant``'s session still stands: not closed by the desktop, and the portal
        that started it still runs (a restarted one lost it)."""
        return not grant.closed and self.owner() == grant.owner

    def close(self, grant: Grant) -> None:
        if grant.watch is not None:
            with contextlib.suppress(Exception):
                self._connect().signal_unsubscribe(grant.watch)
            grant.watch = None
        if not grant.closed:
            grant.closed = True
            self.close_session(grant.session)
        if grant.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(grant.fd)
            grant.fd = -1

    def close_session(self, session: str) -> None:
        try:
            self._connect().call_sync(PORTAL, session, "org.freedesktop.portal.Session", "Close",
                                      None, None, 0, 2000, None)
        except Exception as exc:  # the portal or the session is already gone
            log.debug("closing the portal session: %s", _message(exc))

    def forget(self, restore_token: str) -> None:
        """Delete the desktop's record of a grant Memlane gave up. The portal writes the grant
        back to its store whenever a session closes, Memlane's own Close too, so a grant the
        person revoked or stopped would otherwise come back."""
        try:
            self._store("Delete", restore_token)
        except Exception as exc:  # already gone, or no store
            log.debug("forgetting the screen-cast grant: %s", _message(exc))

    def _store(self, method: str, restore_token: str) -> Any:
        """Call the permission store's ``method`` on the screen-cast grant ``restore_token``;
        its reply."""
        Gio, GLib = _gi()
        return self._connect().call_sync(
            STORE, STORE_PATH, STORE, method,
            GLib.Variant("(ss)", (SCREENCAST_TABLE, restore_token)), None,
            Gio.DBusCallFlags.NONE, 2000, None)

    def shutdown(self) -> None:
        if self._signals is not None:
            self._signals.stop()
            self._signals = None
        self._bus = None

    def _remote(self, session: str) -> int:
        Gio, GLib = _gi()
        try:
            reply, fds = self._connect().call_with_unix_fd_list_sync(
                PORTAL, PORTAL_PATH, SCREENCAST, "OpenPipeWireRemote",
                GLib.Variant("(oa{sv})", (session, {})), GLib.VariantType("(h)"),
                Gio.DBusCallFlags.NONE, int(self.call_timeout_s * 1000), None, None)
        except Exception as exc:
            raise PortalError("failed", f"OpenPipeWireRemote: {_message(exc)}") from None
        return int(fds.get(reply.unpack()[0]))

    def _request(self, method: str, args: list[Any], wait_s: float,
                 timeout_kind: str = "failed") -> dict[str, Any]:
        """Call ``method`` and wait for its Request's Response; the results, or PortalError."""
        Gio, GLib = _gi()
        bus = self._connect()
        token = f"memlane{os.getpid()}_{next(self._tokens)}"
        sender = str(bus.get_unique_name())[1:].replace(".", "_")
        path = f"{PORTAL_PATH}/request/{sender}/{token}"
        options = args[-1]
        options["handle_token"] = GLib.Variant("s", token)
        built = [a if isinstance(a, GLib.Variant) else GLib.Variant("a{sv}", a) for a in args]
        answer: dict[str, Any] = {}
        context = GLib.MainContext.new()
        context.push_thread_default()
        try:
            def on_response(_c: Any, _s: Any, _p: Any, _i: Any, _n: Any, params: Any) -> None:
                code, results = params.unpack()
                answer["code"], answer["results"] = int(code), dict(results)

            sub = bus.signal_subscribe(PORTAL, "org.freedesktop.portal.Request", "Response", path,
                                       None, Gio.DBusSignalFlags.NO_MATCH_RULE, on_response)
            try:
                try:
                    bus.call_sync(PORTAL, PORTAL_PATH, SCREENCAST, method,
                                  GLib.Variant.new_tuple(*built), None, Gio.DBusCallFlags.NONE,
                                  int(self.call_timeout_s * 1000), None)
                except Exception as exc:
                    raise PortalError("failed", f"{method}: {_message(exc)}") from None
                expired: list[bool] = []

                def expire(*_: Any) -> bool:
                    expired.append(True)
                    return False

                timer = GLib.timeout_source_new(max(1, int(wait_s * 1000)))
                timer.set_callback(expire)
                timer.attach(context)
                while "code" not in answer and not expired:
                    context.iteration(True)
                timer.destroy()
            finally:
                bus.signal_unsubscribe(sub)
        finally:
            context.pop_thread_default()
        if "code" not in answer:
            with contextlib.suppress(Exception):  # already answered or gone
                bus.call_sync(PORTAL, path, "org.freedesktop.portal.Request", "Close", None, None,
                              0, 2000, None)
            raise PortalError(timeout_kind, f"{method}: no answer within {wait_s:.0f} s")
        if answer["code"] == USER_CANCELLED:
            raise PortalError("refused", f"{method}: the permission was refused")
        if answer["code"] != 0:
            raise PortalError("failed", f"{method}: the portal answered with an error")
        results: dict[str, Any] = answer["results"]
        return results


def _stream(node: int, props: dict[str, Any]) -> Stream:
    pos, size = props.get("position"), props.get("size")
    return Stream(int(node),
                  (int(pos[0]), int(pos[1])) if pos else None,
                  (int(size[0]), int(size[1])) if size else None)


def _gnome_monitors(data: Any) -> list[str] | None:
    """The monitors in xdg-desktop-portal-gnome's record of a screen-cast grant:
    ``("GNOME", 1, (created, last used, [(stream id, source type, "vendor:product:serial")]))``
    (unpacked); ``None`` for any other back end's record, or a shape this does not know."""
    try:
        name, _version, body = data
        if name != "GNOME":
            return None
        sources = body[-1] if isinstance(body, tuple) else body
        return [str(match) for _id, kind, match in sources
                if kind == MONITOR and isinstance(match, str)]
    except (TypeError, ValueError):
        return None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return str(text).split("GDBus.Error:", 1)[-1]
