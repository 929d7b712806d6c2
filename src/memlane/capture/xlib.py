"""A small ctypes binding to libX11 and libXss: just what window info, idle time and tests need.

There is no maintained pure-Python X11 package on our index, and mss already talks to libX11
through ctypes, so this module does the same for the calls the window-info provider makes:
reading EWMH/ICCCM properties, window attributes and coordinates, the focused window, and the
MIT-SCREEN-SAVER idle time and state. X protocol errors (a window closed between listing and
reading it) are caught by an error handler that records them instead of letting Xlib exit the
process, and surface as :class:`XError`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from ctypes import (
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_int,
    c_long,
    c_uint,
    c_ulong,
    c_void_p,
)
from functools import lru_cache
from typing import Any

Window = c_ulong
Atom = c_ulong
XA_CARDINAL = 6
XA_WINDOW = 33
ANY_PROPERTY_TYPE = 0
IS_VIEWABLE = 2


class XError(RuntimeError):
    """An X protocol error or a display that cannot be opened."""


class XErrorEvent(Structure):
    _fields_ = [
        ("type", c_int), ("display", c_void_p), ("resourceid", c_ulong),
        ("serial", c_ulong), ("error_code", ctypes.c_ubyte), ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]


class XWindowAttributes(Structure):
    _fields_ = [
        ("x", c_int), ("y", c_int), ("width", c_int), ("height", c_int),
        ("border_width", c_int), ("depth", c_int), ("visual", c_void_p), ("root", Window),
        ("c_class", c_int), ("bit_gravity", c_int), ("win_gravity", c_int),
        ("backing_store", c_int), ("backing_planes", c_ulong), ("backing_pixel", c_ulong),
        ("save_under", c_int), ("colormap", c_ulong), ("map_installed", c_int),
        ("map_state", c_int), ("all_event_masks", c_long), ("your_event_mask", c_long),
        ("do_not_propagate_mask", c_long), ("override_redirect", c_int), ("screen", c_void_p),
    ]


class XScreenSaverInfo(Structure):
    _fields_ = [
        ("window", Window), ("state", c_int), ("kind", c_int), ("til_or_since", c_ulong),
        ("idle", c_ulong), ("eventMask", c_ulong),
    ]


ERROR_HANDLER = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(XErrorEvent))
IO_ERROR_HANDLER = ctypes.CFUNCTYPE(c_int, c_void_p)
IO_EXIT_HANDLER = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
_errors = threading.local()
_lost: set[int] = set()  # displays whose connection broke (the server went away)


def _on_error(_display: int | None, event: Any) -> int:
    _errors.last = int(event.contents.error_code)
    return 0


def _on_io_error(display: int | None) -> int:
    _lost.add(int(display or 0))
    return 0


def _on_io_exit(display: int | None, _data: int | None) -> None:
    # Xlib's default here is exit(1): a display server that goes away would end the recorder.
    _lost.add(int(display or 0))


# kept referenced for the life of the process
_handler = ERROR_HANDLER(_on_error)
_io_handler = IO_ERROR_HANDLER(_on_io_error)
_io_exit = IO_EXIT_HANDLER(_on_io_exit)


@lru_cache(maxsize=1)
def libx11() -> ctypes.CDLL:
    name = ctypes.util.find_library("X11")
    if not name:
        raise XError("libX11 is not installed")
    lib = ctypes.CDLL(name)
    sig: dict[str, tuple[Any, list[Any]]] = {
        "XOpenDisplay": (c_void_p, [c_char_p]),
        "XCloseDisplay": (c_int, [c_void_p]),
        "XDefaultRootWindow": (Window, [c_void_p]),
        "XInternAtom": (Atom, [c_void_p, c_char_p, c_int]),
        "XGetWindowProperty": (c_int, [
            c_void_p, Window, Atom, c_long, c_long, c_int, Atom, POINTER(Atom), POINTER(c_int),
            POINTER(c_ulong), POINTER(c_ulong), POINTER(c_void_p)]),
        "XGetWindowAttributes": (c_int, [c_void_p, Window, POINTER(XWindowAttributes)]),
        "XTranslateCoordinates": (c_int, [
            c_void_p, Window, Window, c_int, c_int, POINTER(c_int), POINTER(c_int),
            POINTER(Window)]),
        "XQueryTree": (c_int, [
            c_void_p, Window, POINTER(Window), POINTER(Window), POINTER(POINTER(Window)),
            POINTER(c_uint)]),
        "XGetInputFocus": (c_int, [c_void_p, POINTER(Window), POINTER(c_int)]),
        "XFree": (c_int, [c_void_p]),
        "XSync": (c_int, [c_void_p, c_int]),
        "XSetErrorHandler": (c_void_p, [ERROR_HANDLER]),
        "XSetIOErrorHandler": (c_void_p, [IO_ERROR_HANDLER]),
    }
    for fn, (restype, argtypes) in sig.items():
        getattr(lib, fn).restype = restype
        getattr(lib, fn).argtypes = argtypes
    lib.XSetErrorHandler(_handler)
    lib.XSetIOErrorHandler(_io_handler)
    if hasattr(lib, "XSetIOErrorExitHandler"):  # libX11 >= 1.7
        lib.XSetIOErrorExitHandler.restype = None
        lib.XSetIOErrorExitHandler.argtypes = [c_void_p, IO_EXIT_HANDLER, c_void_p]
    return lib


@lru_cache(maxsize=1)
def libxss() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("Xss")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.XScreenSaverAllocInfo.restype = POINTER(XScreenSaverInfo)
    lib.XScreenSaverAllocInfo.argtypes = []
    lib.XScreenSaverQueryInfo.restype = c_int
    lib.XScreenSaverQueryInfo.argtypes = [c_void_p, Window, POINTER(XScreenSaverInfo)]
    lib.XScreenSaverQueryExtension.restype = c_int
    lib.XScreenSaverQueryExtension.argtypes = [c_void_p, POINTER(c_int), POINTER(c_int)]
    return lib


class Display:
    """One connection to an X server, with typed helpers for the properties Memlane reads."""

    def __init__(self, name: str | None = None) -> None:
        self.lib = libx11()
        self.ptr = self.lib.XOpenDisplay(name.encode() if name else None)
        if not self.ptr:
            raise XError(f"cannot open the X display {name or ''}".strip())
        _lost.discard(int(self.ptr))  # a new connection, even where an old one broke and was freed
        if hasattr(self.lib, "XSetIOErrorExitHandler"):
            self.lib.XSetIOErrorExitHandler(self.ptr, _io_exit, None)
        self.root = int(self.lib.XDefaultRootWindow(self.ptr))
        self._atoms: dict[str, int] = {}
        self._ss_info: Any = None

    @property
    def lost(self) -> bool:
        return bool(self.ptr) and int(self.ptr) in _lost

    def close(self) -> None:
        if self.ptr:
            if not self.lost:  # a broken connection is abandoned, not closed (that would block)
                self.lib.XCloseDisplay(self.ptr)
            self.ptr = None

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def atom(self, name: str) -> int:
        if name not in self._atoms:
            self._atoms[name] = int(self.lib.XInternAtom(self.ptr, name.encode(), 0))
        return self._atoms[name]

    def _begin(self) -> None:
        _errors.last = 0

    def _check(self, what: str) -> None:
        if self.lost:
            raise XError(f"the connection to the X display was lost while {what}")
        self.lib.XSync(self.ptr, 0)
        if self.lost:
            raise XError(f"the connection to the X display was lost while {what}")
        code = getattr(_errors, "last", 0)
        if code:
            _errors.last = 0
            raise XError(f"X error {code} in {what}")

    def property(self, window: int, name: str, kind: int = ANY_PROPERTY_TYPE) -> bytes | None:
        """A property's raw items (32-bit items as C longs), or ``None`` when it is not set."""
        actual_type, actual_format = Atom(), c_int()
        nitems, after, data = c_ulong(), c_ulong(), c_void_p()
        self._begin()
        status = self.lib.XGetWindowProperty(
            self.ptr, window, self.atom(name), 0, 1 << 16, 0, kind, byref(actual_type),
            byref(actual_format), byref(nitems), byref(after), byref(data),
        )
        self._check(f"reading {name}")
        if status != 0 or not data.value:
            return None
        try:
            if actual_type.value == 0:
                return None
            size = {8: 1, 16: ctypes.sizeof(ctypes.c_short), 32: ctypes.sizeof(c_long)}
            return ctypes.string_at(data.value, nitems.value * size.get(actual_format.value, 1))
        finally:
            self.lib.XFree(data)

    def cardinals(self, window: int, name: str) -> list[int]:
        raw = self.property(window, name)
        if not raw:
            return []
        count = len(raw) // ctypes.sizeof(c_ulong)
        return list((c_ulong * count).from_buffer_copy(raw))

    def text(self, window: int, name: str) -> str | None:
        raw = self.property(window, name)
        return None if raw is None else raw.decode("utf-8", "replace").rstrip("\0")

    def attributes(self, window: int) -> XWindowAttributes:
        attrs = XWindowAttributes()
        self._begin()
        ok = self.lib.XGetWindowAttributes(self.ptr, window, byref(attrs))
        self._check("reading window attributes")
        if not ok:
            raise XError("window vanished")
        return attrs

    def origin(self, window: int) -> tuple[int, int]:
        """The window's top-left corner in root (screen) coordinates."""
        x, y, child = c_int(), c_int(), Window()
        self._begin()
        self.lib.XTranslateCoordinates(
            self.ptr, window, self.root, 0, 0, byref(x), byref(y), byref(child)
        )
        self._check("translating coordinates")
        return x.value, y.value

    def children(self, window: int) -> list[int]:
        root, parent = Window(), Window()
        kids, n = POINTER(Window)(), c_uint()
        self._begin()
        ok = self.lib.XQueryTree(
            self.ptr, window, byref(root), byref(parent), byref(kids), byref(n)
        )
        self._check("listing windows")
        if not ok:
            return []
        try:
            return [int(kids[i]) for i in range(n.value)]
        finally:
            if kids:
                self.lib.XFree(kids)

    def focus(self) -> int:
        window, revert = Window(), c_int()
        self.lib.XGetInputFocus(self.ptr, byref(window), byref(revert))
        self._check("reading the input focus")
        return int(window.value)

    def screensaver(self) -> tuple[int, int] | None:
        """``(idle milliseconds, state)`` from MIT-SCREEN-SAVER; ``None`` without the extension."""
        lib = libxss()
        if lib is None:
            return None
        if self._ss_info is None:
            event, error = c_int(), c_int()
            if not lib.XScreenSaverQueryExtension(self.ptr, byref(event), byref(error)):
                self._ss_info = False
            else:
                self._ss_info = lib.XScreenSaverAllocInfo()
        if self._ss_info is False:
            return None
        ok = lib.XScreenSaverQueryInfo(self.ptr, self.root, self._ss_info)
        self._check("reading the idle time")
        if not ok:
            return None
        info = self._ss_info.contents
        return int(info.idle), int(info.state)
