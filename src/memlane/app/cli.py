"""The ``memlane`` command line: a thin client that parses arguments, calls the engine, prints.

Every command has ``--help``; engine errors become one ``Error: ...`` line on stderr and the
error's exit code; long operations show a progress bar when stderr is a terminal. Heavy parts
(Chroma, onnxruntime, tesseract) load only when a command needs them, so ``--help`` is instant.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from memlane import __version__
from memlane.app.errors import MemlaneError
from memlane.app.paths import Paths, resolve_home
from memlane.memory.records import KINDS, iso
from memlane.models.prompts import CITATION

if TYPE_CHECKING:  # typing only: importing the engine loads heavy parts lazily
    from memlane.app.assistant import Answer
    from memlane.app.engine import Engine
    from memlane.memory.crypto import Keys


def _fail(exc: MemlaneError) -> NoReturn:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _ask_secret(message: str) -> str | None:
    """A passphrase: typed without echo on a terminal, else the next line of stdin."""
    if sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass(f"{message}: ") or None
        except (EOFError, KeyboardInterrupt):
            click.echo(err=True)
            return None
    line = sys.stdin.readline()
    return line.rstrip("\r\n") or None


def _keys(ctx: click.Context) -> Keys | None:
    """The unlock keys of an encrypted home (asked once per command); None when not encrypted."""
    from memlane.app.encryption import unlock_home
    from memlane.memory.crypto import Keys

    if "keys" not in ctx.obj:
        if ctx.obj.get("key_stdin"):  # the app hands its recorder the key over a pipe
            ctx.obj["keys"] = Keys.from_token(sys.stdin.readline())
        else:
            tries = 3 if sys.stdin.isatty() else 1  # a piped wrong passphrase is said at once
            ctx.obj["keys"] = unlock_home(ctx.obj["home"], _ask_secret, tries=tries)
    keys: Keys | None = ctx.obj["keys"]
    return keys


@contextmanager
def _engine(ctx: click.Context) -> Iterator[Engine]:
    from memlane.app.engine import Engine

    try:
        engine = Engine(Paths(ctx.obj["home"]), keys=_keys(ctx))
    except MemlaneError as exc:
        _fail(exc)
    try:
        yield engine
    except MemlaneError as exc:
        _fail(exc)
    finally:
        engine.close()


@contextmanager
def _progress(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="rec", file=sys.stderr, leave=False) as bar:
        yield bar.update


def _now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--now") from None
    return parsed if parsed.tzinfo else parsed.astimezone()


def _source_text(src: dict[str, Any]) -> str:
    """Where a hit came from, for people: conversation and message id, or the frame's image."""
    if src.get("type") == "message":
        return f"{src.get('conversation')} {src.get('external_id')}"
    return str(src.get("path") or src)


def _ask_line(prompt: str) -> str | None:
    """One line typed at an interactive prompt; None on an empty line, Ctrl-D or Ctrl-C."""
    try:
        line = input(prompt).strip()
    except (EOFError, KeyboardInterrupt):
        click.echo()
        return None
    return line or None


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "vnc")))


def _when(value: str | None, now: datetime | None, *, end: bool, hint: str) -> float | None:
    if value is None:
        return None
    from memlane.memory.timeparse import parse_when

    try:
        return parse_when(value, now, end=end).timestamp()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLANE_HOME",
    help="Data folder (default: the platform's user data folder; env MEMLANE_HOME).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the engine does to stderr.")
@click.option("--key-stdin", is_flag=True, hidden=True,
              help="Read the unlock key (not the passphrase) from stdin: the app's recorder.")
