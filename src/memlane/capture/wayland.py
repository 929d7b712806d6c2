"""Screen grabbers for Wayland: the ScreenCast portal with PipeWire, and wlr-screencopy (grim).

:class:`PortalGrabber` holds one portal session for the whole recording and one
:class:`~memlane.capture.pipewire.PipeWireStream` per granted monitor; a tick only copies the
newest frame of each. It never asks the person by itself: without a saved restore token it raises
:class:`GrantNeeded` (the app's visible window asks, see :func:`grant`), and a token the desktop
no longer honours (its dialog came up instead) is dropped the same way. Each start hands back a
new token, saved through the :class:`TokenSlot` the caller gives (the caller keeps it with its
other secrets). A grant revoked in the desktop's permission store is noticed before a start
(no dialog flashes up) and while recording (the desktop itself lets the stream run on). A
portal that went away, a stream that ended or a compositor that stopped or restarted
(:func:`compositor`: a dead compositor's stream goes quiet, like a static screen) closes
everything; the next tries come with backoff, each failure a clear message. A cast the desktop
ends is told apart as a screen lock, a granted monitor disconnected (waited for, where the
desktop tells its monitors) or the person's stop (obeyed).
:class:`GrimGrabber` is the fallback on wlroots compositors without a ScreenCast portal: one
``grim`` run per output and tick.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, Protocol

import numpy as np

from memlane.capture.pipewire import PipeWireStream, StreamError, remote_alive
from memlane.capture.portal import Grant, PortalError, ScreenCastPortal
from memlane.capture.windows import Rect

log = logging.getLogger(__name__)

GRANT_HINT = ("click \"Allow screen recording\" in Memlane's status bar, or run "
              "`memlane capture --grant`")


class CaptureUnavailable(RuntimeError):
    """The screen cannot be read now; the message says why and what to do."""


class GrantNeeded(CaptureUnavailable):
    """Recording on this desktop needs the person's permission, asked from a visible window."""


class ScreenLocked(CaptureUnavailable):
    """The desktop's lock screen (or idle curtain) is up: it allows no screen cast meanwhile."""


class Waiting(CaptureUnavailable):
    """The desktop took the screen away for something that passes without the person (a cast
    it just ended, a monitor disconnected); ``grant_helps``: allowing recording anew would
    record now what can be recorded."""

    grant_helps = False


class MonitorsGone(Waiting):
    """A monitor the grant covers is disconnected: the desktop ended the cast and restores the
    grant only once it is back."""

    grant_helps = True


class TokenSlot(Protocol):
    def load(self) -> str | None: ...

    def save(self, token: str | None) -> None: ...


class Backoff:
    """When to try again after failures: 2 s, doubling, at most ``cap_s``."""

    def __init__(self, first_s: float = 2.0, cap_s: float = 60.0) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self.delay = 0.0
        self.next_try = 0.0
        self.error: CaptureUnavailable | None = None

    def check(self) -> None:
        if self.error is not None and time.monotonic() < self.next_try:
            raise type(self.error)(f"{self.error} (next try in "
                                   f"{self.next_try - time.monotonic():.0f} s)")

    def failed(self, error: CaptureUnavailable) -> CaptureUnavailable:
        self.delay = self.first_s if not self.delay else min(self.delay * 2, self.cap_s)
        self.next_try = time.monotonic() + self.delay
        self.error = error
        return error

    def succeeded(self) -> None:
        self.delay, self.error = 0.0, None


LOCKED = ("the screen is locked: the desktop pauses screen recording until it is unlocked, "
          "then recording resumes")
ENDED = ("the desktop ended the screen cast (the screen locking, its \"Stop Screen Sharing\" "
         "button, or a monitor it showed went away)")
STOPPED = ("screen recording was stopped from the desktop (its \"Stop Screen Sharing\" button, "
           f"or a monitor it showed went away): {GRANT_HINT}")
