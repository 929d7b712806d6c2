"""Privacy gates: which windows must never be stored, and what to paint out of each monitor's frame.

:class:`ExclusionRules` holds app names and title patterns (the defaults, in settings, cover
private/incognito browser windows and password managers). :func:`plan_monitor` looks at *every*
visible window on *every* monitor, not only the focused one: an excluded window that has focus
stops the whole tick; an unfocused excluded window is painted out of the frame (the part of it not
hidden by windows above it, or all of it when the stacking order is unknown) before anything
reaches the disk; a monitor that is mostly excluded is skipped. A pop-up that belongs to an
excluded window (``WM_TRANSIENT_FOR``) is excluded with it, and so is an untitled window of an
excluded process. An excluded window whose place the desktop does not tell (AT-SPI on Wayland)
could be on any monitor, so no monitor is stored while it shows.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memlane.capture.windows import Rect, Snapshot, WindowInfo
from memlane.core.settings import PrivacySettings
from memlane.core.urls import on_site

# A monitor at least this much covered by excluded windows is skipped, not painted.
SKIP_COVERAGE = 0.9


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Memlane's own windows are never recorded, whatever the settings say: the app shows memories
# (including ones about to be forgotten), and recording them would copy them back in.
ALWAYS_EXCLUDED_APPS = ("Memlane",)
# Set (to "1") by the app for its recorder when it covers its own windows whenever another app
# has focus (memlane.ui.cover): where the desktop does not say where windows are, an unfocused
# Memlane window then shows nothing of the memory and need not stop the recording.
SELF_COVERED = "MEMLANE_SELF_COVERED"


_SELF = frozenset(_norm(a) for a in ALWAYS_EXCLUDED_APPS)


@dataclass
class ExclusionRules:
    apps: Sequence[str] = ()
    titles: Sequence[str] = ()
    self_covered: bool = False  # Memlane's unplaced windows cover themselves when unfocused
    urls: Sequence[str] = ()  # domains, or patterns with * matched against the whole address
    _apps: frozenset[str] = field(init=False, repr=False)
    _titles: tuple[re.Pattern[str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        apps = (*self.apps, *ALWAYS_EXCLUDED_APPS)
        self._apps = frozenset(_norm(a) for a in apps if _norm(a))
        compiled = []
        for pattern in self.titles:
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise ValueError(f"exclusion title pattern {pattern!r}: {exc}") from None
        self._titles = tuple(compiled)

    @classmethod
    def of(cls, privacy: PrivacySettings, *, self_covered: bool = False) -> ExclusionRules:
        """The rules ``[privacy]`` sets: apps, titles and addresses (every user of the rules
        takes all three from here, so none is forgotten)."""
        return cls(privacy.exclude_apps, privacy.exclude_titles, self_covered=self_covered,
                   urls=privacy.exclude_urls)

    def why(self, window: WindowInfo) -> str | None:
        """The rule that excludes ``window`` (for logs: the rule, never the title), or ``None``."""
        for name in window.names():
            if _norm(name) in self._apps:
                return f"app {name}"
        for pattern in self._titles:
            if pattern.search(window.title):
                return f"title matches {pattern.pattern!r}"
        if window.url:
            rule = url_rule(window.url, self.urls)
            if rule:
                return f"address matches {rule!r}"
        return None

    def hides(self, app: str, title: str, url: str = "") -> bool:
        """Whether a stored record of this app, window title and address falls under the rules
        now (for records kept from before a rule was added, shown to programs outside the app)."""
        if app and _norm(app) in self._apps:
            return True
        if title and any(p.search(title) for p in self._titles):
            return True
        return bool(url) and url_rule(url, self.urls) is not None

    def excluded(self, snapshot: Snapshot) -> dict[int, str]:
        """Window id -> reason, for every excluded window in the snapshot (with its pop-ups)."""
        active = snapshot.active.id if snapshot.active is not None else None
        out = {w.id: r for w in snapshot.windows if (r := self.why(w))
               and not (self.self_covered and not w.placed and w.id != active
                        and any(_norm(n) in _SELF for n in w.names()))}
        if snapshot.active is not None and (r := self.why(snapshot.active)):
            out[snapshot.active.id] = r
        pids = {w.pid for w in snapshot.windows if w.id in out and w.pid}
        changed = True
        while changed:  # pop-ups of pop-ups
            changed = False
            for w in snapshot.windows:
                if w.id in out:
                    continue
                if w.transient_for in out:
                    out[w.id] = "belongs to an excluded window"
                    changed = True
                elif not w.title.strip() and w.pid in pids:
                    out[w.id] = "untitled window of an excluded app"
                    changed = True
        return out


def url_rule(url: str, rules: Sequence[str]) -> str | None:
    """The first rule ``url`` falls under: a domain covers itself and its subdomains; a rule
    with ``*`` or ``/`` is a pattern over the whole address (case ignored)."""
    for rule in rules:
        rule_l = rule.strip().lower()
        if not rule_l:
            continue
        if "*" in rule_l or "/" in rule_l:
            if fnmatch.fnmatchcase(url.lower(), rule_l):
                return rule
        elif on_site(url, rule_l.lstrip(".")):
            return rule
    return None


@dataclass(frozen=True)
class MonitorPlan:
    skip: bool
    mask: np.ndarray | None  # bool HxW, True where pixels must be painted out
    covered: float  # share of the monitor painted out


def plan_monitor(
    monitor: Rect, snapshot: Snapshot, excluded: dict[int, str]
) -> MonitorPlan:
    """What to paint out of one monitor's frame, given the excluded windows."""
    if not excluded:
        return MonitorPlan(False, None, 0.0)
    mask: np.ndarray | None = None
    for i, window in enumerate(snapshot.windows):
        if window.id not in excluded:
            continue
        if not window.placed:  # somewhere on some monitor: no monitor is stored
            return MonitorPlan(True, None, 1.0)
        part = window.rect.intersect(monitor)
        if part is None:
            continue
        if mask is None:
            mask = np.zeros((monitor.height, monitor.width), dtype=bool)
        local = np.zeros_like(mask)
        local[_slices(part, monitor)] = True
        if snapshot.stacking_known:
            for above in snapshot.windows[i + 1:]:
                if above.id in excluded:
                    continue
                hidden = above.rect.intersect(part)
                if hidden is not None:
                    local[_slices(hidden, monitor)] = False
        mask |= local
    if mask is None:
        return MonitorPlan(False, None, 0.0)
    covered = float(mask.mean())
    if covered == 0.0:
        return MonitorPlan(False, None, 0.0)
    return MonitorPlan(covered >= SKIP_COVERAGE, mask, covered)


def _slices(rect: Rect, monitor: Rect) -> tuple[slice, slice]:
    return (
        slice(rect.top - monitor.top, rect.bottom - monitor.top),
        slice(rect.left - monitor.left, rect.right - monitor.left),
    )


def paint_out(pixels: np.ndarray, mask: np.ndarray, value: int = 0x202020) -> None:
    """Fill masked pixels of a HxW uint32 (BGRA/BGRX) frame in place."""
    pixels[mask] = np.uint32(value | 0xFF000000)
