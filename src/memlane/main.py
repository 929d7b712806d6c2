"""The ``memlane`` program: the engine's command line plus the desktop app.

:mod:`memlane.cli` holds every engine command and may not import the GUI (an import-linter
contract keeps Qt inside :mod:`memlane.ui`), so this entry point adds ``memlane gui`` to it.
``memlane`` with no command opens the app when there is a display, else the search shell.
Qt is imported only when the app opens, so ``memlane --help`` stays instant.
"""

from __future__ import annotations

import sys

import click

from memlane.cli import cli
from memlane.core.errors import DependencyError


@cli.command()
@click.option("--demo", is_flag=True,
              help="Open on a small sample memory (built in the cache folder, not your home).")
@click.option("--no-record", is_flag=True, help="Do not start the screen recorder.")
@click.option("--hidden", is_flag=True,
              help="Start in the tray without a window (Start at login uses this); the window "
                   "opens anyway when the desktop has no tray.")
@click.option("--quit-after", type=click.FloatRange(min=0), metavar="SECONDS", hidden=True,
              help="Quit after this many seconds (smoke tests).")
@click.pass_context
def gui(ctx: click.Context, demo: bool, no_record: bool, hidden: bool,
        quit_after: float | None) -> None:
    """Open the desktop app: timeline, frame viewer, search, chat, and the recorder's status.

    The recorder starts with the app (after the first-run explanation) on an X11 desktop; the
    tray icon pauses it. Closing the window keeps Memlane in the tray; Quit stops everything.
    """
    try:
        from memlane.ui.app import run
    except ImportError as exc:
        click.echo(f"Error: the desktop app needs PySide6 ({exc}); try `make install`.", err=True)
        sys.exit(DependencyError.exit_code)
    sys.exit(run(ctx.obj["home"], demo=demo, record=not no_record, hidden=hidden,
                 quit_after_ms=None if quit_after is None else int(quit_after * 1000)))


def main() -> None:
    cli(prog_name="memlane")
