"""Deterministic parsing of time expressions in questions ("yesterday", "in May 2023", ...).

:func:`parse_time_expression` finds the first time expression in a query and turns it into a
half-open ``[since, until)`` range relative to ``now``, plus the query with the expression removed
so that words like "yesterday" do not pollute keyword search. No model is involved: dates are
computed in code, so "two days ago" always means the same day. ``now`` carries the time zone the
range is computed in (naive values are taken as local time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from memlane.memory.records import time_ok

MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# English names whatever the locale: these dates are read by the model in an English prompt.
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS = {
    name: i
    for i, names in enumerate(
        # Full names only: "sat", "sun" and "wed" are ordinary English words.
        [("monday",), ("tuesday",), ("wednesday",), ("thursday",), ("friday",), ("saturday",),
         ("sunday",)]
    )
    for name in names
}
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple of": 2,
    "a couple of": 2, "few": 3, "a few": 3,
}
PARTS = {"morning": (5, 12), "afternoon": (12, 18), "evening": (18, 24), "night": (18, 24)}

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?P<weekday>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")"
_NUM = r"(?P<num>\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True)) + r")"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_PART = r"(?:\s+(?P<part>morning|afternoon|evening|night))?"


@dataclass(frozen=True)
class TimeRange:
    since: datetime
    until: datetime
    text: str          # the expression as written
    rest: str          # the query without it

    @property
    def since_ts(self) -> float:
        return self.since.timestamp()

    @property
    def until_ts(self) -> float:
        return self.until.timestamp()


def _local(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now().astimezone()
    return now if now.tzinfo else now.astimezone()


def _day(d: date, tz: datetime) -> tuple[datetime, datetime]:
    start = tz.replace(year=d.year, month=d.month, day=d.day, hour=0, minute=0, second=0,
                       microsecond=0)
    return start, start + timedelta(days=1)


def _month(year: int, month: int, tz: datetime) -> tuple[datetime, datetime]:
    start = tz.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=year + 1, month=1) if month == 12 else start.replace(month=month + 1)
    return start, nxt


def _year(year: int, tz: datetime) -> tuple[datetime, datetime]:
    start = tz.replace(year=year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start.replace(year=year + 1)


def _week(d: date, tz: datetime, unit: str = "week") -> tuple[datetime, datetime]:
    """The week (Monday on) holding ``d``, or its Saturday and Sunday for ``unit`` "weekend"."""
    monday = d - timedelta(days=d.weekday())
    start, _ = _day(monday, tz)
    return start + timedelta(days=5 if unit == "weekend" else 0), start + timedelta(days=7)


def _num(value: str) -> int:
    value = value.lower()
    return int(value) if value.isdigit() else NUMBERS[value]


def _with_part(rng: tuple[datetime, datetime], part: str | None) -> tuple[datetime, datetime]:
    if not part:
        return rng
    lo, hi = PARTS[part.lower()]
    return rng[0] + timedelta(hours=lo), rng[0] + timedelta(hours=hi)


def _latest_year(month: int, day: int | None, now: datetime) -> int:
    """The most recent year in which month/day is not after ``now``."""
    probe = (month, day or 1)
    return now.year if probe <= (now.month, now.day) else now.year - 1


Handler = Callable[[re.Match[str], datetime], tuple[datetime, datetime] | None]
RULES: list[tuple[re.Pattern[str], Handler]] = []


def rule(pattern: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        RULES.append((re.compile(r"\b(?:(?:in|on|during|from|since|over)\s+)?(?:the\s+)?"
                                 + pattern + r"\b", re.IGNORECASE), fn))
        return fn
    return register


@rule(r"(?P<iso>\d{4}-\d{2}-\d{2})")
def _iso(m: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    try:
        return _day(date.fromisoformat(m["iso"]), now)
    except ValueError:
        return None


@rule(r"(?:the\s+)?day\s+before\s+yesterday" + _PART)
def _day_before(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    return _with_part(_day(now.date() - timedelta(days=2), now), m["part"])


@rule(r"yesterday" + _PART)
def _yesterday(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    return _with_part(_day(now.date() - timedelta(days=1), now), m["part"])


@rule(r"(?:today|this\s+(?P<part>morning|afternoon|evening)|tonight)")
def _today(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    part = m["part"] or ("night" if "tonight" in m[0].lower() else None)
    return _with_part(_day(now.date(), now), part)


@rule(r"(?:(?:last|past)\s+)" + _NUM + r"\s+(?P<unit>day|week|month|hour)s?")
def _past_n(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    n = _num(m["num"])
    delta = {"hour": timedelta(hours=n), "day": timedelta(days=n), "week": timedelta(weeks=n),
             "month": timedelta(days=30 * n)}[m["unit"].lower()]
    return now - delta, now


@rule(_NUM + r"\s+(?P<unit>day|weekend|week|month|year)s?\s+ago")
def _ago(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    n, unit = _num(m["num"]), m["unit"].lower()
    if unit == "day":
        return _day(now.date() - timedelta(days=n), now)
    if unit in ("week", "weekend"):
        # "two weekends ago" said on a Monday: the Saturday and Sunday of the week before last
        return _week(now.date() - timedelta(weeks=n), now, unit)
    if unit == "month":
        index = now.year * 12 + now.month - 1 - n
        return _month(index // 12, index % 12 + 1, now)
    return _year(now.year - n, now)


@rule(r"(?P<which>last|this|next)\s+(?P<unit>week|weekend|month|year)")
def _relative_unit(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    step = {"last": -1, "this": 0, "next": 1}[m["which"].lower()]
    unit = m["unit"].lower()
    if unit in ("week", "weekend"):
        return _week(now.date() + timedelta(weeks=step), now, unit)
    if unit == "month":
        index = now.year * 12 + now.month - 1 + step
        return _month(index // 12, index % 12 + 1, now)
    return _year(now.year + step, now)


@rule(r"(?P<which>last|this|past)?\s*" + _WEEKDAY + _PART)
def _weekday(m: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    target = WEEKDAYS[m["weekday"].lower()]
    back = (now.weekday() - target) % 7
    which = (m["which"] or "").lower()
    if which == "on" and back == 0:
        return None  # "on Friday" said on a Friday: that day, or a week before
    if which in ("last", "past") and back == 0:
        back = 7
    return _with_part(_day(now.date() - timedelta(days=back), now), m["part"])


@rule(_DAY + r"(?:\s+of)?\s+" + _MONTH + r"(?:,?\s+" + _YEAR + r")?")
def _day_month(m: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    return _calendar_day(m, now)


@rule(_MONTH + r"\s+" + _DAY + r"(?:,?\s+" + _YEAR + r")?")
def _month_day(m: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    return _calendar_day(m, now)


def _calendar_day(m: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    month, day = MONTHS[m["month"].lower()], int(m["day"])
    year = int(m["year"]) if m["year"] else _latest_year(month, day, now)
    try:
        return _day(date(year, month, day), now)
    except ValueError:
        return None


@rule(_MONTH + r"(?:,?\s+(?:of\s+)?" + _YEAR + r")?")
def _month_year(m: re.Match[str], now: datetime) -> tuple[datetime, datetime] | None:
    month = MONTHS[m["month"].lower()]
    # A bare month name is often a verb or a name ("may", "April"): require "in" or a year.
    if not m["year"] and not re.match(r"(?:in|during|since|from)\s", m[0], re.IGNORECASE):
        return None
    year = int(m["year"]) if m["year"] else _latest_year(month, None, now)
    return _month(year, month, now)


@rule(r"(?:in|during)\s+" + _YEAR)
def _in_year(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    return _year(int(m["year"]), now)


def parse_time_expression(query: str, now: datetime | None = None) -> TimeRange | None:
    """The first time expression in ``query`` as a range, or ``None`` if there is none."""
    ref = _local(now)
    best: tuple[int, re.Match[str], tuple[datetime, datetime]] | None = None
    for pattern, handler in RULES:
        for match in pattern.finditer(query):
            try:
                rng = handler(match, ref)
            except (OverflowError, ValueError):  # "past 999999999 days": no date that far
                rng = None
            if rng is None or not all(time_ok(t.timestamp()) for t in rng):
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), match, rng)
            break
    if best is None:
        return None
    _, match, (since, until) = best
    rest = re.sub(r"\s{2,}", " ", (query[: match.start()] + " " + query[match.end():])).strip()
    return TimeRange(since, until, match[0].strip(), rest)


class NotIso(ValueError):
    """The value is not an ISO 8601 date or time at all."""


def parse_iso(value: str, *, next_day: bool = False) -> datetime:
    """An ISO 8601 date or time (naive = local; ``Z`` = UTC) inside the years 1900-3000.

    With ``next_day``, a bare date means the end of that day. :class:`NotIso` when it is not
    ISO 8601; :class:`ValueError` when it is out of range.
    """
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise NotIso(f"{value[:80]!r} is not an ISO 8601 time") from None
    try:
        if next_day and len(value.strip()) <= 10:
            parsed += timedelta(days=1)
        parsed = parsed if parsed.tzinfo else parsed.astimezone()
        if time_ok(parsed.timestamp()):
            return parsed
    except (OverflowError, ValueError, OSError):
        pass
    raise ValueError(f"{value[:80]!r} is outside the years 1900-3000")


def parse_when(value: str, now: datetime | None = None, *, end: bool = False) -> datetime:
    """A ``--since``/``--until`` value: ISO date or time, or a time expression."""
    try:
        return parse_iso(value, next_day=end)
    except NotIso:
        rng = parse_time_expression(value, _local(now))
        if rng is None:
            raise ValueError(f"not a date or time expression: {value[:80]!r}") from None
        return rng.until if end else rng.since


def day_span(day: str | None, since: str | None, until: str | None,
             now: datetime | None = None) -> tuple[date, date]:
    """The first and last local day meant by a day, or by a since/until pair (default today).

    Each value is an ISO date or time or an expression ("yesterday", "last week"); an end that
    falls at midnight belongs to the day before. A bad value raises ValueError naming it."""
    def when(value: str, name: str, end: bool) -> date:
        try:
            moment = parse_when(value, now, end=end)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if moment.tzinfo is not None:  # an explicit offset: the local day it falls on
            moment = moment.astimezone()
        return (moment - timedelta(microseconds=1)).date() if end else moment.date()

    if day is not None:
        if since is not None or until is not None:
            raise ValueError("give a day or since/until, not both")
        return when(day, "day", False), when(day, "day", True)
    today = _local(now).date()
    first = when(since, "since", False) if since is not None else today
    last = when(until, "until", True) if until is not None else today
    if last < first:
        raise ValueError(f"until ({last}) is before since ({first})")
    return first, last


# Rules whose meaning depends on when something was said, in the order they are tried.
_RELATIVE = (_day_before, _yesterday, _today, _past_n, _ago, _relative_unit)
_LAST_WEEKDAY = re.compile(r"\b(?P<which>last)\s+" + _WEEKDAY + _PART + r"\b", re.IGNORECASE)
# What follows an expression already resolved: " (7 May 2023)", " (week of 1 May 2023)".
_RESOLVED = re.compile(r"\s*\([^()]*\b\d{4}\)")
# "On Friday" may point either way; told in the past ("On Friday, I got great news") it is the
# last Friday before the day it was said. Told in the past: someone (I, we, she...) did something
# in the clause, nothing in the sentence is about what is to come, and nothing arranges a day
# ahead ("I booked a table for Friday", "She said she'd come on Saturday").
_ON_WEEKDAY = re.compile(r"\b(?P<which>on)\s+" + _WEEKDAY + _PART + r"\b", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.!?,;]|\s[-\u2013\u2014]\s")
_FUTURE = re.compile(
    r"\b(?:will|would|shall|should|going\s+to|gonna|wanna|want|wants|need|needs|tomorrow|next|"
    r"plan(?:s|ning)?|hope|hoping|can'?t\s+wait|looking\s+forward|until|till|free|"
    r"(?:am|is|are)\s+\w+ing)\b|'ll\b|'d\b|'(?:m|re|s)\s+\w+ing\b", re.IGNORECASE)
_ARRANGES = re.compile(
    r"\b(?:booked|scheduled|planned|arranged|signed|registered|reserved|invited|told|said|"
    r"decided|asked|agreed|promised|wanted|hoped|needed|set\s+up|moved|postponed)\b",
    re.IGNORECASE)
_DID = re.compile(
    r"\b(?:i|we|he|she|they|you)\s+(?:\w+ly\s+|just\s+|also\s+|even\s+)?(?:got|went|had|did|won|"
    r"made|saw|met|took|came|ran|bought|found|felt|gave|left|lost|heard|wrote|began|became|sent|"
    r"spent|brought|caught|held|kept|ate|drove|flew|swam|sang|slept|woke|broke|fell|sold|"
    r"(?-i:[a-z]{3,}(?<!e)ed))\b", re.IGNORECASE)


def _told_as_past(text: str, at: int, end: int) -> bool:
    """Whether ``text[at:end]`` ("on Friday") is told in the past (see ``_DID``): its clause, or
    the clause after it when the clause is only the weekday ("On Friday, I got great news"),
    says someone did something, and its sentence, not a question, says nothing of what is to
    come ("Tomorrow I fly out, and on Monday I start") nor arranges a day ahead."""
    start = max((m.end() for m in _CLAUSE_END.finditer(text, 0, at)), default=0)
    ends = [m.start() for m in _CLAUSE_END.finditer(text, end)]
    stop = ends[0] if ends else len(text)
    if not text[start:at].strip() and not text[end:stop].strip():
        stop = ends[1] if len(ends) > 1 else len(text)
    first = max((m.end() for m in re.finditer(r"[.!?]", text[:at])), default=0)
    last = re.search(r"[.!?]+", text[end:])
    sentence = text[first:end + last.end()] if last else text[first:]
    return (bool(_DID.search(text[start:stop])) and not sentence.rstrip().endswith("?")
            and not _FUTURE.search(sentence) and not _ARRANGES.search(sentence))


def describe_range(since: datetime, until: datetime) -> str:
    """A short human date for a range: "7 May 2023", "week of 1 May 2023", "May 2023", ..."""
    last = until - timedelta(microseconds=1)
    days = (until.date() - since.date()).days

    def day(d: datetime) -> str:
        return f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}"

    if since.time() != datetime.min.time() and until.time() != datetime.min.time():
        return f"{day(since)} to {day(last)}" if days else day(since)
    if days <= 1:
        return day(since)
    if days == 7 and since.weekday() == 0:
        return f"week of {day(since)}"
    if since.day == 1 and last.day == (until - timedelta(days=1)).day and days in range(28, 32):
        return f"{MONTH_NAMES[since.month - 1]} {since.year}"
    if since.month == 1 and since.day == 1 and days in (365, 366):
        return f"{since.year}"
    return f"{day(since)} to {day(last)}"


def resolve_relative(text: str, when: datetime) -> str:
    """``text`` with each relative time expression followed by the date it meant at ``when``.

    "I went yesterday" said on 8 May 2023 becomes "I went yesterday (7 May 2023)", so a model
    reading it never has to do date arithmetic. Absolute dates are left as they are, and so are
    weekdays without "last", which may point forwards or backwards, unless "on <weekday>" is
    told in the past (``_told_as_past``: "On Friday, I got great news" is the Friday before). An
    expression already followed by its date in brackets is left too: a fact resolved when it was
    read keeps the day it was said.
    """
    out, at = [], 0
    for _, end, label in _relative_spans(text, when):
        out.append(text[at:end] + f" ({label})")
        at = end
    return "".join(out) + text[at:]


def relative_dates(text: str, when: datetime) -> list[str]:
    """The dates :func:`resolve_relative` would add to ``text``, in order ("7 May 2023")."""
    return [label for _, _, label in _relative_spans(text, when)]


def relative_phrases(text: str) -> list[str]:
    """The expressions of ``text`` that say when from the day they were said, as written ("3
    years ago", "last month", "last Friday"): those :func:`resolve_relative` resolves, less "on
    Friday", which may be said of a day still to come."""
    patterns = [p for p, h in RULES if h in _RELATIVE] + [_LAST_WEEKDAY]
    return [m[0].strip() for p in patterns for m in p.finditer(text)]


def _relative_spans(text: str, when: datetime) -> list[tuple[int, int, str]]:
    ref = _local(when)
    spans: list[tuple[int, int, str]] = []
    patterns = [(p, h) for p, h in RULES if h in _RELATIVE]
    patterns += [(_LAST_WEEKDAY, _weekday), (_ON_WEEKDAY, _weekday)]
    for pattern, handler in patterns:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e, _ in spans) \
                    or _RESOLVED.match(text, match.end()) \
                    or (pattern is _ON_WEEKDAY
                        and not _told_as_past(text, match.start(), match.end())):
                continue
            rng = handler(match, ref)
            if rng is not None:
                spans.append((match.start(), match.end(), describe_range(*rng)))
    return sorted(spans)
