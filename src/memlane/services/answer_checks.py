"""The checks a model's draft answer goes through before anyone reads it, and the evidence it cites.

:func:`check_answer` is pure: given the question, the draft and the numbered :class:`Evidence`
lines the model was shown, it returns a :class:`Verdict`: the answer to show, or the abstention
and why (the model abstained, the draft only restates the question, its words are in no memory,
it cites only someone other than the person asked about (a line where they only ask about it,
or one naming them only in an opening greeting, is not theirs), or what it cites says nothing
of what the question is about). An answer to a question asking when is dated by the line about
it (:func:`date_answer`), not by the model's reading. Citations are moved to the lines that hold
the answer, unrelated ones removed, missing ones added, and words restating the
question cut from the front.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from memlane.core.text import PLAIN_WORD, content_words
from memlane.memory.records import Hit, iso
from memlane.memory.timeparse import MONTH_NAMES, MONTHS, WEEKDAY_NAMES
from memlane.models.prompts import (
    ABSTAIN,
    CITATION,
    adds_nothing,
    attribute,
    is_abstention,
    lead_with_answer,
    recite,
    support,
    uncite_unrelated,
)
from memlane.services.evidence import SENTENCE_END, clock_text
from memlane.services.periods import ACCOUNT_WORDS

log = logging.getLogger(__name__)

# Below this share of its new words found in the evidence, an answer counts as made up.
MIN_SUPPORT = 0.5
# Words of a question that say what kind of answer is wanted or when, not what it is about.
ASKING_WORDS = ACCOUNT_WORDS | frozenset("""
    would could should will can shall may might go going went new us any based many while since
    after before about into around using start started starting also ever still just who whom
    whose when where why how kind type sort favorite favourite style thing things get got make
    made feel feels felt like likes liked recent recently usually often one ones way ways
    something someone person people mention mentioned say said tell told main during year years
    january february march april may june july august september october november december
    """.split())  # noqa: SIM905


@dataclass
class Evidence:
    n: int
    hit: Hit
    line: str
    cited_by: str = ""  # "model", "overlap" or "" (given to the model but not cited)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "id": self.hit.id, "kind": self.hit.kind, "time": iso(self.hit.time),
                "snippet": self.hit.snippet, "source": self.hit.source, "cited_by": self.cited_by}


# A line's opening that only greets or thanks ("Thanks,", "Thanks for the tip,", "Hey", "Wow,"):
# a name after it, or opening the line, is the person spoken to. Not "Congrats," or "Sorry,":
# what follows those is about the person ("Congrats, Maria! Great job on the marathon").
_GREETING = re.compile(r"^\W*(?:(?:hi|hey|hello|(?:thanks|thank you)(?: so much)?"
                       r"(?: for [^.!?,]*(?=[.!,]))?|wow|oh|yes|yeah|dear|cool|ok|okay|aw+|"
                       r"good morning|morning|evening)\b\W*)*$", re.IGNORECASE)
# The name ends its greeting: "Maria!", "Maria," but not a list ("Maria, Ana and I").
_AFTER_NAME = re.compile(r"^(?:[!?.]|,(?!\s*(?:and\b|or\b|&|(?!I\b)[A-Z])))")
_YOU = re.compile(r"\b(?:you|your|yours|yourself)\b", re.IGNORECASE)
# A question tagged onto a statement: "... it really works, you know?", "..., isn't it great?"
_TAG = re.compile(r",\s*(?:you know|right|huh|eh|no|(?:is|are|was|were|do|does|did|have|has)"
                  r"n'?t\s+(?:it|that|they|he|she|you|we|i)\b[^,?]*)\?$", re.IGNORECASE)


def _opening_address(m: re.Match[str], text: str) -> int:
    """The length of ``text``'s opening that speaks to the name ``m`` found first ("Thanks,
    Maria! " in "Thanks, Maria! After my last run I saw ..."), 0 when it does not open that way."""
    if not _GREETING.match(text[:m.start()]) or not _AFTER_NAME.match(text[m.end():]):
        return 0
    return m.end() + 1


