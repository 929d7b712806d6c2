"""Plain records that cross the store's boundary: what goes in (imports, frames) and what comes out.

They are frozen dataclasses of built-in types so that capture, import parsers, the CLI and the UI
can build and read them without touching SQLite. ``KINDS`` names the searchable record kinds; a
record's public id is ``"<kind>:<rowid>"`` everywhere (search hits, Chroma ids, citations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The chat source of Memlane's own assistant: its answers are kept, but never become memories.
ASSISTANT_SOURCE = "assistant"
KINDS = ("message", "frame", "episode", "fact")
KIND_TABLES = {"message": "messages", "frame": "frames", "episode": "episodes", "fact": "facts"}
# The times a record may carry: 1900-01-01 to 3000-01-01 UTC. Every date conversion and every
# "N days before" stays valid inside this range, whatever the local time zone.
TIME_MIN = -2208988800.0
TIME_MAX = 32503680000.0


def time_ok(value: object) -> bool:
    """Whether ``value`` is seconds since the epoch that Memlane can store and show."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and TIME_MIN <= value <= TIME_MAX)


def record_id(kind: str, rowid: int) -> str:
    return f"{kind}:{rowid}"


def parse_record_id(value: str) -> tuple[str, int]:
    kind, _, rest = value.partition(":")
    rowid = rest.split(":", 1)[0]
    if kind not in KIND_TABLES or not rowid.isdigit():
        raise ValueError(f"not a record id: {value!r}")
    return kind, int(rowid)


def iso(ts: float) -> str:
    """Seconds since the epoch as local ISO 8601 with offset, to the second."""
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class MessageIn:
    external_id: str
    speaker: str
    text: str
    time: float
    role: str = "user"
    meta: dict[str, Any] | None = None  # e.g. the citations of an answer from Memlane


@dataclass(frozen=True)
class ConversationIn:
    source: str
    external_id: str
    title: str
    created: float
    messages: tuple[MessageIn, ...]


# One OCR word and its box in image pixels: (word, left, top, width, height, confidence).
WordBox = tuple[str, int, int, int, int, float]


@dataclass(frozen=True)
class OcrBlockIn:
    block: int
    text: str
    words: tuple[WordBox, ...] = ()
    confidence: float = 0.0


@dataclass(frozen=True)
class FrameIn:
    time: float
    app: str
    title: str
    image_path: str
    thumb_path: str
    width: int
    height: int
    bytes: int
    change_hash: str
    content_sha256: str | None  # of the source pixels (imports); None for captures
    monitor: int = 0
    origin: str = "capture"
    blocks: tuple[OcrBlockIn, ...] = ()
    url: str = ""  # the focused browser tab's address, when the desktop told it


def vector_ids(kind: str, rowid: int, count: int) -> list[str]:
    """The vector index's ids of a record's ``count`` chunks: ``kind:rowid:chunk``."""
    return [f"{kind}:{rowid}:{i}" for i in range(count)]


@dataclass(frozen=True)
class Document:
    """What the vector index embeds for one record: one or more text chunks and filter metadata."""

    kind: str
    rowid: int
    chunks: tuple[str, ...]
    time: float
    app: str

    def chunk_ids(self) -> list[str]:
        return vector_ids(self.kind, self.rowid, len(self.chunks))


@dataclass
class Hit:
    """One search result, with a source reference back to where it came from."""

    id: str
    kind: str
    time: float
    app: str
    title: str
    snippet: str
    score: float
    source: dict[str, Any] = field(default_factory=dict)
    role: str = ""  # for messages: user / assistant / ...
    speaker: str = ""  # for messages: who said it (the snippet starts with "speaker: ")
    # How each half of hybrid search saw it: 0-based BM25 rank, cosine distance (None: not found).
    keyword_rank: int | None = None
    vector_distance: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "time": iso(self.time),
            "app": self.app,
            "title": self.title,
            "snippet": self.snippet,
            "score": round(self.score, 6),
            "source": self.source,
        }

    def split_speaker(self) -> tuple[str, str]:
        """``("speaker: ", text)`` for a message's snippet, ``("", snippet)`` otherwise."""
        prefix = f"{self.speaker}: " if self.speaker else ""
        if prefix and self.snippet.startswith(prefix):
            return prefix, self.snippet[len(prefix):]
        return "", self.snippet
