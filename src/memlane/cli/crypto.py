"""Commands for encryption at rest: encrypt, change-passphrase, keyring.

Passphrases are typed without echo on a terminal, or read one per line from stdin when it is
not a terminal.
"""

from __future__ import annotations

import click

from memlane.cli.common import ask_secret, cli, fail, progress_bar, unlock_keys
from memlane.core.errors import MemlaneError
from memlane.core.paths import Paths


def _new_passphrase() -> str:
    first = ask_secret("New passphrase (at least 8 characters)")
    second = ask_secret("The same passphrase again")
    if not first:
        raise click.UsageError("no passphrase given")
    if first != second:
        raise click.UsageError("the two passphrases differ")
    return first


@cli.command()
@click.pass_context
def encrypt(ctx: click.Context) -> None:
    """Encrypt your memory at rest with a passphrase (resumes an interrupted run).

    The database becomes an SQLCipher file and every screenshot, thumbnail and OCR copy is
    sealed with AES-256-GCM; the key is derived from the passphrase with Argon2id. The recorder
    must be stopped. Forgetting the passphrase means losing the memory: there is no back door.
    """
    from memlane.memory.crypto import is_encrypted, key_state
    from memlane.services.encryption import encrypt_home

    home = ctx.obj["home"]
    paths = Paths(home)
    paths.ensure()
    try:
        if is_encrypted(home) and key_state(home) == "encrypted":
            raise click.UsageError(f"{home} is encrypted already")
        if is_encrypted(home):  # an interrupted run: finish it with the same passphrase
            passphrase = ask_secret(f"Passphrase for {home}") or ""
        else:
            passphrase = _new_passphrase()
        with progress_bar(None, "sealing images") as step:
            report = encrypt_home(paths, passphrase, progress=lambda _done, _total: step(1))
    except MemlaneError as exc:
        fail(exc)
    click.echo(f"Encrypted {home}: database {'converted' if report.database else 'done before'},"
               f" {report.files} image file(s) sealed"
               + (f", {report.already} sealed before" if report.already else "")
               + ". Memlane asks for the passphrase from now on.")


@cli.command("change-passphrase")
@click.pass_context
def change_passphrase(ctx: click.Context) -> None:
    """Change the passphrase of an encrypted memory (instant: the data key is re-wrapped)."""
    from memlane.memory.crypto import change_passphrase as change
    from memlane.memory.crypto import is_encrypted

    home = ctx.obj["home"]
    if not is_encrypted(home):
        raise click.UsageError(f"{home} is not encrypted; `memlane encrypt` turns it on")
    old = ask_secret(f"Current passphrase for {home}") or ""
    try:
        change(home, old, _new_passphrase())
    except MemlaneError as exc:
        fail(exc)
    click.echo("Passphrase changed.")


@cli.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_context
def keyring(ctx: click.Context, state: str) -> None:
    """Remember the unlock key in the system keyring (on) so Memlane opens without asking, or
    remove it from there (off). Anyone who can use your unlocked session can then open it."""
    from memlane.memory.crypto import is_encrypted
    from memlane.services.encryption import keyring_set

    home = ctx.obj["home"]
    if not is_encrypted(home):
        raise click.UsageError(f"{home} is not encrypted")
    try:
        keyring_set(home, unlock_keys(ctx) if state == "on" else None)
    except MemlaneError as exc:
        fail(exc)
    click.echo("The key is in the system keyring." if state == "on"
               else "The key is no longer in the system keyring.")
