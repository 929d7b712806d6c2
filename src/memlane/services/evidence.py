"""What the model reads about each memory: one numbered line, focused, dated, and not repeated.

:func:`evidence_line` writes a hit as the model sees it: the date (and time where it means
something), where it came from (a chat, a screen with its app and window title, an activity, a
known fact) and its text cut to the part that shares most with the question (:func:`focus`).
What people said gets its relative dates resolved; a screen's text is interface text and stays
as read, and is never blank (:func:`screen_text`). :func:`dedupe` drops exact repeats,
:func:`fold_screens` folds the frames of one activity into one line with its time span, and
:func:`stood_in_for` says when a fact already says all that the message it came from said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from memlane.core.text import PLAIN_WORD, content_words
from memlane.memory.records import ASSISTANT_SOURCE, Hit
from memlane.memory.timeparse import (
    MONTH_NAMES,
    WEEKDAY_NAMES,
    relative_dates,
    resolve_relative,
)
from memlane.services.periods import APP_MINUTES, MINUTES, app_minutes_text

# Longest evidence text, in words: a longer one keeps the sentences that share most words with
# the question (and their neighbours), so more memories fit the context budget.
EVIDENCE_WORDS = 32
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")  # where one sentence ends and the next begins
# Screens of one activity: the same window within this many seconds, or this much of their
# words shared on one day (see fold_screens).
FOLD_WINDOW_S = 15 * 60.0
FOLD_OVERLAP = 0.5
FOLDED = "folded_until"


def where_text(hit: Hit) -> str:
    if hit.kind == "episode" and hit.source.get("episode_kind") == "day":
        return "summary of the day"
    if hit.kind == "episode":
        minutes = hit.source.get(MINUTES)
        lasted = f", {minutes} min" if isinstance(minutes, int) and minutes > 0 else ""
        return "activity" + (f", {hit.app}" if hit.app else "") + lasted
    if hit.kind == "fact":
        return "known fact"
    if hit.kind == "message":
        return "chat with Memlane" if hit.app == ASSISTANT_SOURCE else "chat"
    if hit.kind == "frame":
        return "screen, " + " - ".join(x for x in (hit.app, hit.title) if x) if (
            hit.app or hit.title) else "screen"
    return hit.kind


def _stems(words: Sequence[str]) -> set[str]:
    # A cheap stem (first 5 letters) so "camping" meets "camp" and "adopted" meets "adoption".
    return {w.lower()[:5] for w in words if w.lower() in content_words(w)}


def focus(text: str, query: str, limit: int = EVIDENCE_WORDS) -> str:
    """``text`` cut to at most ``limit`` words around what it shares with ``query``.

    Whole sentences are kept where they fit: the one sharing most words with the query, then its
    neighbours (the next one first: answers tend to follow the sentence that names the topic).
    Without a shared word the text's start is kept. Gaps are marked with "...".
    """
    words = text.split()
    if len(words) <= limit:
        return text
    asked = _stems(PLAIN_WORD.findall(query))
    sentences = [s.split() for s in SENTENCE_END.split(text) if s.strip()]

    def shared(ws: Sequence[str]) -> int:
        return len(asked & _stems(PLAIN_WORD.findall(" ".join(ws))))

    best = max(range(len(sentences)), key=lambda i: (shared(sentences[i]), -i))
    if len(sentences[best]) > limit:  # one long sentence (or OCR text): a window on the match
        hit = next((i for i, w in enumerate(sentences[best]) if shared([w])), 0)
        start = max(0, min(hit - limit // 3, len(sentences[best]) - limit))
        window = sentences[best][start:start + limit]
        return ("... " if start or best else "") + " ".join(window) + (
            " ..." if start + limit < len(sentences[best]) or best < len(sentences) - 1 else "")
    lo = hi = best
    used = len(sentences[best])
    while True:
        grew = False
        for nxt in (hi + 1, lo - 1):
            if 0 <= nxt < len(sentences) and not lo <= nxt <= hi \
                    and used + len(sentences[nxt]) <= limit:
                used += len(sentences[nxt])
                lo, hi = min(lo, nxt), max(hi, nxt)
                grew = True
                break
        if not grew:
            break
    kept = " ".join(" ".join(s) for s in sentences[lo:hi + 1])
    return ("... " if lo else "") + kept + (" ..." if hi < len(sentences) - 1 else "")


def evidence_line(n: int, hit: Hit, query: str = "") -> str:
    """One numbered memory: date, where it came from, and its text.

    Chat messages give the day only (imported sessions carry one time for a whole session, and
    a model copies the time of day into answers); screen activity and the chat with Memlane give
    the time as well. Relative dates in what people said are resolved ("yesterday (7 May
    2023)"); a screen's text is interface text ("Today's Deals") and is left as it was read. A
    screen folded with its near-duplicates (:func:`fold_screens`) gives the span it was seen.
    """
    when = datetime.fromtimestamp(hit.time).astimezone()
    prefix, body = hit.split_speaker()
    if hit.kind == "frame" or hit.source.get("episode_kind") == "screen":
        text = screen_text(body, query)
    elif APP_MINUTES in hit.source:  # a period's account: what it says, then time per app
        text = focus(body, query) + " " + app_minutes_text(hit.source[APP_MINUTES])
    else:
        text = prefix + resolve_relative(focus(body, query), when)
    chat = hit.kind == "message" and hit.app != ASSISTANT_SOURCE
    where = "" if chat else f" ({where_text(hit)})"
    clock = clock_text(hit)
    # English names whatever the locale (the prompt is English; the app's locale may not be)
    return (f"[{n}] {WEEKDAY_NAMES[when.weekday()][:3]} {when.day} "
            f"{MONTH_NAMES[when.month - 1][:3]} {when.year}{', ' + clock if clock else ''},"
            f"{where} {text}")


def clock_text(hit: Hit) -> str:
    """The time of day a memory's line gives: "14:05", "14:05-14:20" for screens folded into one
    moment (or "... to Fri 09:10" across days); "" for a chat message, whose imported time is
    often the session's, not the message's."""
    if hit.kind == "message" and hit.app != ASSISTANT_SOURCE:
        return ""
    when = datetime.fromtimestamp(hit.time).astimezone()
    clock = f"{when:%H:%M}"
    until = hit.source.get(FOLDED)
    if until:
        end = datetime.fromtimestamp(float(until)).astimezone()
        clock += (f"-{end:%H:%M}" if end.date() == when.date()
                  else f" to {WEEKDAY_NAMES[end.weekday()][:3]} {end:%H:%M}")
    return clock


def screen_text(text: str, query: str, limit: int = EVIDENCE_WORDS) -> str:
    """A screen's OCR text around the words that matched ``query``; never an empty line.

    Marks that read as no word ("|", "...", rules and borders) are dropped first: a screen full
    of them once reached the model as "... ...".
    """
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    if not words:
        return "(no text was read on this screen)"
    return focus(" ".join(words), query, limit)


def stood_in_for(hit: Hit, facts: dict[str, Hit], taken: dict[str, list[int]]) -> bool:
    """Whether one of ``facts`` (by id) was taken from ``hit`` and says all it needs to.

    ``taken`` maps a record to the facts taken from it (:func:`taken_from`). A fact stands in
    for its message unless a date the message's relative words meant is missing from it: "I
    went to a support group yesterday" said on 8 May 2023 is the only line that says 7 May when
    the fact reads "Caroline attended a support group recently". With LoCoMo's own observations
    as facts, keeping such messages changed 13 of conversation 0's 37 temporal answers, 10 of
    them for the better (F1 35.1 -> 45.5).
    """
    def dated(h: Hit) -> str:
        return resolve_relative(h.split_speaker()[1], datetime.fromtimestamp(h.time).astimezone())

    standing = [facts[f"fact:{f}"] for f in taken.get(hit.id, []) if f"fact:{f}" in facts]
    if not standing:
        return False
    dates = relative_dates(hit.split_speaker()[1], datetime.fromtimestamp(hit.time).astimezone())
    return any(all(d in dated(f) for d in dates) for f in standing)


def dedupe(hits: Sequence[Hit]) -> list[Hit]:
    """Drop hits whose text repeats one already kept (re-imports, unchanged screens)."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = " ".join(sorted(content_words(hit.snippet))) or hit.id
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out