def _theirs(name: str, e: Evidence) -> bool:
    """Whether a line counts for a person: they said it, or it names them. A line that names
    them only in an opening greeting ("Thanks, Maria!", "Hey Jon,") counts when the rest speaks
    to them ("You won"), not when the speaker goes on about themself ("Thanks, Maria! After my
    last run I saw ...")."""
    if e.hit.speaker.lower() == name.lower():
        return True
    text = e.hit.split_speaker()[1].lstrip(". ")
    mentions = list(re.finditer(rf"\b{re.escape(name)}\b", text, re.IGNORECASE))
    if not mentions:
        return False
    opening = _opening_address(mentions[0], text)
    if opening and len(mentions) == 1:  # named only in the greeting: theirs if it says "you"
        return bool(_YOU.search(text[opening:]))
    return True


def _sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``!``, ``?`` and ellipses ("running...what about you?"), without
    bracketed notes ("[shared a photo: ...]")."""
    text = re.sub(r"\.{3}|\u2026", ". ", re.sub(r"\[[^\]]*\]", " ", text))  # no photo captions
    return [s for s in SENTENCE_END.split(text) if s.strip(" .")]


def _asks(sentence: str) -> bool:
    s = sentence.rstrip(" .\"')")
    return s.endswith("?") and not _TAG.search(s)


def only_asks(e: Evidence, about: AbstractSet[str]) -> bool:
    """Whether a line only asks about ``about`` ("What got you into running?", "Love that purple
    color! For walking or running?"): it tells what the one asked did, not what the one asking
    did. Its sentences about the topic are questions and nothing after the first of them is a
    statement ("Running? I love it, it clears my head!" tells; "..., you know?" is a statement)."""
    if not about or not _said(e):
        return False
    sentences = _sentences(e.hit.split_speaker()[1])
    first = next((i for i, s in enumerate(sentences) if about & affirmed(s)), None)
    if first is None:
        return False
    return all(_asks(s) for s in sentences[first:])


def about_someone_else(named: Sequence[str], cited: Sequence[Evidence],
                       about: AbstractSet[str] = frozenset()) -> bool:
    """Whether the question names one person but every cited memory is someone else's.

    "What did Caroline realise after her charity race?" when only Melanie ran one: a small model
    answers from Melanie's line. ``named`` are the speakers of stored conversations the question
    names; a cited line counts for the person when they said it or it names them, unless all it
    says of the question's topic ``about`` is a question (:func:`only_asks`): Caroline asking
    Melanie "What got you into running?" is Melanie's running, not hers (:func:`_theirs`).
    """
    if len(named) != 1 or not cited:
        return False
    return not any(_theirs(named[0], e) and not only_asks(e, about) for e in cited)


def their_line(name: str, answer: str, question: str, evidence: Sequence[Evidence]) -> int:
    """The number of a line of ``name``'s holding every word the answer adds to the question.

    Asked "What is Jon working on opening?", a small model answers "Opening a dance studio" and
    cites Gina's "When are you opening the studio?" rather than Jon's "Still working on opening
    a dance studio." Every added word must be in the line, and there must be two or more: one
    word ("Guitar") is too often in some line of theirs, and an answer taken from someone
    else's memory must still abstain (LoCoMo's 237 adversarial questions ask about the wrong
    person: with one word allowed, 5 of their abstentions became answers; with two or more, 1).
    A line of theirs that only asks about the topic (:func:`only_asks`) does not hold it. 0 when
    there is no such line.
    """
    new = content_words(CITATION.sub("", answer)) - content_words(question)
    about = topic(question, [name])
    return next((e.n for e in evidence if len(new) >= 2 and _theirs(name, e)
                 and not only_asks(e, about)
                 and new <= content_words(e.hit.split_speaker()[1])), 0)


def _stem(word: str) -> str:
    """A crude stem: "hiking", "hikes" and "hike" meet; "running" meets "run"."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if len(w) >= 4 and w[-1] == w[-2]:
        w = w[:-1]
    return w[:4]


def _stems(text: str, skip: frozenset[str] = frozenset()) -> set[str]:
    return {_stem(w) for w in PLAIN_WORD.findall(text)
            if len(w) > 1 and w.lower() in content_words(w) and w.lower() not in skip}


def topic(question: str, named: Sequence[str]) -> set[str]:
    """What a question is about: its content words less the people it names and the words
    that only ask (what, kind, favourite, when, yesterday...), as crude stems."""
    return _stems(question, ASKING_WORDS | {n.lower() for n in named})