ENDED_WAIT_S = 5.0  # how far apart a screen lock and the end of the cast it caused may be
PLUG_WAIT_S = 1.0  # and a monitor change and the end it caused (mutter's own, milliseconds)
UNPLUGGED = ("a monitor Memlane records is unplugged or off ({names}): recording resumes when it "
             "is back{hint}")
NOW_HINT = f"; to record the monitors connected now, {GRANT_HINT}"  # the status bar has a button
WITHDRAWN = f"the desktop withdrew the permission to record the screen: {GRANT_HINT}"
COMPOSITOR_GONE = ("the desktop's compositor stopped or restarted; recording resumes when it "
                   "is back")


def compositor(env: Mapping[str, str] | None = None,
               locks: Path = Path("/proc/locks")) -> tuple[int, int] | None:
    """Which process serves this session's Wayland display: (its pid, the inode of the display's
    lock file), or None when that cannot be told. A Wayland compositor holds an exclusive
    ``flock`` on ``$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY.lock`` while it runs; the kernel's lock
    table names the holder, read without touching the lock or the compositor."""
    if env is None:
        env = os.environ
    display = env.get("WAYLAND_DISPLAY") or "wayland-0"
    socket = Path(display) if os.path.isabs(display) else (
        Path(env.get("XDG_RUNTIME_DIR", "/nonexistent")) / display)
    try:
        st = os.stat(socket.with_name(socket.name + ".lock"))
        table = locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" (device numbers in hex)
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[3] != "WRITE":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            pid = int(fields[4])
            same = (int(inode) == st.st_ino and int(major, 16) == os.major(st.st_dev)
                    and int(minor, 16) == os.minor(st.st_dev))
        except ValueError:
            continue
        if same and pid > 0:
            return pid, st.st_ino
    return None


