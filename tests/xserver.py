"""A real X server for capture tests: Xvfb plus the openbox window manager, and real windows.

:class:`XServer` starts ``Xvfb`` on a free display (``-displayfd``), optionally with openbox for
EWMH, and :meth:`XServer.window` opens a :mod:`xwindow` client with a title, WM_CLASS and text.
Tests that need it skip cleanly where Xvfb is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Window:
    def __init__(self, proc: subprocess.Popen[str], wid: int) -> None:
        self.proc = proc
        self.id = wid

    def send(self, command: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()
        time.sleep(0.3)  # let the server repaint and the window manager catch up

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class XServer:
    def __init__(self, size: str = "1280x800", wm: bool = True) -> None:
        self.size = size
        self.procs: list[subprocess.Popen[str]] = []
        self.windows: list[Window] = []
        read, write = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp",
             "-s", "0"],  # no screen saver: a long run is not a locked screen
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )
        os.close(write)
        self.procs.append(xvfb)
        with os.fdopen(read) as fh:
            number = fh.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        for key in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
            self.env.pop(key, None)
        if wm:
            self.procs.append(subprocess.Popen(
                ["openbox", "--sm-disable"], env=self.env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, text=True,
            ))
            self._wait_for_wm()

    def _wait_for_wm(self) -> None:
        from memlane.capture.xlib import Display, XError

        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with Display(self.display) as d:
                    while time.time() < deadline:
                        if d.property(d.root, "_NET_SUPPORTING_WM_CHECK") is not None:
                            return
                        time.sleep(0.1)
            except XError:  # the connection broke while the server was starting: open another
                time.sleep(0.1)
        raise RuntimeError("openbox did not start")

    def window(self, title: str, app: str, lines: list[str], geometry: str = "900x500+0+0",
               font_size: int = 32) -> Window:
        args = [sys.executable, str(HERE / "xwindow.py"), "--title", title, "--app", app,
                "--geometry", geometry, "--font-size", str(font_size)]
        for line in lines:
            args += ["--line", line]
        proc = subprocess.Popen(args, env=self.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == "ready", ready
        win = Window(proc, int(ready[1]))
        self.windows.append(win)
        time.sleep(0.5)  # mapped, placed and focused by the window manager
        return win

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=10)

    def stop(self) -> None:
        for win in self.windows:
            win.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def have_x() -> bool:
    return shutil.which("Xvfb") is not None and shutil.which("openbox") is not None
