"""A real X11 window for tests: given title, WM_CLASS, geometry and text lines, shown until killed.

Run as a subprocess on the test's Xvfb display:
``python tests/xwindow.py --title T --app CLASS --geometry WxH+X+Y --line "text" ...``.
It draws the text with Pillow and installs it as the window's background pixmap, so the X server
repaints it without an event loop. Commands on stdin change it while it runs: ``title NEW``,
``lines A|B|C``, ``scene N`` (a video-like picture), ``focus``. It prints ``ready <window id>`` once the window is mapped.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import sys
from ctypes import c_char_p, c_int, c_uint, c_ulong, c_void_p

from PIL import Image, ImageDraw, ImageFont

from memlane.capture.xlib import Display, libx11

ZPIXMAP = 2
PROP_MODE_REPLACE = 0


def _bind(lib: ctypes.CDLL) -> None:
    sig = {
        "XCreateSimpleWindow": (c_ulong, [c_void_p, c_ulong, c_int, c_int, c_uint, c_uint, c_uint, c_ulong, c_ulong]),
        "XMapRaised": (c_int, [c_void_p, c_ulong]),
        "XFlush": (c_int, [c_void_p]),
        "XChangeProperty": (c_int, [c_void_p, c_ulong, c_ulong, c_ulong, c_int, c_int, c_char_p, c_int]),
        "XDefaultScreen": (c_int, [c_void_p]),
        "XDefaultVisual": (c_void_p, [c_void_p, c_int]),
        "XDefaultDepth": (c_int, [c_void_p, c_int]),
        "XDefaultGC": (c_void_p, [c_void_p, c_int]),
        "XCreatePixmap": (c_ulong, [c_void_p, c_ulong, c_uint, c_uint, c_uint]),
        "XCreateImage": (c_void_p, [c_void_p, c_void_p, c_uint, c_int, c_int, c_char_p, c_uint, c_uint, c_int, c_int]),
        "XPutImage": (c_int, [c_void_p, c_ulong, c_void_p, c_void_p, c_int, c_int, c_int, c_int, c_uint, c_uint]),
        "XSetWindowBackgroundPixmap": (c_int, [c_void_p, c_ulong, c_ulong]),
        "XClearWindow": (c_int, [c_void_p, c_ulong]),
        "XFreePixmap": (c_int, [c_void_p, c_ulong]),
        "XSetInputFocus": (c_int, [c_void_p, c_ulong, c_int, c_ulong]),
    }
    for fn, (restype, argtypes) in sig.items():
        getattr(lib, fn).restype = restype
        getattr(lib, fn).argtypes = argtypes


class TestWindow:
    def __init__(self, title: str, app: str, geometry: str, lines: list[str], font_size: int) -> None:
        self.lib = libx11()
        _bind(self.lib)
        self.d = Display()
        size, _, pos = geometry.partition("+")
        self.w, self.h = (int(v) for v in size.split("x"))
        x, y = (int(v) for v in (pos.split("+") if pos else ("0", "0")))
        self.font_size = font_size
        self.buffers: list[ctypes.Array[ctypes.c_char]] = []
        self.win = self.lib.XCreateSimpleWindow(self.d.ptr, self.d.root, x, y, self.w, self.h, 0, 0, 0xFFFFFF)
        self.set_prop("WM_CLASS", "STRING", 8, f"{app.lower()}\0{app}\0".encode())
        self.set_prop("_NET_WM_PID", "CARDINAL", 32, ctypes.c_ulong(os.getpid()))
        self.set_title(title)
        self.draw(lines)
        self.lib.XMapRaised(self.d.ptr, self.win)
        self.lib.XFlush(self.d.ptr)

    def set_prop(self, name: str, kind: str, fmt: int, value: bytes | ctypes.c_ulong) -> None:
        if isinstance(value, bytes):
            data, n = value, len(value)
        else:
            data, n = ctypes.cast(ctypes.pointer(value), c_char_p), 1  # type: ignore[assignment]
        self.lib.XChangeProperty(self.d.ptr, self.win, self.d.atom(name), self.d.atom(kind), fmt, PROP_MODE_REPLACE, data, n)

    def set_title(self, title: str) -> None:
        raw = title.encode()
        self.set_prop("_NET_WM_NAME", "UTF8_STRING", 8, raw)
        self.set_prop("WM_NAME", "STRING", 8, title.encode("latin-1", "replace"))
        self.lib.XSync(self.d.ptr, 0)  # processed by the server before we answer

    def draw(self, lines: list[str]) -> None:
        image = Image.new("RGB", (self.w, self.h), "white")
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=self.font_size)
        y = 16
        for line in lines:
            draw.text((20, y), line, fill=(10, 10, 10), font=font)
            y += int(self.font_size * 1.6)
        self.show(image)

    def scene(self, number: int) -> None:
        """A video-like picture: every pixel differs from the last scene, a subtitle at the foot."""
        rng = random.Random(number)
        image = Image.linear_gradient("L").resize((self.w, self.h)).convert("RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(40):
            x, y = rng.randrange(self.w), rng.randrange(self.h)
            r = rng.randrange(20, 200)
            draw.ellipse((x - r, y - r, x + r, y + r),
                         fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        font = ImageFont.load_default(size=self.font_size)
        draw.text((self.w // 4, self.h - 2 * self.font_size), f"subtitle line {number}: "
                  + rng.choice(["where are we going", "not tonight", "look at the sea"]),
                  fill=(255, 255, 255), font=font)
        self.show(image)

    def show(self, image: Image.Image) -> None:
        raw = image.convert("RGBA").tobytes("raw", "BGRA")
        buf = ctypes.create_string_buffer(raw, len(raw))
        self.buffers = [*self.buffers[-1:], buf]  # the image in use and the one before it
        screen = self.lib.XDefaultScreen(self.d.ptr)
        depth = self.lib.XDefaultDepth(self.d.ptr, screen)
        ximage = self.lib.XCreateImage(self.d.ptr, self.lib.XDefaultVisual(self.d.ptr, screen), depth, ZPIXMAP, 0, buf, self.w, self.h, 32, 0)
        pixmap = self.lib.XCreatePixmap(self.d.ptr, self.win, self.w, self.h, depth)
        self.lib.XPutImage(self.d.ptr, pixmap, self.lib.XDefaultGC(self.d.ptr, screen), ximage, 0, 0, 0, 0, self.w, self.h)
        self.lib.XSetWindowBackgroundPixmap(self.d.ptr, self.win, pixmap)
        self.lib.XClearWindow(self.d.ptr, self.win)
        self.lib.XFreePixmap(self.d.ptr, pixmap)
        self.lib.XSync(self.d.ptr, 0)  # repainted before we answer, not merely sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--title", default="Test window")
    parser.add_argument("--app", default="Testapp")
    parser.add_argument("--geometry", default="800x400+0+0")
    parser.add_argument("--line", action="append", default=[])
    parser.add_argument("--font-size", type=int, default=32)
    args = parser.parse_args()
    win = TestWindow(args.title, args.app, args.geometry, args.line, args.font_size)
    print(f"ready {win.win}", flush=True)
    for command in sys.stdin:
        verb, _, rest = command.rstrip("\n").partition(" ")
        if verb == "title":
            win.set_title(rest)
        elif verb == "lines":
            win.draw(rest.split("|"))
        elif verb == "scene":
            win.scene(int(rest))
        print(f"done {verb}", flush=True)


if __name__ == "__main__":
    main()
