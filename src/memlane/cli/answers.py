"""Commands that answer from memory with the local model: ask, chat, and the search shell."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from memlane import __version__
from memlane.cli.common import ask_line, cli, open_engine, parse_now, source_text
from memlane.core.errors import MemlaneError
from memlane.memory.records import iso
from memlane.models.prompts import CITATION

if TYPE_CHECKING:
    from memlane.services.assistant import Answer


def _model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--model", "model_path", metavar="MODEL",
        help="small, large, auto, or a GGUF file to answer with (default: settings [model] "
             "path).",
    )(f)


@cli.command()
@click.option("--measure", is_flag=True,
              help="Measure this machine again now and save the pick (loads each model).")
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON.")
@click.pass_context
def models(ctx: click.Context, measure: bool, as_json: bool) -> None:
    """The embedded answering models, which one answers on this machine, and why.

    With [model] path = "auto" the app measures the machine once: the larger model answers when
    its first token comes within [model] latency_budget_s and its memory is free.
    """
    from memlane.models.registry import EMBEDDED, installed
    from memlane.services import model_setup

    with open_engine(ctx) as engine:
        if measure:
            choice = model_setup.measure(engine.paths, engine.settings, progress=click.echo)
            click.echo(f"Chose {EMBEDDED[choice.key].label}: {choice.why}.")
        status = model_setup.model_status(engine.paths, engine.settings)
        embedded: list[dict[str, Any]] = [
            {"key": m.key, "name": m.label, "size_bytes": m.size,
             "installed": installed(m, engine.paths.models)} for m in EMBEDDED.values()]
    if as_json:
        click.echo(json.dumps({"answering": status, "embedded": embedded}, indent=1))
        return
    for m in embedded:
        state = "installed" if m["installed"] else "not installed"
        click.echo(f"{m['key']:<6} {m['name']} ({m['size_bytes'] / 1e9:.2f} GB, {state})")
    click.echo(f"Answers with:  {status.get('name', status['setting'])} - {status['why']}")
    click.echo(f"Writes memories with: {status.get('memory_model', status['setting'])}")
    for key, seconds in status.get("measured_first_token_s", {}).items():
        click.echo(f"Measured:      {EMBEDDED[key].label}: first token {seconds:.1f} s")


def _echo_into(shown: list[str]) -> Callable[[str], None]:
    """An ``on_token`` that prints each piece as it comes and keeps it in ``shown``."""
    def echo(piece: str) -> None:
        shown.append(piece)
        click.echo(piece, nl=False)
    return echo


def _print_revision(answer: Answer, streamed: str) -> None:
    """Say so when the checks replaced the answer that streamed (the draft stays on screen), and
    when the answer is a judgement the memories lead to rather than something they say."""
    from memlane.services.assistant import JUDGEMENT_NOTE, REPLACED_BECAUSE

    if answer.stopped:
        return
    if " ".join(streamed.split()) != answer.text:
        def words(text: str) -> str:
            return " ".join(CITATION.sub("", text).split())

        why = REPLACED_BECAUSE.get(answer.reason) or (
            "had its citations corrected" if words(streamed) == words(answer.text)
            else "restated the question before its answer" if answer.led
            else "was corrected")
        click.echo(click.style(f"  (the draft above {why})", dim=True))
        click.echo(answer.text)
    if answer.reason == "judgement" and not answer.abstained:
        click.echo(click.style(f"  ({JUDGEMENT_NOTE})", dim=True))


def _print_sources(answer: Answer) -> None:
    for e in answer.citations:
        when = iso(e.hit.time)[:16].replace("T", " ")
        click.echo(click.style(
            f"  [{e.n}] {when} {e.hit.id} <- {source_text(e.hit.source)}", dim=True
        ))


@cli.command()
@click.argument("question")
@click.option("--now", help="Treat this ISO time as now for 'yesterday' and the like.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {answer, abstained, citations, model, timings} as JSON.")
@_model_option
@click.pass_context
def ask(
    ctx: click.Context, question: str, now: str | None, as_json: bool, model_path: str | None
) -> None:
    """Answer a question from your memories with the local model, citing them as [n].

    When nothing relevant is remembered it says so instead of guessing. When the checks change
    the answer that streamed, the checked answer is printed under it with the reason; a yes, a
    no or a choice the memories lead to ("Would I ...?") is marked as a judgement. The
    question and the answer are remembered too (see [answer] remember in the settings).
    """
    ref = parse_now(now)
    with open_engine(ctx) as engine:
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
def chat(ctx: click.Context, now: str | None, model_path: str | None) -> None:
    """Chat with the local model about your past; answers stream as they are written."""
    ref = parse_now(now)
    with open_engine(ctx) as engine:
        if model_path:
            engine.settings.model.path = str(model_path)
        session = f"chat-{datetime.now():%Y-%m-%d-%H%M%S}"
        assistant = engine.assistant(session)
        click.echo(f"Memlane chat with {engine.model.name}, running on this machine. "
                   "Empty line or Ctrl-D to quit.")
        history: list[tuple[str, str]] = []
        while (question := ask_line("you> ")) is not None:
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



SHELL_HELP = """Type words or a question to search your memory, e.g. "flights yesterday".
  :ask QUESTION   answer it with the local model, citing memories
  :help           this help
  :quit           leave (an empty line or Ctrl-D does too)"""


@cli.command()
@click.pass_context
def shell(ctx: click.Context) -> None:
    """Interactive search prompt over your memory (type :help for commands, empty line to quit)."""
    with open_engine(ctx) as engine:
        counts = engine.store.counts()
        click.echo(
            f"Memlane {__version__} - {counts['frames']} frames, {counts['messages']} messages"
            f" in {engine.paths.home}. Nothing leaves this machine."
        )
        click.echo("Search your memory (:help for commands; empty line or Ctrl-D to quit).")
        while (query := ask_line("memlane> ")) is not None:
            if query.startswith(":"):
                command, _, rest = query[1:].partition(" ")
                if command in ("q", "quit", "exit"):
                    break
                if command in ("ask", "a") and rest.strip():
                    try:
                        answer = engine.assistant().ask(rest.strip(), on_token=_echo_into([]))
                    except MemlaneError as exc:
                        click.echo(f"\nError: {exc}", err=True)
                        continue
                    click.echo()
                    _print_sources(answer)
                    continue
                click.echo(SHELL_HELP if command in ("help", "h", "?") else
                           f"Unknown command :{command}. " + SHELL_HELP.splitlines()[0]
                           + " :help lists the commands.")
                continue
            result = engine.search(query)
            if not result.hits:
                click.echo("No memories found.")
            for n, hit in enumerate(result.hits, 1):
                where = (hit.app or "screen") if hit.kind == "frame" else (
                    hit.title or hit.app or "chat") if hit.kind == "message" else hit.kind
                click.echo(f"{n:>2}. {iso(hit.time)[:16].replace('T', ' ')} {where[:14]:<14} "
                           f"{hit.snippet[:150]}")
