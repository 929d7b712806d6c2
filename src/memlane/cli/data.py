"""Commands about the person's data as a whole: forget, export and import-archive."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from memlane.cli.common import cli, open_engine, parse_now, parse_time, progress_bar


@cli.command()
@click.option("--since", help="Only records from this time on (ISO date/time or expression).")
@click.option("--until", help="Only records before this time (ISO date/time or expression).")
@click.option("--app", help="Only this application (or chat source).")
@click.option("--query", help="Only records containing this text (case-insensitive; % and _ "
              "are themselves), or messages of a conversation so titled.")
@click.option("--id", "ids", multiple=True, help="This record, e.g. frame:12 (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Everything Memlane holds.")
@click.option("--dry-run", is_flag=True, help="Only show what would be forgotten.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@click.pass_context
def forget(
    ctx: click.Context, since: str | None, until: str | None, app: str | None,
    query: str | None, ids: tuple[str, ...], everything: bool, dry_run: bool, yes: bool,
    now: str | None,
) -> None:
    """Irrevocably delete memories and everything derived from them, leaving no remnant.

    Selectors combine (all must hold). Removes frames and thumbnails from disk, OCR text,
    messages, full-text and vector entries, and derived episodes and facts, then compacts the
    database. The deletion log keeps the scope and counts, never the content.
    """
    from memlane.memory.forget import Scope
    from memlane.memory.records import parse_record_id

    for value in ids:
        try:
            parse_record_id(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--id") from None
    ref = parse_now(now)
    scope = Scope(
        since=parse_time(since, ref, end=False, hint="--since"),
        until=parse_time(until, ref, end=True, hint="--until"),
        app=app, query=query, ids=ids, everything=everything,
    )
    if scope.is_empty():
        raise click.UsageError("say what to forget: --since/--until, --app, --query, --id or --all")
    with open_engine(ctx) as engine:
        todo, _ = engine.forget(scope, dry_run=True)
        counts = todo.counts()
        what = ", ".join(f"{n} {k.replace('_', ' ')}(s)" for k, n in counts.items()) or "nothing"
        if dry_run or not counts:
            click.echo(f"Would forget: {what}." if counts
                       else "Nothing matches; nothing forgotten.")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise click.UsageError(f"this would forget {what}; add --yes to confirm")
            click.confirm(f"Forget {what}? This cannot be undone", abort=True)
        _, report = engine.forget(todo)
    assert report is not None
    click.echo(
        f"Forgot {what}: {report.vectors_removed} vector(s) and {report.files_removed} file(s)"
        f" removed, database {report.bytes_before / 1e6:.1f} -> {report.bytes_after / 1e6:.1f} MB"
        f" in {report.seconds:.1f} s."
    )


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", help="Only records from this time on (ISO date/time or expression).")
@click.option("--until", help="Only records before this time (ISO date/time or expression).")
@click.pass_context
def export(ctx: click.Context, path: Path, since: str | None, until: str | None) -> None:
    """Write your memory (or a time range of it) to a portable zip archive.

    Safe while Memlane records: the database is copied as one consistent snapshot. The archive
    holds JSON Lines per record type, the frame images and a manifest with counts and the
    SHA-256 of every file. Restore it with `memlane import-archive`.
    """
    lo = parse_time(since, None, end=False, hint="--since")
    hi = parse_time(until, None, end=True, hint="--until")
    with open_engine(ctx) as engine:
        report = engine.export(path, since=lo, until=hi)
    counts = ", ".join(f"{n} {t}" for t, n in report.counts.items() if n)
    click.echo(f"Exported {counts or 'nothing'} and {report.files} image file(s) to {path} "
               f"({report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s).")


@cli.command("import-archive")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_archive(ctx: click.Context, path: Path) -> None:
    """Restore an archive made by `memlane export` into an empty home folder.

    Every file is checked against the archive's manifest first; a truncated or altered archive
    is refused and nothing is imported. Search works as before once vectors are rebuilt.
    """
    with open_engine(ctx) as engine, progress_bar(None, "indexing") as bar:
        report = engine.import_archive(path, bar)
    counts = ", ".join(f"{n} {t}" for t, n in report.counts.items() if n)
    click.echo(f"Imported {counts or 'nothing'} and {report.files} image file(s) from {path} "
               f"({report.seconds:.1f} s).")


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--since", help="First day (ISO date or expression); default: your first memory.")
@click.option("--until", help="Last day (ISO date or expression); default: today.")
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@click.pass_context
def journal(ctx: click.Context, folder: Path, since: str | None, until: str | None,
            now: str | None) -> None:
    """Write one Markdown file per day into FOLDER (an Obsidian or Logseq vault).

    Each day gets its digest, episodes with times and apps, what was learned and the chats,
    with memlane://frame/ID links that open the moment in the app. Running it again updates
    what it wrote and keeps anything you added around it; other files are never touched.
    """
    from memlane.memory.timeparse import day_span

    ref = parse_now(now)
    try:
        first = day_span(since, None, None, ref)[0] if since else None
        last = day_span(until, None, None, ref)[1] if until else None
    except ValueError as exc:
        raise click.UsageError(str(exc).replace("day:", "--since/--until:", 1)) from None
    if first and last and last < first:
        raise click.BadParameter(f"{last} is before {first}", param_hint="--until")
    with open_engine(ctx) as engine:
        report = engine.write_journal(folder, first, last)
    click.echo(f"{folder}: {len(report.written)} day file(s) written, {report.unchanged} "
               f"unchanged, {len(report.removed)} removed (their memories were forgotten).")
    for name in report.kept:
        click.echo(f"Kept your own {name}: it has no Memlane markers, so that day is not "
                   "written there.", err=True)
