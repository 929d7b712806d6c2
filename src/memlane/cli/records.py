"""Commands that put records in and find them: status, import-chat, ingest-image, search,
reindex."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from memlane.cli.common import cli, open_engine, parse_now, parse_time, progress_bar, source_text
from memlane.core.errors import InputError, MemlaneError
from memlane.memory.records import KINDS, iso

if TYPE_CHECKING:
    from memlane.services.engine import Engine


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show what Memlane holds, where, and whether OCR and embeddings work."""
    with open_engine(ctx) as engine:
        info = engine.status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    c = info["counts"]
    enc = info["encryption"]
    click.echo(f"Home:          {info['home']}"
               + ("  (encrypted" + (", key in the system keyring)"
                                    if enc["remembered_in_keyring"] else ")")
                  if enc["enabled"] else "  (not encrypted; `memlane encrypt` turns it on)"))
    click.echo(f"Frames:        {c['frames']} ({c['ocr_blocks']} OCR blocks)")
    click.echo(f"Conversations: {c['conversations']} ({c['messages']} messages)")
    click.echo(f"Episodes:      {c['episodes']}    Facts: {c['facts']}")
    last = info["last_frame"]
    click.echo(f"Last frame:    {iso(last) if last else 'none yet'}")
    click.echo(f"Not yet indexed for semantic search: {info['pending_vectors']}")
    disk = info["disk_bytes"]
    click.echo(
        "Disk:          database {:.1f} MB, frames {:.1f} MB, vectors {:.1f} MB".format(
            disk["database"] / 1e6, disk["frames"] / 1e6, disk["vectors"] / 1e6
        )
    )
    ocr = info["ocr"]
    reader = f"{ocr['engine']} ({ocr['languages']})" if ocr["available"] else \
        f"{ocr['engine']} is missing"
    click.echo(f"OCR:           {reader}")
    emb = info["embedder"]
    click.echo(f"Embedder:      {emb['name']} ({'ready' if emb['available'] else 'missing'})")
    model = info["model"]
    ready = "ready" if model["available"] else "missing"
    click.echo(f"Local model:   {model.get('name', model['setting'])} ({ready}) - {model['why']}")
    cap = info["capture"]
    reason = f" - {cap['reason']}" if cap["reason"] else ""
    click.echo(f"Capture:       {cap['state']}{reason}")
    if cap.get("backend"):
        click.echo(f"               recording with {cap['backend']}")
    today = cap["today"]
    click.echo(
        f"               today {today['stored']} frame(s) stored, {today['skipped_unchanged']}"
        f" unchanged, {today['skipped_private']} private; OCR backlog {cap['ocr_backlog']}"
    )
    if cap["ocr_backlog"]:
        behind = f"OCR is {_duration(cap['ocr_behind_seconds'])} behind"
        waits = f"; it waits: {cap['ocr_waiting']}" if cap["ocr_waiting"] else ""
        click.echo(f"               {behind}{waits}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@cli.command("import-chat")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", default="auto", show_default=True,
    type=click.Choice(["auto", "locomo", "chatgpt", "jsonl", "text"]),
    help="Format of the files; auto detects it.",
)
@click.pass_context
def import_chat(ctx: click.Context, paths: tuple[Path, ...], fmt: str) -> None:
    """Import chat exports: LoCoMo JSON, ChatGPT conversations.json, JSON Lines, text/Markdown.

    Each file is imported in one transaction; importing the same file again adds nothing.
    """
    failed = 0
    with open_engine(ctx) as engine:
        for path in paths:
            try:
                with progress_bar(None, f"embedding {path.name}") as bar:
                    r = engine.import_chat(path, fmt, bar)
            except MemlaneError as exc:
                click.echo(f"Error: {exc}", err=True)
                failed = failed or exc.exit_code
                continue
            click.echo(
                f"{path}: {r.conversations} conversation(s), {r.added} new message(s),"
                f" {r.skipped} already known"
            )
    if failed:
        sys.exit(failed)


@cli.command("ingest-image")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--at", "at",
    help="Time of the screenshot (ISO 8601); default: from the file name, else its mtime.",
)
@click.option("--app", default="", help="Application shown in the screenshot.")
@click.option("--title", default="", help="Window title (default: the file name).")
@click.pass_context
def ingest_image(
    ctx: click.Context, paths: tuple[Path, ...], at: str | None, app: str, title: str
) -> None:
    """OCR screenshot files or folders and store them as frames on the timeline."""
    when = parse_now(at, "--at").timestamp() if at else None  # type: ignore[union-attr]
    with open_engine(ctx) as engine:
        from memlane.services.ingest import expand

        files = list(expand(paths))
        with progress_bar(len(files), "OCR") as bar:
            report = engine.ingest_images(
                files, at=when, app=app, title=title, on_file=lambda _p: bar(1)
            )
    for line in report.errors:
        click.echo(f"Error: {line}", err=True)
    click.echo(
        f"{len(report.stored)} frame(s) stored ({report.words} words), "
        f"{len(report.skipped)} already known, {len(report.errors)} failed"
    )
    if report.errors:
        sys.exit(InputError.exit_code)


