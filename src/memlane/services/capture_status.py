"""What the recorder is doing, as the facts in the home folder say it: its lock, its last tick,
its last stored frame, today's counts and the OCR backlog (:func:`capture_status`), for
``memlane status``, the status bar, the tray and the MCP server.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from memlane.capture.windows import display_server
from memlane.core.paths import Paths
from memlane.core.settings import Settings
from memlane.memory.jobs import JobQueue
from memlane.memory.records import iso
from memlane.memory.store import Store
from memlane.services.ocr_worker import WAITING_KEY
from memlane.services.recorder import DAY_KEY, TICK_KEY, _json_state, paused_until, recorder_pid


def capture_status(
    store: Store, settings: Settings, paths: Paths, now: float | None = None
) -> dict[str, Any]:
    """The recorder's state as facts say it: its lock, last tick, last frame, today's counts."""
    now = time.time() if now is None else now
    last = _json_state(store, TICK_KEY)
    day = _json_state(store, DAY_KEY)
    today = date.fromtimestamp(now).isoformat()
    if day.get("day") != today:
        day = {"day": today}
    interval = float(last.get("interval", settings.capture.interval_seconds)) if last else 0.0
    pause_end = paused_until(store, now)
    pid = recorder_pid(paths)
    fresh = bool(last) and now - float(last["time"]) <= 3 * interval + 10
    running = pid is not None
    if pause_end is not False:
        state = "paused"
        reason = "until resumed" if pause_end is None else f"until {iso(pause_end)}"
    elif not running:
        state = "stopped"
        reason = (
            f"the recorder is not running (last tick {iso(float(last['time']))})" if last
            else "the recorder has never run"
        )
    elif not fresh:
        state = "error"
        reason = (f"the recorder (pid {pid}) has not captured since "
                  f"{iso(float(last['time'])) if last else 'it started'}")
    else:
        state, reason = str(last["state"]), str(last["reason"])
        if state == "paused":  # resumed since that tick: the next one records
            state, reason = "recording", "resumed"
    server, _note = display_server()  # of the asking process; a recorder reports its own
    last_frame = store.sql("SELECT max(time) FROM frames WHERE origin = 'capture'")[0][0]
    midnight = datetime.combine(date.fromtimestamp(now), datetime.min.time()).timestamp()
    jobs = JobQueue(store).counts()
    oldest = store.sql("SELECT min(created) FROM jobs WHERE kind = 'ocr' AND state IN"
                       " ('queued', 'running')")[0][0]
    waiting = store.get_state(WAITING_KEY) if running else None
    return {
        "state": state,
        "reason": reason,
        "recorder_running": running,
        "recorder_pid": pid if pid and pid > 0 else None,
        "last_tick": iso(float(last["time"])) if last else None,
        "last_stored_frame": iso(float(last_frame)) if last_frame else None,
        "seconds_since_last_frame": round(now - float(last_frame), 1) if last_frame else None,
        "paused_until": (None if pause_end is False else
                         "resumed by hand" if pause_end is None else iso(pause_end)),
        "today": {
            "stored": sum(store.frame_counts_since(midnight).values()),
            "skipped_unchanged": int(day.get("unchanged", 0)),
            "skipped_private": int(day.get("private", 0)),
            "ticks_excluded": int(day.get("excluded", 0)),
            "ticks_idle": int(day.get("idle", 0)),
            "ticks_locked": int(day.get("locked", 0)),
            "ticks_waiting": int(day.get("waiting", 0)),
            "ticks_paused": int(day.get("paused", 0)),
            "errors": int(day.get("error", 0)),
        },
        "ocr_backlog": jobs.get("queued", 0) + jobs.get("running", 0),
        "ocr_failed": jobs.get("failed", 0),
        # how long the oldest frame waiting for OCR has waited, and why OCR waits (if it does)
        "ocr_behind_seconds": round(max(0.0, now - float(oldest)), 1) if oldest else 0.0,
        "ocr_waiting": waiting or None,
        "display": server,
        # how the running recorder reads the screen and its windows, and whether the person must
        # allow it first (Wayland)
        "backend": last.get("backend") if running and last else None,
        "needs_grant": bool(running and last and last.get("needs_grant")),
    }
