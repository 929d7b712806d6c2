"""What every ``memlane`` command shares: the command group, opening the engine, errors, times.

Engine errors become one ``Error: ...`` line on stderr and the error's exit code; long operations
show a progress bar when stderr is a terminal. Heavy parts (Chroma, onnxruntime, tesseract) load
only when a command needs them, so ``--help`` is instant.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from memlane import __version__
from memlane.core.errors import MemlaneError
from memlane.core.paths import Paths, resolve_home

if TYPE_CHECKING:  # typing only: importing the engine loads heavy parts lazily
    from memlane.memory.crypto import Keys
    from memlane.services.engine import Engine


def fail(exc: MemlaneError) -> NoReturn:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(exc.exit_code)


def ask_secret(message: str) -> str | None:
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


def unlock_keys(ctx: click.Context) -> Keys | None:
    """The unlock keys of an encrypted home (asked once per command); None when not encrypted."""
    from memlane.memory.crypto import Keys
    from memlane.services.encryption import unlock_home

    if "keys" not in ctx.obj:
        if ctx.obj.get("key_stdin"):  # the app hands its recorder the key over a pipe
            ctx.obj["keys"] = Keys.from_token(sys.stdin.readline())
        else:
            tries = 3 if sys.stdin.isatty() else 1  # a piped wrong passphrase is said at once
            ctx.obj["keys"] = unlock_home(ctx.obj["home"], ask_secret, tries=tries)
    keys: Keys | None = ctx.obj["keys"]
    return keys


@contextmanager
def open_engine(ctx: click.Context) -> Iterator[Engine]:
    from memlane.services.engine import Engine

    try:
        engine = Engine(Paths(ctx.obj["home"]), keys=unlock_keys(ctx))
    except MemlaneError as exc:
        fail(exc)
    try:
        yield engine
    except MemlaneError as exc:
        fail(exc)
    finally:
        engine.close()


@contextmanager
def progress_bar(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="rec", file=sys.stderr, leave=False) as bar:
        yield bar.update


def parse_now(value: str | None, hint: str = "--now") -> datetime | None:
    """An ISO 8601 time given on the command line (``--now``, ``--at``), local when naive."""
    if value is None:
        return None
    from memlane.memory.timeparse import parse_iso

    try:
        return parse_iso(str(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def source_text(src: dict[str, Any]) -> str:
    """Where a hit came from, for people: conversation and message id, or the frame's image."""
    if src.get("type") == "message":
        return f"{src.get('conversation')} {src.get('external_id')}"
    return str(src.get("path") or src)


def ask_line(prompt: str) -> str | None:
    """One line typed at an interactive prompt; None on an empty line, Ctrl-D or Ctrl-C."""
    try:
        line = input(prompt).strip()
    except (EOFError, KeyboardInterrupt):
        click.echo()
        return None
    return line or None


def has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "vnc")))


def parse_time(value: str | None, now: datetime | None, *, end: bool, hint: str) -> float | None:
    if value is None:
        return None
    from memlane.memory.timeparse import parse_when

    try:
        return parse_when(str(value), now, end=end).timestamp()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


class _Group(click.Group):
    """The command list in ``--help`` shows each command's whole first sentence, wrapped, where
    click would cut it at the terminal's width with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
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
        ctx.invoke(gui if gui is not None and has_display() else cli.commands["shell"])
