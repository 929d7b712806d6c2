"""Episodes from records, without storage: cutting screen activity and chats into drafts, and
the extractive summary of a draft.

:func:`segment_frames` ends a screen episode at an app or window-title switch, a gap in time or a
jump in the text on screen (a short switch away and back is folded into the episode around it);
:func:`chat_sessions` cuts a conversation at long pauses; :func:`closed` leaves out a draft that may
still grow. Everything here is a pure function of the records it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from memlane.core.text import SUMMARY_STOP_WORDS, phrase_words, summary_content

SCREEN_GAP_S = 300.0      # a pause this long ends a screen episode
CHAT_GAP_S = 1800.0       # and a chat session
BLIP_S = 30.0             # a switch away shorter than this, and back, stays one episode
MIN_SIMILARITY = 0.12     # word-set overlap below this between frames of one window = new topic
MIN_WORDS_FOR_JUMP = 12   # only frames with this much text can show a jump
SUMMARY_WORDS = 45
KEY_PHRASES = 8



def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Item:
    """A frame or a message as consolidation reads it."""

    kind: str    # frame | message
    id: int
    time: float
    app: str     # the frame's app, or the chat's source
    title: str   # the window title, or the conversation's title
    text: str    # OCR text, or the message text
    speaker: str = ""
    group: int = 0  # the conversation id of a message
    external_id: str = ""


@dataclass
class Draft:
    """An episode before it is stored."""

    kind: str  # screen | chat
    items: list[Item] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.items[0].time

    @property
    def end(self) -> float:
        return self.items[-1].time

    @property
    def key(self) -> str:
        first = self.items[0]
        return f"{self.kind}:{first.kind}:{first.id}"

    @property
    def apps(self) -> list[str]:
        return list(dict.fromkeys(i.app for i in self.items if i.app))

    @property
    def titles(self) -> list[str]:
        counts = Counter(i.title for i in self.items if i.title)
        return [t for t, _ in counts.most_common(5)]

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(i.speaker for i in self.items if i.speaker))

    def lines(self) -> list[str]:
        """The distinct text lines, in order (a screen repeats most lines frame after frame)."""
        seen: set[str] = set()
        out = []
        for item in self.items:
            for line in item.text.splitlines():
                line = " ".join(line.split())
                if self.kind == "chat" and item.speaker:
                    line = f"{item.speaker}: {line}"
                if len(line) > 2 and line.lower() not in seen:
                    seen.add(line.lower())
                    out.append(line)
        return out

    def importance(self) -> float:
        if self.kind == "chat":
            return min(1.0, 0.4 + 0.03 * len(self.items))
        return min(1.0, 0.3 + (self.end - self.start) / 3600)


# -- segmentation ------------------------------------------------------------------------------


def segment_frames(frames: Sequence[Item], gap_s: float = SCREEN_GAP_S) -> list[Draft]:
    """Cut frames (in time order) into screen episodes; see the module docstring."""
    drafts: list[Draft] = []
    words: list[set[str]] = []
    for frame in frames:
        mine = summary_content(frame.text)
        last = drafts[-1] if drafts else None
        new = (
            last is None
            or frame.app != last.items[-1].app
            or frame.title != last.items[-1].title
            or frame.time - last.end > gap_s
            or local_day(frame.time) != local_day(last.end)
            or (len(mine) >= MIN_WORDS_FOR_JUMP and len(words[-1]) >= MIN_WORDS_FOR_JUMP
                and jaccard(mine, words[-1]) < MIN_SIMILARITY)
        )
        if new:
            drafts.append(Draft("screen"))
        drafts[-1].items.append(frame)
        words.append(mine)
    return _fold_blips(drafts, gap_s)


def _fold_blips(drafts: list[Draft], gap_s: float) -> list[Draft]:
    """A B A, with B short and the same window on both sides: one episode (alt-tab and back)."""
    out: list[Draft] = []
    i = 0
    while i < len(drafts):
        cur = drafts[i]
        if (out and i + 1 < len(drafts)
                and cur.end - cur.start <= BLIP_S
                and _same_window(out[-1], drafts[i + 1])
                and drafts[i + 1].start - out[-1].end <= gap_s
                and local_day(drafts[i + 1].start) == local_day(out[-1].end)):
            out[-1].items += cur.items + drafts[i + 1].items
            i += 2
            continue
        out.append(cur)
        i += 1
    return out


def _same_window(a: Draft, b: Draft) -> bool:
    return (a.items[-1].app, a.items[-1].title) == (b.items[0].app, b.items[0].title)


def chat_sessions(messages: Sequence[Item], gap_s: float = CHAT_GAP_S) -> list[Draft]:
    """Cut messages (by conversation, then time) into chat episodes at pauses over ``gap_s``."""
    drafts: list[Draft] = []
    for msg in messages:
        last = drafts[-1] if drafts else None
        if last is None or msg.group != last.items[-1].group or msg.time - last.end > gap_s:
            drafts.append(Draft("chat"))
        drafts[-1].items.append(msg)
    return drafts


def closed(drafts: Sequence[Draft], now: float) -> list[Draft]:
    """Drafts that can no longer grow: a later one of the same stream follows them, or their last
    record is older than the pause that ends them."""
    gaps = {"screen": SCREEN_GAP_S, "chat": CHAT_GAP_S}
    out = []
    for i, draft in enumerate(drafts):
        nxt = drafts[i + 1] if i + 1 < len(drafts) else None
        followed = nxt is not None and (
            draft.kind == "screen" or nxt.items[0].group == draft.items[0].group)
        if followed or now - draft.end > gaps[draft.kind]:
            out.append(draft)
    return out


def local_day(ts: float) -> date:
    return date.fromtimestamp(ts)


# -- extractive summaries ----------------------------------------------------------------------


def key_phrases(draft: Draft, limit: int = KEY_PHRASES) -> list[str]:
    """The words that carry an episode: frequent across its distinct lines, not UI chrome."""
    counts: Counter[str] = Counter()
    titles = summary_content(" ".join(draft.titles + draft.apps))
    speakers = {s.lower() for s in draft.speakers}
    for line in draft.lines():
        for w in set(phrase_words(line)):
            if w in SUMMARY_STOP_WORDS or len(w) < 3 or w in speakers:
                continue
            counts[w] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-(kv[1] + (0.5 if kv[0] in titles else 0)),
                                                     kv[0]))
    return [w for w, _ in ranked[:limit]]


def extractive_summary(draft: Draft, phrases: Sequence[str] | None = None) -> str:
    """A readable summary from the episode's own text: where, then its most telling lines."""
    phrases = list(phrases if phrases is not None else key_phrases(draft))
    weight = {w: len(phrases) - i for i, w in enumerate(phrases)}
    lines = draft.lines()
    scored = sorted(
        range(len(lines)),
        key=lambda i: -sum(weight.get(w, 0) for w in set(phrase_words(lines[i]))) / (
            1 + len(phrase_words(lines[i])) ** 0.5),
    )
    chosen: list[int] = []
    used = 0
    for i in scored:
        n = len(lines[i].split())
        if used and used + n > SUMMARY_WORDS:
            continue
        chosen.append(i)
        used += n
        if used >= SUMMARY_WORDS:
            break
    body = "; ".join(clip(lines[i], SUMMARY_WORDS) for i in sorted(chosen))
    if draft.kind == "chat":
        who = ", ".join(draft.speakers[:4]) or "someone"
        head = f"Chat between {who}" + (f" ({draft.apps[0]})" if draft.apps else "")
    else:
        head = ", ".join(x for x in (", ".join(draft.apps[:2]), (draft.titles or [""])[0]) if x)
        head = head or "Screen"
    return f"{head}: {body}" if body else head


def clip(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def source_text(draft: Draft, max_words: int = 400) -> str:
    """The episode's text as the model reads it: distinct lines, cut to ``max_words``."""
    out: list[str] = []
    used = 0
    for line in draft.lines():
        n = len(line.split())
        if used + n > max_words:
            out.append(clip(line, max(0, max_words - used)))
            break
        out.append(line)
        used += n
    return "\n".join(x for x in out if x)
