"""Questions about a stretch of time, answered from what was made of it: episodes and day digests.

"What did I do yesterday?", "summarize last week" and "which apps did I use most on Monday" name
a period and nothing to search for in it: keyword and vector hits for "do" or "apps" are noise.
:func:`is_period_question` tells such a question by what is left of it once the time expression
and words that only ask for an account (do, happen, summarize, apps, most...) are gone.
:func:`period_hits` then gives that period's day digests (for more than a day) and its longest
or most important episodes, each with how long it lasted and the time spent in each app, so the
model reads an account of the period rather than scattered lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from memlane.memory import episodes as ep
from memlane.memory.records import Hit
from memlane.memory.store import Store

# Words that ask for an account of a period rather than name something in it.
ACCOUNT_WORDS = frozenset({
    "what", "which", "do", "did", "does", "done", "doing", "happen", "happened", "happening",
    "summarize", "summarise", "summary", "overview", "recap", "work", "worked", "working",
    "app", "apps", "application", "applications", "program", "programs", "use", "used", "using",
    "most", "spend", "spent", "time", "busy", "all", "everything", "activities", "activity",
    "computer", "screen", "up", "day", "week", "month", "morning", "afternoon", "evening",
    "night", "today", "yesterday", "last", "this", "past", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "weekend",
})
APP_WORDS = frozenset({"app", "apps", "application", "applications", "program", "programs"})
MINUTES = "minutes"  # Hit.source key: how long an episode lasted
APP_MINUTES = "app_minutes"  # Hit.source key on a digest: time per app over the period


def is_period_question(words: Iterable[str]) -> bool:
    """Whether a question's content words only ask for an account of the time it names."""
    return all(w.lower() in ACCOUNT_WORDS for w in words)


def asks_about_apps(words: Iterable[str]) -> bool:
    return any(w.lower() in APP_WORDS for w in words)


def period_hits(store: Store, since: float, until: float, limit: int,
                apps: bool = False) -> list[Hit]:
    """The period's digests (when it spans days) and its weightiest episodes, as hits.

    Episodes are ranked by minutes times importance; with ``apps`` the first digest (or, with
    none, the first episode) also carries the minutes per app over the whole period.
    """
    episodes = ep.episodes_between(store, since, until, level="episode")
    days = ep.episodes_between(store, since, until, level="day")
    if not episodes and not days:
        return []
    multi_day = (until - since) > 36 * 3600
    # the digest carries the time per app for an apps question, so it comes first then
    chosen = list(days) if multi_day else days[:1] if apps else []
    weight = sorted(episodes, key=lambda e: -(max(e.end - e.start, 60.0) * (0.5 + e.importance)))
    chosen += weight[: max(0, limit - len(chosen))]
    if not multi_day and len(chosen) < limit:
        chosen += [d for d in days if d not in chosen][: limit - len(chosen)]
    found = store.hits([("episode", e.id) for e in chosen])
    per_app: dict[str, float] = {}
    for e in episodes:
        if e.apps:
            per_app[e.apps[0]] = per_app.get(e.apps[0], 0.0) + max(e.end - e.start, 60.0) / 60
    out: list[Hit] = []
    for e in chosen:
        hit = found.get(("episode", e.id))
        if hit is None:
            continue
        source = {**hit.source, MINUTES: round((e.end - e.start) / 60.0)}
        if apps and per_app and not out:
            ranked = sorted(per_app.items(), key=lambda am: -am[1])[:6]
            source[APP_MINUTES] = {a: round(m) for a, m in ranked}
        out.append(replace(hit, source=source))
    return out


def app_minutes_text(minutes: dict[str, int]) -> str:
    def span(m: int) -> str:
        return f"{m // 60} h {m % 60} min" if m >= 60 else f"{m} min"
    return "time per app: " + ", ".join(f"{a} {span(m)}" for a, m in minutes.items())
