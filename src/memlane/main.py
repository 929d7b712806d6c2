"""The ``memlane`` program: the engine's command line plus the desktop app.

:mod:`memlane.cli` holds every engine command and may not import the GUI (an import-linter
contract keeps Qt inside :mod:`memlane.ui`), so this entry point adds ``memlane gui`` to it, and
``memlane mcp`` from :mod:`memlane.mcpserver`, the other front end.
``memlane`` with no command opens the app when there is a display, else the search shell.
Qt is imported only when the app opens, so ``memlane --help`` stays instant.
"""

from __future__ import annotations

import sys

import click

from memlane.cli import cli
from memlane.core.errors import DependencyError


@cli.command()
@click.argument("link", required=False)
@click.option("--demo", is_flag=True,
              help="Open on a small sample memory (built in the cache folder, not your home).")
@click.option("--no-record", is_flag=True, help="Do not start the screen recorder.")
@click.option("--hidden", is_flag=True,
              help="Start in the tray without a window (Start at login uses this); the window "
                   "opens anyway when the desktop has no tray.")
@click.option("--quit-after", type=click.FloatRange(min=0), metavar="SECONDS", hidden=True,
              help="Quit after this many seconds (smoke tests).")
@click.pass_context
def gui(ctx: click.Context, link: str | None, demo: bool, no_record: bool, hidden: bool,
        quit_after: float | None) -> None:
    """Open the desktop app: timeline, frame viewer, search, chat, and the recorder's status.

    LINK, a memlane://frame/ID link (the journal writes them), opens that moment. When the app
    is already open on this home, it is shown (and opens LINK) instead of a second one.
    The recorder starts with the app (after the first-run explanation) on an X11 desktop; the
    tray icon pauses it. Closing the window keeps Memlane in the tray; Quit stops everything.
    """
    from memlane.services.handoff import record_of_link

    if link is not None and record_of_link(link) is None:
        raise click.BadParameter(f"{link[:80]!r} is not a memlane:// link such as "
                                 "memlane://frame/12", param_hint="LINK")
    try:
        from memlane.ui.app import run
    except ImportError as exc:
        click.echo(f"Error: the desktop app needs PySide6 ({exc}); try `make install`.", err=True)
        sys.exit(DependencyError.exit_code)
    sys.exit(run(ctx.obj["home"], demo=demo, record=not no_record, hidden=hidden, link=link,
                 quit_after_ms=None if quit_after is None else int(quit_after * 1000)))


@cli.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve your memory to other AI assistants on this machine over MCP (stdio, no socket).

    Add it to an MCP client's configuration as the command `memlane mcp`. Tools: search, ask,
    timeline, frame, facts, and, with [mcp] allow_write = true in the settings, remember and
    forget. Excluded apps and windows never appear. Every call is logged (Help > Connected
    programs in the app). An encrypted memory is read only with its key in the system keyring.
    """
    home = ctx.obj["home"]
    try:
        from memlane.mcpserver.server import serve
    except ImportError as exc:
        click.echo(f"Error: `memlane mcp` needs the mcp package ({exc}); try `make install`.",
                   err=True)
        sys.exit(DependencyError.exit_code)
    from memlane.services.encryption import unlock_home

    serve(home, lambda: unlock_home(home, lambda _message: None, tries=1))


def main() -> None:
    cli(prog_name="memlane")
