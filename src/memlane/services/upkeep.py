"""The recorder's background chores: consolidation while the person is idle, and retention.

:class:`Upkeep` is scheduled by :func:`memlane.services.recorder.run_recorder` every 5 minutes on a
thread of its own. Each run works on an engine of its own thread (``Engine.for_thread``: its own
database connection, the recorder's loaded embedder) and closes it, the model process included,
when done. Consolidation runs
when the last tick found the person idle, the screen locked or recording paused, and at least
every 6 hours (counted from the recorder's start when it never ran); retention, clearing
finished jobs older than a day, and (when ``[journal] folder`` is set) writing yesterday's and
today's journal files, at most hourly.
A failing chore is logged and never stops the recorder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from memlane.core.settings import JournalSettings, MemorySettings
from memlane.memory.jobs import JobQueue
from memlane.memory.retention import RetentionReport
from memlane.memory.store import Store
from memlane.services.consolidate import ConsolidationReport
from memlane.services.journal import JournalReport

log = logging.getLogger(__name__)

CONSOLIDATED_KEY = "memory.last_consolidation"
RETENTION_KEY = "memory.last_retention"
JOURNAL_KEY = "journal.last_written"
CONSOLIDATE_AT_LEAST_S = 6 * 3600  # even when the person is never idle


class Chores(Protocol):
    """What one upkeep run works with: an engine of its own thread (``Engine.for_thread``)."""

    @property
    def store(self) -> Store: ...

    def apply_retention(self, now: float | None = None) -> RetentionReport: ...

    def consolidate(self) -> ConsolidationReport: ...

    def write_journal(self, folder: Path, first: date | None = None,
                      last: date | None = None) -> JournalReport: ...

    def close(self) -> None: ...


class Upkeep:
    """Runs retention and, when due, consolidation (see the module docstring)."""

    def __init__(self, settings: MemorySettings, last_state: Callable[[], str | None],
                 chores: Callable[[], Chores], journal: JournalSettings | None = None) -> None:
        self.settings = settings
        self.journal = journal or JournalSettings()
        self.last_state = last_state  # the state of the recorder's last tick, if any
        self.chores = chores
        self.started = time.time()

    def run(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        worker = self.chores()
        try:
            store = worker.store
            if now - float(store.get_state(RETENTION_KEY, "0") or 0) >= 3600:
                report = worker.apply_retention(now)
                JobQueue(store).purge_done()
                store.set_state(RETENTION_KEY, str(now))
                if report.removed_anything():
                    log.info("retention: %s", report)
            if self.consolidation_due(store, now):
                done = worker.consolidate()
                store.set_state(CONSOLIDATED_KEY, str(now))
                log.info("consolidated: %s", done.to_json())
            if self.journal.folder and now - float(store.get_state(JOURNAL_KEY, "0") or 0) >= 3600:
                today = date.fromtimestamp(now)  # yesterday's file gets the evening's last hour
                wrote = worker.write_journal(Path(self.journal.folder).expanduser(),
                                             today - timedelta(days=1), today)
                store.set_state(JOURNAL_KEY, str(now))
                log.info("journal: %s", wrote.to_json())
        except Exception:  # a chore failing must never stop the recorder
            log.exception("background upkeep failed")
        finally:
            worker.close()

    def consolidation_due(self, store: Store, now: float) -> bool:
        minutes = self.settings.consolidate_minutes
        if minutes <= 0:
            return False
        # Never run: count from the recorder's start, so a busy first day is not interrupted.
        last = float(store.get_state(CONSOLIDATED_KEY, "0") or 0) or self.started
        if now - last < minutes * 60:
            return False
        recent = self.last_state() or "idle"
        return recent in ("idle", "locked", "paused") or now - last >= CONSOLIDATE_AT_LEAST_S
