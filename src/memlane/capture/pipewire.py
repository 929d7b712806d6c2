"""Frames from one PipeWire screen-cast stream, held open for a whole recording.

:class:`PipeWireStream` reads one node of a portal's PipeWire remote with GStreamer
(``pipewiresrc`` into an ``appsink`` that keeps only the newest frame, converted to BGRx, the
byte order every grabber returns). The stream stays negotiated between ticks but asks the
compositor for few frames (``max-framerate``), and the compositor sends one only when the screen
changed, so a static screen costs nearly nothing. :meth:`PipeWireStream.frame` answers with a
frame no older than the moment it is asked about (waiting out the rate limit when a newer one
may be on its way), and raises :class:`StreamError` when the compositor ended the stream;
:func:`remote_alive` tells whether PipeWire itself is still there.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class StreamError(RuntimeError):
    pass


def _gst() -> Any:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as exc:
        raise StreamError(f"GStreamer's Python bindings are missing: {exc}") from None
    if not Gst.is_initialized():
        _registry_outside_the_bundle()
        Gst.init(None)
    if Gst.ElementFactory.find("pipewiresrc") is None:
        raise StreamError("GStreamer's PipeWire plugin is missing "
                          "(sudo apt-get install gstreamer1.0-pipewire)")
    return Gst


def _registry_outside_the_bundle() -> None:
    """In the packaged app, keep GStreamer's plugin cache in the person's cache folder.

    PyInstaller's runtime hook points ``GST_REGISTRY`` into the installed bundle, which a person
    cannot write to (so the plugins are scanned at every start), and which root would litter with
    a file the package does not own (left behind after purge).
    """
    bundle = getattr(sys, "_MEIPASS", None)
    registry = os.environ.get("GST_REGISTRY", "")
    if bundle and registry.startswith(str(bundle)):
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["GST_REGISTRY"] = os.path.join(cache, "memlane", "gstreamer-registry.bin")


MARGIN_S = 0.15  # how late a frame may arrive after the compositor's rate limit allows it


class PipeWireStream:
    """One monitor's stream; :meth:`frame` from one thread at a time.

    A reader thread keeps the newest frame and when it arrived (it wakes once per frame the
    compositor sends, at most ``max_fps`` a second); :meth:`frame` turns it into pixels.
    """

    def __init__(self, fd: int, node: int, *, max_fps: float = 1.0) -> None:
        # (GNOME accepts no less than one frame a second)
        Gst = _gst()
        self.node = node
        self.period_s = 1.0 / max_fps
        num, den = max(1, round(max_fps * 1000)), 1000
        # always-copy: the compositor's buffers go back to it at once instead of waiting in
        # the appsink queue; videoconvert passes BGRx through untouched.
        self._pipeline = Gst.parse_launch(
            f"pipewiresrc fd={fd} path={node} always-copy=true do-timestamp=false "
            f"! video/x-raw,max-framerate={num}/{den} "
            "! videoconvert ! video/x-raw,format=BGRx "
            "! appsink name=sink max-buffers=1 drop=true sync=false enable-last-sample=false")
        self._sink = self._pipeline.get_by_name("sink")
        self._bus = self._pipeline.get_bus()
        self._cond = threading.Condition()
        self._sample: Any = None
        self._arrived = 0.0  # time.monotonic() when the newest frame came
        self._stopping = False
        self._reading = True
        self._converted: tuple[Any, np.ndarray] | None = None  # the newest sample, as pixels
        if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self.close()
            raise StreamError(f"PipeWire node {node} could not be played")
        self._reader = threading.Thread(target=self._read, name=f"pipewire-{node}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        Gst = _gst()
        try:
            while not self._stopping:
                sample = self._sink.emit("try-pull-sample", 10 * Gst.SECOND)
                if sample is None:
                    if self._sink.get_property("eos"):
                        return
                    continue
                with self._cond:
                    self._sample, self._arrived = sample, time.monotonic()
                    self._cond.notify_all()
        except Exception:  # a reader that stopped must not look like a static screen
            log.exception("reading PipeWire node %s", self.node)
        finally:
            with self._cond:
                self._reading = False
                self._cond.notify_all()

    def frame(self, since: float | None = None, first_wait_s: float = 5.0) -> np.ndarray:
        """The screen as it was at ``since`` (``time.monotonic()``; default now) or later, as
        HxW uint32 (BGRX).

        A change before ``since`` reaches us within one frame period of the previous frame (the
        compositor's rate limit) plus a margin, so this waits that long for a newer frame when
        the newest one is older than ``since``; on a static screen that is only the margin.
        """
        Gst = _gst()
        since = time.monotonic() if since is None else since
        with self._cond:
            self._check(Gst)
            deadline = time.monotonic() + first_wait_s
            while self._sample is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamError(f"no frame from PipeWire node {self.node} within "
                                      f"{first_wait_s:.0f} s")
                self._cond.wait(min(left, 0.25))
                self._check(Gst)
            settle = max(since, self._arrived + self.period_s) + MARGIN_S
            while self._arrived < since and (left := settle - time.monotonic()) > 0:
                self._cond.wait(left)
            self._check(Gst)
            sample = self._sample
        if self._converted is None or self._converted[0] is not sample:
            # a new frame; an old one (the screen did not change) is not converted again
            self._converted = (sample, _pixels(sample))
        return self._converted[1].copy()  # the caller may paint on it

    def _check(self, Gst: Any) -> None:
        while True:
            msg = self._bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if msg is None:
                break
            if msg.type == Gst.MessageType.EOS:
                raise StreamError(f"the screen cast ended (PipeWire node {self.node})")
            err, _debug = msg.parse_error()
            raise StreamError(f"PipeWire stream {self.node}: {err.message}")
        if not self._reading:
            raise StreamError(f"reading PipeWire node {self.node} stopped")

    def close(self) -> None:
        self._stopping = True
        self._converted = None
        try:  # a stopped pipeline also wakes the reader from its wait for a frame
            Gst = _gst()
            self._pipeline.set_state(Gst.State.NULL)
        except Exception:  # already torn down
            log.debug("closing a PipeWire stream", exc_info=True)
        reader = getattr(self, "_reader", None)
        if reader is not None and reader is not threading.current_thread():
            reader.join(2.0)


def remote_alive(fd: int) -> bool:
    """Whether the PipeWire daemon behind a portal's remote ``fd`` is still there.

    ``pipewiresrc`` goes quiet, not wrong, when PipeWire dies, and a quiet stream looks like a
    static screen; the socket's hang-up tells them apart without reading from it.
    """
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    try:
        events = poller.poll(0)
    except OSError:
        return False
    hangup = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL
    return not any(mask & hangup for _, mask in events)


def _pixels(sample: Any) -> np.ndarray:
    caps = sample.get_caps().get_structure(0)
    width, height = int(caps.get_value("width")), int(caps.get_value("height"))
    buffer = sample.get_buffer()
    data = buffer.extract_dup(0, buffer.get_size())
    stride = len(data) // height if height else 0
    if stride < width * 4:
        raise StreamError(f"a frame of {len(data)} bytes cannot be {width}x{height} BGRx")
    rows = np.frombuffer(data, dtype=np.uint8)[: stride * height].reshape(height, stride)
    return rows[:, : width * 4].copy().view(np.uint32).reshape(height, width)