class PortalGrabber:
    """Monitors from the ScreenCast portal's PipeWire streams. Use from one thread."""

    name = "portal"

    def __init__(self, tokens: TokenSlot, *, portal: ScreenCastPortal | None = None,
                 dialog_s: float = 5.0, max_fps: float = 1.0) -> None:
        self.tokens = tokens
        self.portal = portal or ScreenCastPortal()
        self.dialog_s = dialog_s
        self.max_fps = max_fps
        self.backoff = Backoff()
        self._grant: Grant | None = None
        self._compositor: tuple[int, int] | None = None  # serving the display when granted
        self._kept: bool | None = None  # whether the permission store kept the running grant
        self._missing_since: float | None = None  # when its store entry was first seen missing
        # when the desktop ended the last session, and whether a screen lock has shown since
        self._ended: tuple[float, bool] | None = None
        # the grant that waits for its disconnected monitors: its token, its monitors, the
        # ones missing
        self._unplugged: tuple[str, list[str], list[str]] | None = None
        self._streams: dict[Rect, PipeWireStream] = {}
        self._since: float | None = None  # when the tick read the windows

    def _open(self) -> None:
        if self._grant is not None:
            if not remote_alive(self._grant.fd):
                self.reset()
                raise self.backoff.failed(CaptureUnavailable(
                    "PipeWire went away; recording resumes when it is back"))
            if self._compositor is not None and compositor() != self._compositor:
                self.reset()
                raise self.backoff.failed(CaptureUnavailable(COMPOSITOR_GONE))
            if self.portal.alive(self._grant):
                if self._revoked(self._grant.restore_token):
                    self._give_up(WITHDRAWN)  # GNOME lets the stream run on after a revoke
                return
            grant = self._grant
            ended = grant.closed and self.portal.owner() == grant.owner
            self.reset()
            if not ended:
                raise self.backoff.failed(CaptureUnavailable(
                    "the desktop portal went away; recording resumes when it is back"))
            # the same portal closed the session: a screen lock, or the person's stop
            self._ended = (grant.closed_at or time.monotonic(), False)
            self.backoff.succeeded()
        if self._ended is not None:
            self._after_ended()
        token = self.tokens.load()
        if isinstance(self.backoff.error, GrantNeeded):
            if not token:  # the reason stays what it was until the person allows it
                raise GrantNeeded(str(self.backoff.error))
            self.backoff.succeeded()  # the person just allowed it: no need to wait
        self.backoff.check()
        if self._compositor is not None and compositor() is None:  # not back yet
            raise self.backoff.failed(CaptureUnavailable(COMPOSITOR_GONE))
        if not token:
            raise self.backoff.failed(GrantNeeded(
                f"screen recording is not allowed yet on this Wayland desktop: {GRANT_HINT}"))
        if self.portal.shield_up():  # GNOME refuses every screen cast while it is locked
            raise ScreenLocked(LOCKED)
        self._check_monitors(token)  # as would a granted monitor that is not connected
        if self._revoked(token, wait_s=1.0):  # Start would bring up the dialog
            self._give_up(WITHDRAWN)
        try:
            grant = self.portal.start(token, dialog_s=self.dialog_s)
        except PortalError as exc:
            if exc.kind in ("dialog", "refused"):
                # the desktop no longer honours the token (it asked instead): ask from the app
                self._give_up(WITHDRAWN)
            raise self.backoff.failed(
                CaptureUnavailable(f"the screen-cast portal: {exc}")) from None
        if grant.restore_token:
            self.tokens.save(grant.restore_token)
        try:
            self._streams = _open_streams(grant, self.max_fps)
        except StreamError as exc:
            self.portal.close(grant)
            raise self.backoff.failed(CaptureUnavailable(f"PipeWire: {exc}")) from None
        self._grant = grant
        self._compositor = compositor()
        # a grant the store keeps can be told revoked later; a one-time one cannot
        self._kept = bool(grant.restore_token) and self.portal.kept(grant.restore_token or "")
        self._missing_since = None
        self.backoff.succeeded()
        log.info("recording %d monitor(s) through the ScreenCast portal", len(self._streams))

    def _revoked(self, token: str | None, wait_s: float = 0.0) -> bool:
        """Whether the desktop's permission store no longer keeps ``token``'s grant. The
        portal deletes the entry while it restores a session and writes it back in Start's
        reply, so another Memlane process starting from the same token leaves a short gap:
        a missing entry counts only when it is still missing a moment later (``wait_s``
        before a start; across two checks at least 1 s apart while recording)."""
        if not token:
            return False
        if wait_s == 0.0 and not self._kept:
            return False  # a one-time grant was never in the store
        if self.portal.kept(token) is not False:
            self._missing_since = None
            return False
        if wait_s:
            time.sleep(wait_s)
            return self.portal.kept(token) is False
        now = time.monotonic()
        if self._missing_since is None:
            self._missing_since = now
        return now - self._missing_since >= 1.0

    def _give_up(self, reason: str) -> NoReturn:
        """Stop and forget the grant (the desktop writes it back when a session closes, so it is
        deleted there too); recording waits for the person to allow it again."""
        token = self.tokens.load() or (self._grant.restore_token if self._grant else None)
        self.reset()
        self.tokens.save(None)
        if token:
            self.portal.forget(token)
        raise self.backoff.failed(GrantNeeded(reason))

    def _after_ended(self) -> None:
        """After the desktop ended the running session: a screen lock (GNOME ends every cast
        when its shield goes up) pauses until it is down; a monitor change within
        :data:`PLUG_WAIT_S` of the end, or a granted monitor missing now, was a monitor
        unplugged (GNOME ends the cast; the next start waits for the monitor, see
        :meth:`_check_monitors`); anything else, once no lock has shown within
        :data:`ENDED_WAIT_S`, was the person's "Stop Screen Sharing" (or, where the desktop does
        not tell its monitors, a monitor gone), which Memlane obeys: the grant is given up, and
        recording waits for a new one. Restarting at once would undo the person's click within
        two seconds."""
        assert self._ended is not None
        since, was_locked = self._ended
        up = bool(self.portal.shield_up())
        waiting = time.monotonic() - since < ENDED_WAIT_S
        if not was_locked and ((waiting and up) or self.portal.shield_seen(
                since - ENDED_WAIT_S, since + ENDED_WAIT_S)):
            self._ended = (since, True)
            was_locked = True
        if was_locked:
            if up:
                raise ScreenLocked(LOCKED)
            self._ended = None  # unlocked: the same grant restores without asking
            return
        if self.portal.monitors_changed(since - PLUG_WAIT_S, since + PLUG_WAIT_S) or (
                self._missing_monitors(self.tokens.load())[1]):
            # GNOME ends a cast when a monitor it shows goes away; the start that follows
            # waits for the monitor, or restores at once if it is already back
            self._ended = None
            return
        if waiting:
            raise Waiting(ENDED)
        self._ended = None
        self._give_up(STOPPED)

    def _missing_monitors(self, token: str | None) -> tuple[list[str] | None, list[str]]:
        """The monitors ``token``'s grant covers (``vendor:product:serial``; ``None`` where the
        desktop does not say), and those of them not connected now (none where that cannot
        be told)."""
        granted = self.portal.granted_monitors(token) if token else None
        connected = self.portal.monitors_connected() if granted else None
        if not granted or connected is None:
            return granted, []
        return granted, [m for m in granted if m not in connected]

    def _check_monitors(self, token: str) -> None:
        """Before a start: GNOME restores a grant only while every monitor its record names is
        connected (else Start brings up its dialog), so while one is not, say so and wait
        (each tick looks again) until it is back, or until the person allows recording anew.
        The record is missing while the desktop's dialog is up for a new grant, so a missing
        record does not end a wait; a grant revoked meanwhile is said once its monitors are
        back (the start finds no record)."""
        waited = self._unplugged if self._unplugged and self._unplugged[0] == token else None
        granted = self.portal.granted_monitors(token) or (waited[1] if waited else None)
        connected = self.portal.monitors_connected() if granted else None
        if not granted or (connected is None and waited is None):
            self._unplugged = None  # cannot be told: the start tries
            return
        missing = ([m for m in granted if m not in connected] if connected is not None
                   else waited[2] if waited else [])  # (the compositor cannot say just now)
        if not missing:
            if waited:
                log.info("the unplugged monitor is back, or the grant changed: recording resumes")
            self._unplugged = None
            return
        self._unplugged = (token, granted, missing)
        names = ", ".join(m.split(":")[1] or m.split(":")[0] for m in missing)
        raise MonitorsGone(UNPLUGGED.format(names=names, hint=NOW_HINT))

    def prepare(self) -> None:
        self._since = time.monotonic()  # frames must show the screen from here on
        self._open()

    def monitors(self) -> list[Rect]:
        self._open()
        return list(self._streams)

    def grab(self, rect: Rect) -> np.ndarray:
        stream = self._streams.get(rect)
        if stream is None:
            raise CaptureUnavailable("that monitor is no longer shared")
        try:
            return stream.frame(self._since)
        except StreamError as exc:
            self.reset()
            raise self.backoff.failed(CaptureUnavailable(
                f"the screen cast stopped ({exc}); recording resumes when PipeWire and the "
                "portal are back")) from None

    def reset(self) -> None:
        for stream in self._streams.values():
            stream.close()
        self._streams = {}
        if self._grant is not None:
            self.portal.close(self._grant)
            self._grant = None