def off_topic(question: str, named: Sequence[str], cited: Sequence[str]) -> bool:
    """Whether the memories an answer cites say nothing of what the question is about.

    "How does Tim feel while surfing?" answered from Tim's "I don't surf, but reading helps me
    feel free", or "What is Jon's favourite style of painting?" from his line about dance: a
    question built on a false premise gets an answer from a line about something else. The
    cited lines (with their dates and speakers) must share a stem of the question's topic.
    """
    about = topic(question, named)
    if not about or not cited:
        return False
    return not about & affirmed(" ".join(cited))


_NEGATION = re.compile(r"^(?:not|no|never|don'?t|doesn'?t|didn'?t|isn'?t|wasn'?t|haven'?t|"
                       r"hasn'?t|can'?t|cannot|won'?t|nor)$", re.IGNORECASE)


def affirmed(text: str) -> set[str]:
    """The stems of ``text`` less words just after a negation ("I don't surf")."""
    words = text.split()
    kept = [w for i, w in enumerate(words)
            if not any(_NEGATION.match(p.strip(".,!?;:")) for p in words[max(0, i - 2):i])]
    return _stems(" ".join(kept))


def cited_numbers(text: str) -> set[int]:
    """The evidence numbers ``[n]`` / ``[n,m]`` cited in ``text``."""
    return {int(n) for m in CITATION.finditer(text) for n in m[1].split(",")}


# A question asking for a time: "When did ...", "What day/year ...". ("How long ago" asks for
# a duration, which a date does not answer as asked.)
ASKS_WHEN = re.compile(
    r"^\W*(?:when\b|(?:on|in|at)?\s*(?:what|which)\s+(?:day|date|month|year|week(?:end)?|"
    r"time)\b)", re.IGNORECASE)
_ASKS_TIME = re.compile(r"\bwhat\s+time\b", re.IGNORECASE)
# A question about what happened ("When did ...", "When was ..."), not about what is to come.
_PAST = re.compile(r"\b(?:did|was|were|had|has|have)\b", re.IGNORECASE)
# "When I was in Lisbon, which museum did I see?" asks which, not when.
_ASKS_ELSE = re.compile(r"[,;]\s*(?:what|which|who|whom|where|why|how)\b", re.IGNORECASE)
# The date (and time) that starts an evidence line: "[3] Thu 22 Dec 2022, " or
# "[3] Thu 22 Dec 2022, 14:05-14:20, " (evidence.evidence_line)
_LINE_DATE = re.compile(r"^\[\d+\]\s+\S+\s+\d{1,2}\s+\S+\s+\d{4}"
                        r"(?:,\s+\d\d:\d\d(?:-\d\d:\d\d| to \S+ \d\d:\d\d)?)?")
# A relative expression's date as the evidence gives it (timeparse.describe_range), in brackets.
_SAID_DATE = re.compile(
    r"\(((?:week of )?\d{1,2} [A-Z][a-z]+ \d{4}(?: to \d{1,2} [A-Z][a-z]+ \d{4})?"
    r"|[A-Z][a-z]+ \d{4}|\d{4})\)")
_WEEKDAY_NUMBER = {d[:3].lower(): i for i, d in enumerate(WEEKDAY_NAMES)}
_WEEKDAY_WORDS = frozenset(f"d{i}" for i in _WEEKDAY_NUMBER.values())  # as _date_words writes them
# A year the question asks within ("in 2023", "May 2023"), not one naming a thing ("my 2023 tax
# return").
_ASKED_YEAR = re.compile(r"(?:\b(?:in|during|of|since)\s+|\b(?:" + "|".join(
    m[:3] for m in MONTH_NAMES) + r")[a-z]*\.?,?\s+)((?:19|20)\d\d)\b", re.IGNORECASE)


