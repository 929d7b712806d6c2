"""Answers to questions asking when, dated by the memory about them (:func:`date_answer`).

Dates are not the model's to work out: every evidence line starts with its date, and relative
expressions in what people said are followed by the date they meant. The answer takes the date
of the line about the question, said as the line said it (with the weekday the person named, a
week or a weekend as one), never as a relative expression copied from it ("3 years ago" meant
another year when it was said).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from memlane.core.text import PLAIN_WORD
from memlane.memory.timeparse import MONTH_NAMES, MONTHS, WEEKDAY_NAMES, relative_phrases
from memlane.models.prompts import CITATION
from memlane.services.answer_lines import (
    Evidence,
    affirmed,
    cited_numbers,
    only_asks,
    said_by_someone,
    stem,
    theirs,
    topic,
)
from memlane.services.evidence import SENTENCE_END, clock_text

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
_CLOCK = re.compile(r"\d:\d\d|\d\s*(?:am|pm)\b", re.IGNORECASE)
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
    if said_by_someone(e):
        for sentence in SENTENCE_END.split(body):
            spots = [m.start() for m in PLAIN_WORD.finditer(sentence) if stem(m[0]) in about]
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

    A small model asked "When did Caroline apply to adoption agencies?" cites the line where she
    was only researching them, or gives the day a line was said when it says "yesterday (21
    December 2022)". Dates are not the model's to work out. The line answering is, among the
    lines sharing the question's topic (the person's own, not only asking about it, when the
    question names one): one whose date is within the month or year the question names ("in
    July"), then the one sharing most of the topic, then one whose sentence about the topic says
    when ("two weekends ago (8 July 2023 to 9 July 2023)"), then the one the model cited. Its
    date is the bracketed date of a relative expression in its sentence about the topic
    (:func:`_when_said`), else the day the line was said; but for what happened, a dated line
    the model cited, which the same person said that day, gives its date instead (a line without
    a date goes on from it). The model's answer stands when the words it adds to the question
    about time (numbers, months, weekdays) are that date's or written in the line ("Thursday at
    3pm"; a screen's text only for what is to come) and it does not copy a relative expression
    in place of the date ("about 3 years ago" without a clock time); otherwise the answer
    becomes that date, except that the day a line was said never answers when something to come
    ("When is ...") happens, and a day without a time never answers "what time": the model's
    answer then goes on to the other checks. Either way the day is said as the line said it:
    with its weekday when the person named one ("last Friday" gives "On Friday, 20 October
    2023"), and a week or a weekend as one, not as the day it starts. Returns the answer, its
    line and whether the date is not the model's (the model's day in other words is its own), or
    ``None`` when the question does not ask when, no line shares the topic, or the model's
    answer is left to the other checks.
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
        if len(named) == 1 and (not theirs(named[0], e) or only_asks(e, about)):
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
    if past and when == _seen(chosen):
        # A line with no date of its own goes on from a dated one the same person said before it
        # that day, which the model cited ("Last weekend (5 August 2023 to 6 August 2023) I took
        # part in a charity event ..." then "I set up a 5K charity run ..."): that date tells.
        said = datetime.fromtimestamp(chosen.hit.time).astimezone().date()
        for *_, dated, was_cited, n, other_when in sorted(scored, reverse=True):
            other = next(e for e in given if e.n == n)
            if (dated and was_cited and other.hit.speaker == chosen.hit.speaker
                    and other.hit.time <= chosen.hit.time
                    and datetime.fromtimestamp(other.hit.time).astimezone().date() == said):
                line, when, chosen = n, other_when, other
                break
    # What the line's own text says of time ("moved to Thursday at 3pm"), less resolved dates;
    # a screen's text does not say when the person did something ("Fri 12 Dec" on a flights
    # page is the flight, not when they looked).
    text = _LINE_DATE.sub("", chosen.line)
    written = (_date_words(_SAID_DATE.sub("", text)) if said_by_someone(chosen)
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
    # "About 3 years ago [1]" copies what the line said, which meant 2019 then and means
    # another year to whoever reads the answer now: said as the date it meant.
    answered = CITATION.sub("", answer)
    # "Around 3 years ago", "Last month (April 2023)": what the line said from its day, copied
    # (not a word of the question's: "When did Ana last visit ...?")
    copied = [p for p in relative_phrases(answered) if p.lower() not in question.lower()]
    relative = bool(copied) and not _CLOCK.search(answered)
    if (new and (new <= meant or new <= written) and not (first_day and new <= meant)
            and not relative):
        kept = " ".join(CITATION.sub("", answer).split()).rstrip(" .")
        day = _named_weekday(chosen, when)
        if day != when and not new & _WEEKDAY_WORDS:
            kept = kept.replace(when, day, 1)  # "On 20 October 2023" -> "On Friday, 20 ..."
        return f"{kept} [{line}].", line, False
    if said_on and not past:
        return None  # the day it was said is not when something to come happens
    if _ASKS_TIME.search(question) and ":" not in when:
        return None  # a day does not say what time
    day = _named_weekday(chosen, when)
    # The same day in other words ("On Saturday (28 November 2026)", or the line's own "about 3
    # years ago") is said anew, not replaced; a week's first day is another date than the week.
    return (f"{_on(when).replace(when, day, 1)} [{line}].", line,
            first_day or not new or not new - _date_words(" ".join(copied)) <= _date_words(day))