def _search_args(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--since", help="Only after this (ISO date/time or e.g. 'last week')."),
        click.option("--until", help="Only before this (ISO date/time or expression)."),
        click.option("--app", help="Only this application (or chat source)."),
        click.option("--kind", "kinds", multiple=True, type=click.Choice(list(KINDS)),
                     help="Only these record kinds (repeatable)."),
        click.option("--limit", type=click.IntRange(1, 1000), help="Number of results."),
        click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@cli.command()
@click.argument("query", required=False)
@_search_args
@click.option("--site", help="Only screens of browser tabs on this site (its subdomains too); "
              "'site:example.com' in the query does the same.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of hits.")
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON Lines file of {"query": ..., "now": ...}: one JSON line of hits each.')
@click.pass_context
def search(
    ctx: click.Context, query: str | None, since: str | None, until: str | None,
    app: str | None, kinds: tuple[str, ...], limit: int | None, now: str | None,
    site: str | None, as_json: bool, batch: Path | None,
) -> None:
    """Hybrid keyword + semantic search over everything Memlane remembers.

    Time expressions in the query ("yesterday", "in May 2023", "two days ago") become a filter,
    and so does "site:example.com" (the browser address a screen showed).
    It never waits for the semantic index: records not yet in it are found by their words, and
    how many there are is said after the results.
    """
    if not query and not batch and not site:
        raise click.UsageError("give a QUERY, --site SITE or --batch FILE")
    with open_engine(ctx) as engine:
        if batch:
            _run_batch(engine, batch, kinds, limit)
            return
        ref = parse_now(now)
        result = engine.search(
            query or "",
            since=parse_time(since, ref, end=False, hint="--since"),
            until=parse_time(until, ref, end=True, hint="--until"),
            app=app, kinds=kinds or KINDS, limit=limit, now=ref, site=site,
        )
    if as_json:
        click.echo(json.dumps([h.to_json() for h in result.hits], ensure_ascii=False, indent=2))
        return
    if result.time_range:
        click.echo(
            f"({result.time_range.text!r}: {iso(result.time_range.since_ts)} to "
            f"{iso(result.time_range.until_ts)})"
        )
    if not result.hits:
        click.echo("No memories found.")
    for n, hit in enumerate(result.hits, 1):
        where = hit.app or hit.title[:60] or hit.kind
        click.echo(f"{n:>2}. {iso(hit.time)[:16].replace('T', ' ')}  {hit.kind:<7} {where}")
        click.echo(f"    {hit.snippet[:300]}")
        click.echo(click.style(f"    {hit.id}  <- {source_text(hit.source)}", dim=True))
    if result.vector_error:
        click.echo(f"({result.vector_error}; these are keyword matches. `memlane reindex` "
                   "rebuilds the index.)", err=True)
    if result.pending:
        click.echo(f"({result.pending} record(s) are not yet in the semantic index; they are "
                   "found by their words until they are.)", err=True)


def _batch_spec(line: str, lineno: int) -> dict[str, Any]:
    """One ``--batch`` line as search arguments, or a one-line error naming the line."""
    def bad(problem: str) -> click.BadParameter:
        return click.BadParameter(f"line {lineno}: {problem}", param_hint="--batch")

    try:
        spec = json.loads(line)
    except (ValueError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("query"), str):
        raise bad("needs a JSON object with a 'query' string")
    kinds = spec.get("kinds")
    if kinds is not None and (not isinstance(kinds, list) or not set(kinds) <= set(KINDS)):
        raise bad(f"'kinds' must be a list of {', '.join(KINDS)}")
    limit = spec.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 1 <= limit <= 1000):
        raise bad("'limit' must be a whole number from 1 to 1000")
    for key in ("now", "since", "until", "app"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise bad(f"'{key}' must be a string")
    return spec


def _run_batch(engine: Engine, batch: Path, kinds: tuple[str, ...], limit: int | None) -> None:
    try:
        text = batch.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {batch}: {exc}", param_hint="--batch") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        spec = _batch_spec(line, lineno)
        ref = parse_now(spec.get("now"), f"--batch line {lineno} now")
        result = engine.search(
            spec["query"],
            since=parse_time(spec.get("since"), ref, end=False, hint=f"line {lineno} since"),
            until=parse_time(spec.get("until"), ref, end=True, hint=f"line {lineno} until"),
            app=spec.get("app"), kinds=spec.get("kinds") or kinds or KINDS,
            limit=spec.get("limit") or limit, now=ref,
        )
        click.echo(json.dumps([h.to_json() for h in result.hits], ensure_ascii=False))



@cli.command()
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=0,
              help="Run at this lower CPU priority (the recorder's batches use 10).")
@click.pass_context
def index(ctx: click.Context, niceness: int) -> None:
    """Embed the records the vector index does not hold yet (the recorder runs this in
    batches, at a low CPU priority, so it never keeps the embedder loaded)."""
    if niceness:
        os.nice(niceness)
    with open_engine(ctx) as engine:
        n = engine.sync_index()
        click.echo(f"Embedded {n} record(s); the index holds {engine.index.count()} vector(s).")


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the vector index from the database (the database is never changed)."""
    with open_engine(ctx) as engine:
        total = engine.store.expected_vector_total() + engine.store.count_unembedded()
        with progress_bar(total or None, "embedding") as bar:
            n = engine.reindex(bar)
        click.echo(f"Re-embedded {n} record(s); the index holds {engine.index.count()} vector(s).")
