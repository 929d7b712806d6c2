"""The ``memlane capture`` command: record the screen, pause and resume the recorder."""

from __future__ import annotations

import os
from datetime import datetime

import click

from memlane.cli.common import cli, fail, open_engine
from memlane.core.errors import RecorderError
from memlane.memory.records import iso


@cli.command()
@click.option("--once", is_flag=True, help="Capture one tick, OCR it, and exit.")
@click.option("--for", "seconds", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Record for this many seconds, then finish OCR and exit.")
@click.option("--pause", "pause_minutes", type=float, is_flag=False,
              flag_value=-1.0, default=None, metavar="[MINUTES]",
              help="Pause capture (for MINUTES, or until --resume); survives restarts.")
@click.option("--resume", is_flag=True, help="Resume a paused capture.")
@click.option("--no-drain", is_flag=True, help="Exit without working off the OCR backlog.")
@click.option("--grant", is_flag=True,
              help="Wayland: ask the desktop for permission to record the screen (its dialog "
                   "appears once; later starts reuse the grant), then exit.")
@click.option("--exit-with-parent", is_flag=True, hidden=True,
              help="Stop when the process that started this one dies (the app's recorder).")
@click.pass_context
def capture(
    ctx: click.Context, once: bool, seconds: float | None, pause_minutes: float | None,
    resume: bool, no_drain: bool, exit_with_parent: bool, grant: bool,
) -> None:
    """Record the screen: changed monitors become frames every few seconds, OCR'd in the background.

    Without options it records until interrupted (Ctrl-C). On X11 it reads the screen with mss;
    on Wayland through the desktop's ScreenCast portal and PipeWire (allow it once with
    --grant, or from the app), or with grim on wlroots compositors without a portal. Excluded
    windows (settings, [privacy]) are never stored: focused, nothing is captured; elsewhere on
    screen, they are painted out before the frame is written (on desktops that do not say
    where a window is, no monitor is stored while one shows). Card numbers, IBANs, keys and
    passwords found by OCR are blanked in the text and painted out of the image.
    """
    from memlane.services import recorder as cap

    if sum((once, seconds is not None, pause_minutes is not None, resume, grant)) > 1:
        raise click.UsageError("use one of --once, --for, --pause, --resume, --grant")
    if exit_with_parent:
        said = os.environ.get("MEMLANE_PARENT_PID", "")
        cap.stop_with_parent(int(said) if said.isdigit() else None)
    with open_engine(ctx) as engine:
        if pause_minutes is not None:
            until = cap.pause(engine.store, None if pause_minutes < 0 else pause_minutes)
            click.echo("Capture paused " + ("until resumed (memlane capture --resume)."
                                            if until is None else f"until {iso(until)}."))
            return
        if resume:
            cap.resume(engine.store)
            click.echo("Capture resumed.")
            return
        if grant:
            click.echo("Asking the desktop for permission to record the screen; answer its "
                       "dialog.", err=True)
            try:
                monitors = cap.grant_recording(engine.store)
            except RecorderError as exc:
                fail(exc)
            click.echo(f"Screen recording allowed on {monitors} monitor(s); the recorder "
                       "reuses this permission without asking again.")
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
                engine.recorder_parts(), seconds=seconds, once=once, drain=not no_drain,
                on_tick=show,
            )
        except KeyboardInterrupt:
            run = cap.RecorderRun()
        backlog = engine.ocr_worker().backlog()
        click.echo(f"{run.ticks} tick(s), {run.stored} frame(s) stored, OCR backlog {backlog}.")
        if run.last is not None and run.errors == run.ticks:
            fail(RecorderError(run.last.reason))