def _words(hit: Hit) -> set[str]:
    return content_words(hit.snippet)


def fold_screens(hits: Sequence[Hit], window_s: float = FOLD_WINDOW_S,
                 overlap: float = FOLD_OVERLAP) -> list[Hit]:
    """Fold screens that repeat one activity into the best-ranked of them.

    Two frames are one moment when they show the same app and window title within
    ``window_s`` of each other, or when their words overlap by at least ``overlap`` (Jaccard)
    on the same day: a page scrolled a little, a document typed into. The kept frame's line then
    gives the time span it covered (``source["folded_until"]``), and the others' places in the
    evidence budget go to other moments. Other kinds of hit pass through unchanged.
    """
    kept: list[Hit] = []
    spans: dict[str, tuple[float, float]] = {}
    words: dict[str, set[str]] = {}
    for hit in hits:
        if hit.kind != "frame":
            kept.append(hit)
            continue
        mine = _words(hit)
        home = None
        for other in kept:
            if other.kind != "frame":
                continue
            lo, hi = spans[other.id]
            near = min(abs(hit.time - lo), abs(hit.time - hi)) <= window_s
            same_window = near and (hit.app, hit.title) == (other.app, other.title)
            theirs = words[other.id]
            union = len(mine | theirs)
            similar = bool(union) and len(mine & theirs) / union >= overlap and (
                datetime.fromtimestamp(hit.time).date()
                == datetime.fromtimestamp(other.time).date())
            if same_window or similar:
                home = other
                break
        if home is None:
            kept.append(hit)
            spans[hit.id] = (hit.time, hit.time)
            words[hit.id] = mine
        else:
            lo, hi = spans[home.id]
            spans[home.id] = (min(lo, hit.time), max(hi, hit.time))
            words[home.id] |= mine
    out = []
    for hit in kept:
        if hit.kind == "frame" and spans[hit.id] != (hit.time, hit.time):
            lo, hi = spans[hit.id]
            # the line starts at the earliest frame of the moment and gives its end
            hit = replace(hit, time=lo, source={**hit.source, FOLDED: hi})
        out.append(hit)
    return out