def _open_streams(grant: Grant, max_fps: float) -> dict[Rect, PipeWireStream]:
    """One stream per granted monitor, keyed by its rectangle (left to right)."""
    opened: list[tuple[Rect, PipeWireStream]] = []
    try:
        x = 0
        for s in grant.streams:
            stream = PipeWireStream(grant.fd, s.node, max_fps=max_fps)
            opened.append((Rect(0, 0, 0, 0), stream))
            if s.size is not None:
                w, h = s.size
            else:  # the portal did not say: the first frame does
                h, w = stream.frame().shape
            left, top = s.position if s.position is not None else (x, 0)
            opened[-1] = (Rect(left, top, w, h), stream)
            x = max(x, left + w)
    except BaseException:
        for _, stream in opened:
            stream.close()
        raise
    return dict(sorted(opened, key=lambda item: (item[0].left, item[0].top)))


def grant(tokens: TokenSlot, *, portal: ScreenCastPortal | None = None,
          dialog_s: float = 300.0) -> int:
    """Ask the desktop for permission to record (its dialog), keep the token; monitors granted.

    Call it from a process with a visible window (the app, or a terminal for the CLI): GNOME
    shows the dialog only for the focused app. The session is closed again at once; the
    recorder restores it from the token without asking.
    """
    portal = portal or ScreenCastPortal()
    if not portal.available():
        raise CaptureUnavailable("this desktop has no ScreenCast portal (xdg-desktop-portal with "
                                 "a GNOME, KDE or wlroots back end)")
    try:
        started = portal.start(tokens.load(), dialog_s=dialog_s)
    except PortalError as exc:
        raise CaptureUnavailable(f"the permission was not given: {exc}") from None
    portal.close(started)
    portal.shutdown()  # its signal thread is not needed any more
    if not started.restore_token:
        raise CaptureUnavailable("the desktop gave no restore token, so it would ask again at "
                                 "every start")
    tokens.save(started.restore_token)
    return len(started.streams)


