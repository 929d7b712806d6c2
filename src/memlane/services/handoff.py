"""One desktop app per home, and requests handed to it: "show yourself", "open memlane://frame/12".

The open app holds ``app.lock`` (an advisory ``flock``, released by the kernel when the process
dies, so a crash never leaves a stale lock). A second ``memlane gui`` that finds it held writes its
request into the home's ``inbox`` folder (one small file each, written under a temporary name and
renamed, so the app never reads half of one) and exits; the app watches that folder and acts on
what arrives. Files, not a socket: nothing listens. ``memlane://`` links are what the Markdown
journal writes and what the desktop entry hands to ``memlane gui``.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from typing import IO

from memlane.core.paths import Paths

SHOW = "show"
LINK = re.compile(r"^memlane://(frame|message|episode|fact)/(\d{1,18})/?$")
MAX_REQUESTS = 20  # what one look at the inbox handles; the rest are dropped


def record_of_link(url: str) -> str | None:
    """``memlane://frame/12`` -> ``frame:12``; None for anything else."""
    m = LINK.match(url.strip())
    return f"{m[1]}:{int(m[2])}" if m else None


class AppLock:
    """The lock of the one app open on a home (see the module docstring)."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    @classmethod
    def take(cls, paths: Paths) -> AppLock | None:
        """The lock, or None when another app holds it."""
        paths.home.mkdir(parents=True, exist_ok=True)
        handle = open(paths.app_lock, "a+", encoding="utf-8")  # noqa: SIM115 - held open
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()


def send(paths: Paths, request: str) -> None:
    """Leave a request for the open app: ``show`` or a ``memlane://`` link."""
    if request != SHOW and record_of_link(request) is None:
        raise ValueError(f"not a Memlane link: {request[:80]!r}")
    inbox = paths.app_inbox
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}"
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(request, encoding="utf-8")
    os.replace(tmp, inbox / f"{name}.request")


def take(paths: Paths) -> list[str]:
    """The requests waiting in the inbox, oldest first, removed from it; malformed ones are
    dropped unread."""
    try:
        names = sorted(p for p in paths.app_inbox.iterdir() if p.suffix == ".request")
    except OSError:
        return []
    out: list[str] = []
    for path in names:
        try:
            if len(out) < MAX_REQUESTS and path.stat().st_size <= 512:
                text = path.read_text(encoding="utf-8", errors="replace").strip()
                if text == SHOW or record_of_link(text):
                    out.append(text)
            path.unlink()
        except OSError:
            continue
    return out
