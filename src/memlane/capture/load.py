"""Whether the machine is busy with the person's own work, or running on battery.

OCR and indexing can wait; the person's compile, video call or game cannot. :class:`MachineLoad`
samples ``/proc/stat`` and this process's own CPU time (with its waited-for children) and says
how much of the machine *other* programs used since the last sample, so Memlane's own OCR never
counts as a reason to wait. :func:`on_battery` reads ``/sys/class/power_supply``: a battery that
is discharging and no mains adapter online. Where these files do not exist (another OS, a
container) the answers are "not busy" and "not on battery": OCR then never waits.
:func:`release_memory` hands memory this process freed back to the system, for the recorder
that unloads what it only needs now and then.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

POWER = Path("/sys/class/power_supply")


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc keeps them)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _proc_stat() -> tuple[float, float] | None:
    """Total and idle CPU seconds of the whole machine (all cores) since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(v) for v in fields[1:9]]
    hz = float(os.sysconf("SC_CLK_TCK"))
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) / hz, idle / hz


def _own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class MachineLoad:
    """How busy the rest of the machine is, as a share of all its cores (0..1)."""

    _last: tuple[float, float, float] | None = None  # total, idle, own

    def others_busy(self) -> float:
        """The share of the machine's CPU that other processes used since the last call."""
        stat = _proc_stat()
        if stat is None:
            return 0.0
        now = (stat[0], stat[1], _own_cpu())
        last, self._last = self._last, now
        if last is None:
            return 0.0
        total = now[0] - last[0]
        if total <= 0:
            return 0.0
        busy = (total - (now[1] - last[1])) - (now[2] - last[2])
        return max(0.0, min(1.0, busy / total))


def on_battery(root: Path = POWER) -> bool:
    """True when a battery is discharging and no mains adapter is online."""
    try:
        supplies = list(root.iterdir())
    except OSError:
        return False
    mains_online = False
    discharging = False
    for supply in supplies:
        kind = _read(supply / "type")
        if kind == "Mains" and _read(supply / "online") == "1":
            mains_online = True
        elif kind == "Battery" and _read(supply / "status") == "Discharging":
            discharging = True
    return discharging and not mains_online


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


@dataclass
class Yield:
    """Decides whether background work should wait now, and says why.

    ``busy_share``: wait while other programs use more than this share of all cores;
    ``on_battery_waits``: wait while on battery. ``max_wait_s`` bounds one wait: after that
    the work goes ahead (slowly, one job at a time), so a machine that is always busy still
    gets its memories read, just later.
    """

    busy_share: float = 0.75
    on_battery_waits: bool = True
    max_wait_s: float = 600.0
    load: MachineLoad | None = None
    power: Path = POWER
    _since: float | None = None

    def __post_init__(self) -> None:
        if self.load is None:
            self.load = MachineLoad()
            self.load.others_busy()  # the first sample only sets the baseline

    def reason(self, now: float | None = None) -> str:
        """Why work should wait now (``""``: go ahead)."""
        now = time.monotonic() if now is None else now
        assert self.load is not None
        why = ""
        if self.on_battery_waits and on_battery(self.power):
            why = "on battery"
        elif self.load.others_busy() > self.busy_share:
            why = "the machine is busy"
        if not why:
            self._since = None
            return ""
        if self._since is None:
            self._since = now
        if now - self._since > self.max_wait_s:
            self._since = now  # one job goes ahead, then the wait starts again
            return ""
        return why