# -- wlr-screencopy ---------------------------------------------------------------------------


class GrimGrabber:
    """Outputs captured with ``grim`` (wlr-screencopy): wlroots compositors without a portal."""

    name = "wlr-screencopy"

    def __init__(self, outputs: Callable[[], list[tuple[str, Rect]]] | None = None,
                 timeout_s: float = 10.0) -> None:
        self.tool = shutil.which("grim")
        self.outputs = outputs
        self.timeout_s = timeout_s
        self._names: dict[Rect, str | None] = {}

    def monitors(self) -> list[Rect]:
        if self.tool is None:
            raise CaptureUnavailable("grim is not installed (sudo apt-get install grim)")
        if self.outputs is not None:
            self._names = {rect: name for name, rect in self.outputs()}
        else:  # one monitor: the whole layout, as grim composes it
            pixels = self._run(None)
            self._names = {Rect(0, 0, pixels.shape[1], pixels.shape[0]): None}
        return list(self._names)

    def grab(self, rect: Rect) -> np.ndarray:
        return self._run(self._names.get(rect))

    def prepare(self) -> None:
        if self.tool is None:
            raise CaptureUnavailable("grim is not installed (sudo apt-get install grim)")

    def _run(self, output: str | None) -> np.ndarray:
        args = [str(self.tool), "-t", "ppm", *(["-o", output] if output else []), "-"]
        try:
            done = subprocess.run(args, capture_output=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise CaptureUnavailable(f"grim failed: {exc}") from None
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            raise CaptureUnavailable(f"grim could not capture the screen: {why}")
        return ppm_pixels(done.stdout)

    def reset(self) -> None:
        pass


def ppm_pixels(data: bytes) -> np.ndarray:
    """A binary PPM (P6, 8 bits) as HxW uint32 in BGRX byte order."""
    fields: list[bytes] = []
    pos = 2
    if not data.startswith(b"P6"):
        raise CaptureUnavailable("grim returned no PPM image")
    while len(fields) < 3:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    width, height, depth = (int(f) for f in fields)
    if depth != 255:
        raise CaptureUnavailable(f"grim returned a {depth}-level PPM")
    rgb = np.frombuffer(data, dtype=np.uint8, count=width * height * 3, offset=pos + 1)
    rgb = rgb.reshape(height, width, 3).astype(np.uint32)
    return (0xFF000000 | (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]).astype(
        np.uint32)
