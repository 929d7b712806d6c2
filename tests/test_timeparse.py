"""Time expressions become deterministic ranges relative to --now."""

from __future__ import annotations

from datetime import datetime

import pytest

from memlane.memory.timeparse import parse_time_expression, parse_when, resolve_relative

NOW = datetime.fromisoformat("2026-11-22T15:30:00+01:00")  # a Sunday


@pytest.mark.parametrize(
    ("query", "since", "until", "rest"),
    [
        ("what did I do yesterday", "2026-11-21T00:00", "2026-11-22T00:00", "what did I do"),
        ("cheapest flight I looked at last Tuesday?", "2026-11-17T00:00", "2026-11-18T00:00",
         "cheapest flight I looked at ?"),
        ("what happened in May 2023", "2023-05-01T00:00", "2023-06-01T00:00", "what happened"),
        ("notes on 8 May", "2026-05-08T00:00", "2026-05-09T00:00", "notes"),
        ("the email two days ago", "2026-11-20T00:00", "2026-11-21T00:00", "the email"),
        ("bugs last week", "2026-11-09T00:00", "2026-11-16T00:00", "bugs"),
        ("3 weeks ago", "2026-10-26T00:00", "2026-11-02T00:00", ""),
        ("on 8th of May, 2023", "2023-05-08T00:00", "2023-05-09T00:00", ""),
        ("May 8th 2023", "2023-05-08T00:00", "2023-05-09T00:00", ""),
        ("this morning", "2026-11-22T05:00", "2026-11-22T12:00", ""),
        ("last weekend", "2026-11-14T00:00", "2026-11-16T00:00", ""),
        ("two weekends ago", "2026-11-07T00:00", "2026-11-09T00:00", ""),
        ("in 2023", "2023-01-01T00:00", "2024-01-01T00:00", ""),
        ("past 3 days", "2026-11-19T15:30", "2026-11-22T15:30", ""),
        ("on 2023-05-08", "2023-05-08T00:00", "2023-05-09T00:00", ""),
        ("a month ago", "2026-10-01T00:00", "2026-11-01T00:00", ""),
        ("last month", "2026-10-01T00:00", "2026-11-01T00:00", ""),
        ("in December", "2025-12-01T00:00", "2026-01-01T00:00", ""),
        ("the day before yesterday evening", "2026-11-20T18:00", "2026-11-21T00:00", ""),
        ("last Sunday", "2026-11-15T00:00", "2026-11-16T00:00", ""),
    ],
)
def test_expressions(query: str, since: str, until: str, rest: str) -> None:
    rng = parse_time_expression(query, NOW)
    assert rng is not None
    assert rng.since.isoformat()[:16] == since
    assert rng.until.isoformat()[:16] == until
    assert rng.rest == rest
    assert rng.since.utcoffset() == NOW.utcoffset()


@pytest.mark.parametrize(
    "query",
    ["may I ask something", "What did April say?", "I sat on the sun deck",
     "Did Caroline go to the LGBTQ support group?", "when did we wed"],
)
def test_no_false_positives(query: str) -> None:
    assert parse_time_expression(query, NOW) is None


def test_parse_when_accepts_iso_and_expressions() -> None:
    assert parse_when("2023-05-08", NOW).isoformat()[:10] == "2023-05-08"
    assert parse_when("2023-05-08", NOW, end=True).isoformat()[:10] == "2023-05-09"
    assert parse_when("yesterday", NOW, end=True).isoformat()[:10] == "2026-11-22"
    with pytest.raises(ValueError):
        parse_when("whenever", NOW)


def test_relative_dates_are_resolved_once() -> None:
    said = datetime(2023, 6, 9, 19, 55)
    once = resolve_relative("I gave a talk last week and signed up yesterday.", said)
    assert once == ("I gave a talk last week (week of 29 May 2023) and signed up"
                    " yesterday (8 June 2023).")
    # read again weeks later, the dates it meant when it was said stay as they were
    assert resolve_relative(once, datetime(2023, 7, 1)) == once


def test_a_weekday_told_in_the_past_is_the_one_before() -> None:
    said = datetime(2024, 1, 7, 12)  # a Sunday
    assert resolve_relative("On Friday, I got great news - I'm in the program!", said) == (
        "On Friday (5 January 2024), I got great news - I'm in the program!")
    assert resolve_relative("I won my fourth tournament on Friday!", said) == (
        "I won my fourth tournament on Friday (5 January 2024)!")
    # what is to come, or no telling which way: left as said
    for text in ("I'm flying out on Friday.", "On Friday I'll call you.",
                 "I'm so excited for the game on Friday!", "See you on Friday, I booked it.",
                 "The store is closed on Sundays.", "On Friday, we will see.",
                 "I booked a table for us on Friday.", "She said she'd visit on Saturday.",
                 "We need to talk on Monday.", "Did you want to meet on Saturday?",
                 "Meet Fred on Monday.", "Tomorrow I fly out, and on Monday I start the job I "
                 "applied for."):
        assert resolve_relative(text, said) == text, text
    # said on a Friday, "on Friday" is that day or a week before: left as said
    assert resolve_relative("I finally finished it on Friday.", datetime(2024, 1, 5, 18)) == (
        "I finally finished it on Friday.")
