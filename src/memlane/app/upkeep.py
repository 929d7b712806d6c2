"""The recorder's background chores: consolidation while the person is idle, and retention.

:class:`Upkeep` is scheduled by :func:`memlane.app.capture.run_recorder` every 5 minutes on a
thread of its own. Each run opens its own :class:`Engine` (so it never shares the recorder's
database connection) and closes it, the model process included, when done. Consolidation runs
when the last tick found the person idle, the screen locked or recording paused, and at least
every 6 hours (counted from the recorder's start when it never ran); retention at most hourly.
A failing chore is logged and never stops the recorder.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from memlane.memory.store import Store

if TYPE_CHECKING:
    from memlane.app.capture import RecorderRun
    from memlane.app.engine import Engine

log = logging.getLogger(__name__)

CONSOLIDATED_KEY = "memory.last_consolidation"
RETENTION_KEY = "memory.last_retention"
CONSOLIDATE_AT_LEAST_S = 6 * 3600  # even when the person is never idle


class Upkeep:
    """Runs retention and, when due, consolidation (see the module docstring)."""

    def __init__(self, engine: Engine, recording: RecorderRun) -> None:
        self.engine = engine
        self.recording = recording
        self.started = time.time()

    def run(self, now: float | None = None) -> None:
        from memlane.app.engine import Engine

        now = time.time() if now is None else now
        with Engine(self.engine.paths, self.engine.settings, keys=self.engine.keys) as worker:
            store = worker.store
            try:
                if now - float(store.get_state(RETENTION_KEY, "0") or 0) >= 3600:
                    report = worker.apply_retention(now)
                    store.set_state(RETENTION_KEY, str(now))
                    if report.removed_anything():
                        log.info("retention: %s", report)
                if self.consolidation_due(store, now):
                    done = worker.consolidate()
                    store.set_state(CONSOLIDATED_KEY, str(now))
                    log.info("consolidated: %s", done.to_json())
            except Exception:  # a chore failing must never stop the recorder
                log.exception("background upkeep failed")

    def consolidation_due(self, store: Store, now: float) -> bool:
        minutes = self.engine.settings.memory.consolidate_minutes
        if minutes <= 0:
            return False
        # Never run: count from the recorder's start, so a busy first day is not interrupted.
        last = float(store.get_state(CONSOLIDATED_KEY, "0") or 0) or self.started
        if now - last < minutes * 60:
            return False
        tick = self.recording.last
        recent = tick.state if tick is not None else "idle"
        return recent in ("idle", "locked", "paused") or now - last >= CONSOLIDATE_AT_LEAST_S
