"""Evidence lines as the assistant writes them, for tests of the answer checks."""

from __future__ import annotations

from datetime import datetime

from memlane.memory.records import Hit
from memlane.services.answer_lines import Evidence
from memlane.services.evidence import evidence_line


def ev(n: int, speaker: str, when: str, text: str, kind: str = "message",
       **source: object) -> Evidence:
    """Evidence line ``n`` as the assistant writes it, for a message (or a screen) at local
    time ``when``."""
    hit = Hit(f"{kind}:{n}", kind, datetime.fromisoformat(when).astimezone().timestamp(),
              "chat" if kind == "message" else "Firefox",
              "" if kind == "message" else "Flights to Lisbon",
              f"{speaker}: {text}" if speaker else text, 0.0, dict(source), speaker=speaker)
    return Evidence(n, hit, evidence_line(n, hit))