def _date_words(text: str) -> set[str]:
    """The words of ``text`` that say when: numbers ("15th" and "6pm" as "15" and "6"), months
    as their number ("m12"), weekdays ("d0" for Monday); what two ways of writing a date must
    share to be the same date."""
    out = set()
    for w in PLAIN_WORD.findall(CITATION.sub("", text)):
        low = w.lower()
        number = re.fullmatch(r"(\d+)(?:st|nd|rd|th|am|pm)?", low)
        if number:
            out.add(str(int(number[1])))
        elif any(ch.isdigit() for ch in low):
            out.add(low)
        elif low in MONTHS:
            out.add(f"m{MONTHS[low]}")
        elif low[:3] in _WEEKDAY_NUMBER and (len(low) == 3 or low.endswith("day")):
            out.add(f"d{_WEEKDAY_NUMBER[low[:3]]}")
    return out


def _asked_when(question: str) -> set[str]:
    """The months and years a question asks within ("When did Melanie go camping in July?")."""
    return ({w for w in _date_words(question) if w.startswith("m")}
            | {m[1] for m in _ASKED_YEAR.finditer(question)})


def _day(when: datetime) -> str:
    return f"{when.day} {MONTH_NAMES[when.month - 1]} {when.year}"


def _seen(e: Evidence) -> str:
    """The day a line was said or seen, with the time of day where the line gives one (a
    screen, an activity, the chat with Memlane: evidence.clock_text)."""
    day = _day(datetime.fromtimestamp(e.hit.time).astimezone())
    clock = clock_text(e.hit)
    return f"{day}, {clock}" if clock else day


def _said(e: Evidence) -> bool:
    """Whether a line is what someone said, whose relative dates the evidence resolved (a
    screen's text is left as it was read: evidence.evidence_line)."""
    return e.hit.kind != "frame" and e.hit.source.get("episode_kind") != "screen"


