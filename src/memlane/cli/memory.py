"""Commands about consolidated memory: consolidate, facts and episodes.

``--json`` outputs give every record its ``sources``: the frames and messages it was derived
from, with their external ids, so any episode or fact can be traced back to the moment it came from.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any

import click

from memlane.cli.common import cli, open_engine, parse_now, parse_time


@cli.command()
@click.option("--since", help="Only records from this time on (ISO date/time or expression).")
@click.option("--until", help="Only records before this time (ISO date/time or expression).")
@click.option("--no-model", is_flag=True, help="Extractive summaries and rule-based facts only.")
@click.option("--max-model-calls", type=click.IntRange(min=0), default=None,
              help="Most model calls in this run (default: no limit when run by hand).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@click.pass_context
def consolidate(ctx: click.Context, since: str | None, until: str | None, no_model: bool,
                max_model_calls: int | None, as_json: bool, now: str | None) -> None:
    """Build episodes, day digests and facts from what is not consolidated yet.

    Runs in the background too (see [memory] in settings.toml). Safe to stop and run again:
    each episode and each chat's facts are stored whole or not at all.
    """
    ref = parse_now(now)
    lo = parse_time(since, ref, end=False, hint="--since")
    hi = parse_time(until, ref, end=True, hint="--until")
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        from tqdm import tqdm

        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()

    with open_engine(ctx) as engine:
        calls = max_model_calls if max_model_calls is not None else 10**9
        try:
            report = engine.consolidate(since=lo, until=hi, use_model=False if no_model else None,
                                        max_model_calls=calls, progress=progress)
        finally:
            for bar in bars.values():
                bar.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(
        f"Consolidated in {report.seconds:.1f} s: {report.episodes} screen and "
        f"{report.chat_episodes} chat episode(s), {report.digests} day digest(s); facts: "
        f"{report.added} added, {report.updated} updated, {report.retired} retired, "
        f"{report.confirmed} confirmed; {report.model_calls} model call(s), "
        f"{report.model_unusable} unusable.")


@cli.command()
@click.option("--all", "history", is_flag=True, help="Include updated and retired versions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, each fact with its sources.")
@click.pass_context
def facts(ctx: click.Context, history: bool, as_json: bool) -> None:
    """List what Memlane knows about you: current facts (with --all, their history too)."""
    from memlane.memory import facts as fx
    from memlane.memory.episodes import sources_of
    from memlane.services.views import fact_dicts

    with open_engine(ctx) as engine:
        if as_json:
            click.echo(json.dumps(fact_dicts(engine.store, include_history=history), indent=2,
                                  ensure_ascii=False))
            return
        rows = fx.facts(engine.store, include_history=history)
        sources = sources_of(engine.store, "fact", [r.id for r in rows])
    if not rows:
        click.echo("No facts yet. Import chats or record, then run `memlane consolidate`.")
        return
    for row in rows:
        state = "" if row.status == "current" else f" [{row.status}]"
        since = datetime.fromtimestamp(row.valid_from or row.first_seen)
        click.echo(f"fact:{row.id}  {row.text}  ({row.category}, since {since:%Y-%m-%d}, "
                   f"{len(sources[row.id])} source(s)){state}")


@cli.command()
@click.option("--day", help="Only this day (YYYY-MM-DD).")
@click.option("--digests", is_flag=True, help="List day digests instead of episodes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, each episode with its sources.")
@click.pass_context
def episodes(ctx: click.Context, day: str | None, digests: bool, as_json: bool) -> None:
    """List episodes: what you did, when and in which app, with their summaries."""
    from memlane.memory.episodes import episodes_between
    from memlane.memory.timeline import day_bounds
    from memlane.services.views import episode_dicts

    lo = hi = None
    if day is not None:
        lo, hi = day_bounds(_day(day, "--day"))
    level = "day" if digests else "episode"
    with open_engine(ctx) as engine:
        if as_json:
            click.echo(json.dumps(episode_dicts(engine.store, lo, hi, level=level), indent=2,
                                  ensure_ascii=False))
            return
        rows = episodes_between(engine.store, lo, hi, level=level)
    if not rows:
        click.echo("No episodes yet. Record or import chats, then run `memlane consolidate`.")
        return
    for r in rows:
        a, b = datetime.fromtimestamp(r.start), datetime.fromtimestamp(r.end)
        click.echo(f"episode:{r.id}  {a:%Y-%m-%d %H:%M}-{b:%H:%M}  {r.summary}")


def _day(value: str, hint: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DD", param_hint=hint) from None


@cli.command()
@click.option("--day", help="This day (YYYY-MM-DD, 'today', 'yesterday'...); default today.")
@click.option("--since", help="First day of a range (ISO date or expression such as 'last week').")
@click.option("--until", help="End of the range (ISO date or expression; default: today).")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: each day's digest, episodes, activities and conversations.")
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@click.pass_context
def timeline(ctx: click.Context, day: str | None, since: str | None, until: str | None,
             as_json: bool, now: str | None) -> None:
    """Show a day (or a range of days): its digest, episodes, screen activities and chats."""
    from memlane.services.views import timeline as build

    ref = parse_now(now)
    from memlane.memory.timeparse import day_span

    try:
        first, last = day_span(day, since, until, ref)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with open_engine(ctx) as engine:
        view = build(engine.store, first, last)
    if as_json:
        click.echo(json.dumps(view, indent=2, ensure_ascii=False))
        return
    if not view["days"]:
        click.echo(f"Nothing remembered from {first} to {last}.")
    for d in view["days"]:
        click.echo(click.style(f"{d['day']}  ({d['frames']} frame(s))", bold=True))
        if d["digest"]:
            click.echo(f"  {d['digest']}")
        for e in d["episodes"]:
            click.echo(f"  {e['start'][11:16]}-{e['end'][11:16]}  {', '.join(e['apps'])}: "
                       f"{e['summary']}")
        if not d["episodes"]:
            for a in d["activities"]:
                click.echo(f"  {a['start'][11:16]}-{a['end'][11:16]}  {a['app'] or 'unknown app'}"
                           f" - {a['title']}  ({a['frames']} frame(s))")
        for c in d["conversations"]:
            click.echo(f"  {c['start'][11:16]}-{c['end'][11:16]}  chat: {c['title']} "
                       f"({c['messages']} message(s))")