@click.version_option(__version__, prog_name="memlane")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, verbose: bool, key_stdin: bool) -> None:
    """Memlane: a private, searchable memory of your computer life. Nothing leaves this machine.

    Run without a command to open the desktop app (the search shell when there is no display).
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.ensure_object(dict)
    ctx.obj["home"] = resolve_home(home)
    ctx.obj["key_stdin"] = key_stdin
    if ctx.invoked_subcommand is None:
        gui = cli.commands.get("gui")  # added by memlane.main, which owns the GUI
        ctx.invoke(gui if gui is not None and _has_display() else shell)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show what Memlane holds, where, and whether OCR and embeddings work."""
    with _engine(ctx) as engine:
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
    click.echo(
        f"OCR:           {'tesseract ' + str(ocr['languages']) if ocr['available'] else 'missing'}"
    )
    emb = info["embedder"]
    click.echo(f"Embedder:      {emb['name']} ({'ready' if emb['available'] else 'missing'})")
    model = info["model"]
    ready = "ready" if model["available"] else "missing"
    click.echo(f"Local model:   {model['setting']} ({ready})")
    cap = info["capture"]
    reason = f" - {cap['reason']}" if cap["reason"] else ""
    click.echo(f"Capture:       {cap['state']}{reason}")
    today = cap["today"]
    click.echo(
        f"               today {today['stored']} frame(s) stored, {today['skipped_unchanged']}"
        f" unchanged, {today['skipped_private']} private; OCR backlog {cap['ocr_backlog']}"
    )


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
    with _engine(ctx) as engine:
        for path in paths:
            try:
                with _progress(None, f"embedding {path.name}") as bar:
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
    when = _now(at).timestamp() if at else None  # type: ignore[union-attr]
    with _engine(ctx) as engine:
        from memlane.app.ingest import expand

        files = list(expand(paths))
        with _progress(len(files), "OCR") as bar:
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
        sys.exit(3)


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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of hits.")
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON Lines file of {"query": ..., "now": ...}: one JSON line of hits each.')
@click.pass_context
def search(
    ctx: click.Context, query: str | None, since: str | None, until: str | None,
    app: str | None, kinds: tuple[str, ...], limit: int | None, now: str | None,
    as_json: bool, batch: Path | None,
) -> None:
    """Hybrid keyword + semantic search over everything Memlane remembers.

    Time expressions in the query ("yesterday", "in May 2023", "two days ago") become a filter.
    """
    if not query and not batch:
        raise click.UsageError("give a QUERY or --batch FILE")
    with _engine(ctx) as engine:
        if batch:
            _run_batch(engine, batch, kinds, limit)
            return
        ref = _now(now)
        result = engine.search(
            query or "",
            since=_when(since, ref, end=False, hint="--since"),
            until=_when(until, ref, end=True, hint="--until"),
            app=app, kinds=kinds or KINDS, limit=limit, now=ref,
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
        where = hit.app or hit.kind
        click.echo(f"{n:>2}. {iso(hit.time)[:16].replace('T', ' ')}  {hit.kind:<7} {where}")
        click.echo(f"    {hit.snippet[:300]}")
        click.echo(click.style(f"    {hit.id}  <- {_source_text(hit.source)}", dim=True))


def _run_batch(engine: Engine, batch: Path, kinds: tuple[str, ...], limit: int | None) -> None:
    for lineno, line in enumerate(batch.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            spec = json.loads(line)
            text = str(spec["query"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise click.BadParameter(f"line {lineno}: needs a JSON object with 'query'",
                                     param_hint="--batch") from None
        ref = _now(spec.get("now"))
        result = engine.search(
            text,
            since=_when(spec.get("since"), ref, end=False, hint="since"),
            until=_when(spec.get("until"), ref, end=True, hint="until"),
            app=spec.get("app"), kinds=spec.get("kinds") or kinds or KINDS,
            limit=spec.get("limit") or limit, now=ref,
        )
        click.echo(json.dumps([h.to_json() for h in result.hits], ensure_ascii=False))


def _model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
        help="GGUF model file to answer with (default: settings [model] path).",
    )(f)


def _echo_into(shown: list[str]) -> Callable[[str], None]:
    """An ``on_token`` that prints each piece as it comes and keeps it in ``shown``."""
    def echo(piece: str) -> None:
        shown.append(piece)
        click.echo(piece, nl=False)
    return echo


# Why the final answer differs from the streamed draft, by Answer.reason.
_REVISED = {
    "no answer in the evidence": "only restated the question",
    "unsupported": "used words found in no memory",
    "about someone else": "cited only someone else's memories",
}


def _print_revision(answer: Answer, streamed: str) -> None:
    """Say so when the checks replaced the answer that streamed (the draft stays on screen)."""
    if answer.stopped or " ".join(streamed.split()) == answer.text:
        return
    def words(text: str) -> str:
        return " ".join(CITATION.sub("", text).split())

    why = _REVISED.get(answer.reason) or (
        "had its citations corrected" if words(streamed) == words(answer.text)
        else "restated the question before its answer" if answer.led
        else "was corrected")
    click.echo(click.style(f"  (the draft above {why})", dim=True))
    click.echo(answer.text)


def _print_sources(answer: Answer) -> None:
    for e in answer.citations:
        when = iso(e.hit.time)[:16].replace("T", " ")
        click.echo(click.style(
            f"  [{e.n}] {when} {e.hit.id} <- {_source_text(e.hit.source)}", dim=True
        ))


@cli.command()
@click.argument("question")
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {answer, abstained, citations, model, timings} as JSON.")
@_model_option
@click.pass_context
def ask(
    ctx: click.Context, question: str, now: str | None, as_json: bool, model_path: Path | None
) -> None:
    """Answer a question from your memories with the local model, citing them as [n].

    When nothing relevant is remembered it says so instead of guessing. When the checks change
    the answer that streamed, the checked answer is printed under it with the reason. The
    question and the answer are remembered too (see [answer] remember in the settings).
    """
    ref = _now(now)
    with _engine(ctx) as engine:
        if model_path:
            engine.settings.model.path = str(model_path)
        shown: list[str] = []
        answer = engine.assistant().ask(
            question, now=ref, on_token=None if as_json else _echo_into(shown),
        )
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo()
    _print_revision(answer, "".join(shown))
    _print_sources(answer)


@cli.command()
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@_model_option
@click.pass_context
def chat(ctx: click.Context, now: str | None, model_path: Path | None) -> None:
    """Chat with the local model about your past; answers stream as they are written."""
    ref = _now(now)
    with _engine(ctx) as engine:
        if model_path:
            engine.settings.model.path = str(model_path)
        session = f"chat-{datetime.now():%Y-%m-%d-%H%M%S}"
        assistant = engine.assistant(session)
        click.echo(f"Memlane chat with {engine.model.name}, running on this machine. "
                   "Empty line or Ctrl-D to quit.")
        history: list[tuple[str, str]] = []
        while (question := _ask_line("you> ")) is not None:
            click.echo("memlane> ", nl=False)
            shown: list[str] = []
            try:
                answer = assistant.ask(question, now=ref, history=history[-2:],
                                       on_token=_echo_into(shown))
            except MemlaneError as exc:  # the model died: say so; the next question restarts it
                click.echo()
                click.echo(f"Error: {exc}", err=True)
                continue
            click.echo()
            _print_revision(answer, "".join(shown))
            _print_sources(answer)
            if not answer.abstained:
                history.append((question, answer.text))


@cli.command()
@click.option("--once", is_flag=True, help="Capture one tick, OCR it, and exit.")
@click.option("--for", "seconds", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Record for this many seconds, then finish OCR and exit.")
@click.option("--pause", "pause_minutes", type=float, is_flag=False,
              flag_value=-1.0, default=None, metavar="[MINUTES]",
              help="Pause capture (for MINUTES, or until --resume); survives restarts.")
@click.option("--resume", is_flag=True, help="Resume a paused capture.")
@click.option("--no-drain", is_flag=True, help="Exit without working off the OCR backlog.")
@click.option("--exit-with-parent", is_flag=True, hidden=True,
              help="Stop when the process that started this one dies (the app's recorder).")
@click.pass_context
def capture(
    ctx: click.Context, once: bool, seconds: float | None, pause_minutes: float | None,
    resume: bool, no_drain: bool, exit_with_parent: bool,
) -> None:
    """Record the screen: changed monitors become frames every few seconds, OCR'd in the background.

    Without options it records until interrupted (Ctrl-C). Excluded windows (settings,
    [privacy]) are never stored: focused, nothing is captured; elsewhere on screen, they are
    painted out before the frame is written. Card numbers, IBANs, keys and passwords found by
    OCR are blanked in the text and painted out of the image.
    """
    from memlane.app import capture as cap

    if sum((once, seconds is not None, pause_minutes is not None, resume)) > 1:
        raise click.UsageError("use one of --once, --for, --pause, --resume")
    if exit_with_parent:
        said = os.environ.get("MEMLANE_PARENT_PID", "")
        cap.stop_with_parent(int(said) if said.isdigit() else None)
    with _engine(ctx) as engine:
        if pause_minutes is not None:
            until = cap.pause(engine.store, None if pause_minutes < 0 else pause_minutes)
            click.echo("Capture paused " + ("until resumed (memlane capture --resume)."
                                            if until is None else f"until {iso(until)}."))
            return
        if resume:
            cap.resume(engine.store)
            click.echo("Capture resumed.")
            return

        def show(report: cap.TickReport) -> None:
            stamp = datetime.fromtimestamp(report.time).strftime("%H:%M:%S")
            what = (f"stored frame(s) {', '.join(map(str, report.stored))}" if report.stored
                    else f"{report.unchanged} unchanged, {report.private} private")
            reason = f" ({report.reason})" if report.reason else ""
            click.echo(f"{stamp} {report.state}{reason}: {what}", err=True)

        if not once and seconds is None:
            click.echo("Recording; press Ctrl-C to stop.", err=True)
        try:
            run = cap.run_recorder(
                engine, seconds=seconds, once=once, drain=not no_drain, on_tick=show
            )
        except KeyboardInterrupt:
            run = cap.RecorderRun()
        backlog = cap.OcrWorker(engine).backlog()
        click.echo(f"{run.ticks} tick(s), {run.stored} frame(s) stored, OCR backlog {backlog}.")
        if run.last is not None and run.errors == run.ticks:
            click.echo(f"Error: {run.last.reason}", err=True)
            sys.exit(7)


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the vector index from the database (the database is never changed)."""
    with _engine(ctx) as engine:
        total = engine.store.expected_vector_total() + engine.store.count_unembedded()
        with _progress(total or None, "embedding") as bar:
            n = engine.reindex(bar)
        click.echo(f"Re-embedded {n} record(s); the index holds {engine.index.count()} vector(s).")


@cli.command()
@click.pass_context
def shell(ctx: click.Context) -> None:
    """Interactive search prompt over your memory (type a question, empty line to quit)."""
    with _engine(ctx) as engine:
        counts = engine.store.counts()
        click.echo(
            f"Memlane {__version__} - {counts['frames']} frames, {counts['messages']} messages"
            f" in {engine.paths.home}. Nothing leaves this machine."
        )
        click.echo("Search your memory (empty line or Ctrl-D to quit).")
        while (query := _ask_line("memlane> ")) is not None:
            result = engine.search(query)
            if not result.hits:
                click.echo("No memories found.")
            for n, hit in enumerate(result.hits, 1):
                click.echo(f"{n:>2}. {iso(hit.time)[:16].replace('T', ' ')} {hit.kind:<7} "
                           f"{hit.snippet[:160]}")


# Commands about the data as a whole live in their own module; importing it registers them.
from memlane.app import cli_crypto, cli_data, cli_memory  # noqa: E402, F401


def main() -> None:
    cli(prog_name="memlane")