def _span(label: str) -> tuple[date, date] | None:
    """The first and last day a bracketed date means ("week of 1 May 2023", "May 2023")."""
    days = [date(int(y), MONTHS[m.lower()], int(d)) for d, m, y in re.findall(
        r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})", label) if m.lower() in MONTHS]
    if days:
        last = days[-1] + timedelta(days=6) if label.startswith("week of") else days[-1]
        return days[0], last
    month = re.fullmatch(r"([A-Z][a-z]+) (\d{4})", label)
    if month and month[1].lower() in MONTHS:
        first = date(int(month[2]), MONTHS[month[1].lower()], 1)
        return first, (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    if label.isdigit():
        return date(int(label), 1, 1), date(int(label), 12, 31)
    return None


def _when_said(e: Evidence, about: set[str], past: bool) -> str:
    """The date a line gives for what ``about`` names: the bracketed date of a relative
    expression in a sentence about it, the one nearest its words ("I donated my car yesterday
    (21 December 2022)"), else the day (and time, where the line gives one) it was said or
    seen. A date in another sentence is about something else ("I got into the program! Next
    month (February 2024) I'm off to Ireland"), and so is one on the wrong side of the day it
    was said: a past question is not answered by "next week", nor one about what is to come
    by "yesterday". A fact is dated by when it was last confirmed and a day's summary by its
    first activity, so neither gives a date without a bracketed one ("")."""
    body = _LINE_DATE.sub("", e.line)
    said_on = datetime.fromtimestamp(e.hit.time).astimezone().date()
    if _said(e):
        for sentence in SENTENCE_END.split(body):
            spots = [m.start() for m in PLAIN_WORD.finditer(sentence) if _stem(m[0]) in about]
            dates = [d for d in _SAID_DATE.finditer(sentence)
                     if (span := _span(d[1])) is not None
                     and (span[0] <= said_on if past else span[1] >= said_on)]
            if spots and dates:
                return min(dates, key=lambda d: min(abs(d.start() - s) for s in spots))[1]
    if e.hit.kind == "fact" or e.hit.source.get("episode_kind") == "day":
        return ""
    return _seen(e)


def _named_weekday(e: Evidence, when: str) -> str:
    """``when`` with its weekday when the line said it by the weekday ("last Friday (20 October
    2023)" gives "Friday, 20 October 2023"): the person's own word for the day is kept."""
    said = re.search(r"\b(\w+day)(?:\s+(?:morning|afternoon|evening|night))?\s*\("
                     + re.escape(when) + r"\)", e.line)
    span = _span(when)
    if not said or span is None or span[0] != span[1] \
            or _WEEKDAY_NUMBER.get(said[1].lower()[:3]) != span[0].weekday():
        return when
    return f"{said[1].capitalize()}, {when}"


def _on(when: str) -> str:
    """An answer that is a date: "On 7 May 2023", "In the week of 1 May 2023", "On the weekend
    of 8 July 2023" (a Saturday to the Sunday after it), "From 3 May 2023 to 9 May 2023"."""
    span = _span(when) if when[:1].isdigit() and " to " in when else None
    if span and span[0].weekday() == 5 and span[1] - span[0] == timedelta(days=1):
        return f"On the weekend of {when.split(' to ')[0]}"
    if span:
        return f"From {when}"
    if when[:1].isdigit() and len(when) > 4:
        return f"On {when}"
    return f"In the {when}" if when.startswith("week") else f"In {when}"


def date_answer(question: str, answer: str, given: Sequence[Evidence],
                named: Sequence[str]) -> tuple[str, int, bool] | None:
    """For a question asking when, the answer dated by the line that is about it.

    A small model asked "When did Caroline apply to adoption agencies?" cites the line where
    she was only researching them, or gives the day a line was said when it says "yesterday
    (21 December 2022)". Dates are not the model's to work out. The line answering is, among
    the lines sharing the question's topic (the person's own, not only asking about it, when
    the question names one):
    one whose date is within the month or year the question names ("in July"), then the one
    sharing most of the topic, then one whose sentence about the topic says when ("two weekends
    ago (8 July 2023 to 9 July 2023)"), then the one the model cited. Its date is the bracketed
    date of a relative expression in its sentence about the topic (:func:`_when_said`), else the
    day the line was said. The model's answer stands when the words it adds to the question
    about time (numbers, months, weekdays) are that date's or written in the line ("Thursday at
    3pm"; a screen's text only for what is to come); otherwise the answer becomes that date,
    except that the day a line was said never answers when something to come ("When is ...")
    happens, and a day without a time never answers "what time": the model's answer then goes
    on to the other checks. Either way the day is said as the line said it: with its weekday
    when the person named one ("last Friday" gives "On Friday, 20 October 2023"), and a week
    or a weekend as one, not as the day it starts. Returns the answer, its line and whether the
    date is not the model's, or ``None`` when the question does not ask when, no line shares
    the topic, or the model's answer is left to the other checks.
    """
    if not ASKS_WHEN.search(question) or _ASKS_ELSE.search(question):
        return None
    about = topic(question, named)
    if not about:
        return None
    cited = cited_numbers(answer)
    past = bool(_PAST.search(question))
    within = _asked_when(question)  # "When did Melanie go camping in July?": a July date
    scored = []
    for e in given:
        if len(named) == 1 and (not _theirs(named[0], e) or only_asks(e, about)):
            continue
        score = len(about & affirmed(_LINE_DATE.sub("", e.line)))
        when = _when_said(e, about, past) if score else ""
        if when:
            scored.append((within <= _date_words(when), score, when != _seen(e),
                           e.n in cited, e.n, when))
    if not scored:
        return None
    *_, line, when = max(scored)
    chosen = next(e for e in given if e.n == line)
    # What the line's own text says of time ("moved to Thursday at 3pm"), less resolved dates;
    # a screen's text does not say when the person did something ("Fri 12 Dec" on a flights
    # page is the flight, not when they looked).
    text = _LINE_DATE.sub("", chosen.line)
    written = (_date_words(_SAID_DATE.sub("", text)) if _said(chosen)
               else set() if past else _date_words(text))
    said_on = when == _seen(chosen)
    meant = _date_words(when)
    if said_on:  # the day it was said: its weekday too ("Thu")
        weekday = datetime.fromtimestamp(chosen.hit.time).astimezone().weekday()
        meant.add(f"d{weekday}")
    new = _date_words(answer) - _date_words(question)  # "in July" for "... in July?" says nothing
    # A week or a weekend the line means, answered with the day it starts: said as one.
    span = _span(when) if when[:1].isdigit() or when.startswith("week of") else None
    first_day = (span is not None and span[1] > span[0] and str(span[0].day) in new
                 and str(span[1].day) not in new
                 and not re.search(r"\bweek", answer, re.IGNORECASE))
    if new and (new <= meant or new <= written) and not (first_day and new <= meant):
        kept = " ".join(CITATION.sub("", answer).split()).rstrip(" .")
        day = _named_weekday(chosen, when)
        if day != when and not new & _WEEKDAY_WORDS:
            kept = kept.replace(when, day, 1)  # "On 20 October 2023" -> "On Friday, 20 ..."
        return f"{kept} [{line}].", line, False
    if said_on and not past:
        return None  # the day it was said is not when something to come happens
    if _ASKS_TIME.search(question) and ":" not in when:
        return None  # a day does not say what time
    return f"{_on(when).replace(when, _named_weekday(chosen, when), 1)} [{line}].", line, True


@dataclass(frozen=True)
class Verdict:
    """What the checks made of a draft: the answer to show, or the abstention and why.

    ``cited`` maps each evidence number the answer cites to how: ``model`` (the model cited it)
    or ``overlap`` (the checks moved or added the citation).
    """

    text: str
    abstained: bool
    reason: str = ""
    draft: str = ""
    led: bool = False
    cited: dict[int, str] = field(default_factory=dict)


def check_answer(question: str, draft: str, given: Sequence[Evidence],
                 named: Sequence[str]) -> Verdict:
    """Check a model's draft against the numbered evidence it was ``given`` (left unchanged).

    In order: the model abstained; the draft only restates the question; its words are in no
    memory; a question asking when is answered with the date of the line about it
    (:func:`date_answer`, which also places the citation); then citations are moved to the
    lines holding the answer, unrelated ones removed and missing ones added; an answer citing
    only someone other than the person the question ``named`` moves to that person's line or
    abstains; finally the words restating the question are cut from the front of the answer.
    """
    lines = [e.line for e in given]
    if is_abstention(draft):
        return Verdict(ABSTAIN, True, "model")
    if adds_nothing(draft, question):
        log.info("answer only restates the question, abstaining: %r", draft)
        return Verdict(ABSTAIN, True, "no answer in the evidence", draft=draft)
    if support(draft, question, lines) < MIN_SUPPORT:
        log.info("answer not supported by the evidence, abstaining: %r", draft)
        return Verdict(ABSTAIN, True, "unsupported", draft=draft)
    dated = date_answer(question, draft, given, named)
    if dated is not None:
        text, line, redated = dated
        cited = {line: "model" if line in cited_numbers(draft) else "overlap"}
        if redated:
            log.info("dated the answer by the line about the question: %r -> %r", draft, text)
            return Verdict(text, False, "dated", draft=draft, cited=cited)
        led = lead_with_answer(text, question)
        return Verdict(led, False, draft=text if led != text else "", led=led != text,
                       cited=cited)
    text, moved = recite(draft, question, lines)
    if moved:
        log.info("moved citations to the lines holding the answer: %s", moved)
    text, unrelated = uncite_unrelated(text, lines)
    if unrelated:
        log.info("removed citations to unrelated evidence: %s", unrelated)
    text, added = attribute(text, lines)
    added += moved
    cited = {n: "overlap" if n in added else "model" for n in cited_numbers(text)
             if 1 <= n <= len(lines)}
    evidence = [replace(e, cited_by=cited.get(e.n, "")) for e in given]
    about = topic(question, named)
    if about_someone_else(named, [e for e in evidence if e.cited_by], about) and (
            own := their_line(named[0], text, question, evidence)):
        log.info("cited someone else's line; the answer is in %s's [%d]", named[0], own)
        text = " ".join(CITATION.sub("", text).split()).rstrip(" .") + f" [{own}]."
        cited = {own: "overlap"}
        for e in evidence:
            e.cited_by = cited.get(e.n, "")
    if about_someone_else(named, [e for e in evidence if e.cited_by], about):
        log.info("answer cites only someone else's memories, abstaining: %r", text)
        return Verdict(ABSTAIN, True, "about someone else", draft=text)
    if off_topic(question, named, [e.line for e in evidence if e.cited_by]):
        log.info("the cited memories are about something else, abstaining: %r", text)
        return Verdict(ABSTAIN, True, "off topic", draft=text)
    led = lead_with_answer(text, question)
    cut = led != text
    return Verdict(led, False, draft=text if cut else "", led=cut, cited=cited)
