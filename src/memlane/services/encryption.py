"""Turning encryption at rest on, unlocking an encrypted home, and the OS keyring opt-in.

:func:`encrypt_home` converts a plain home in place and can be re-run after an interruption: the
key file comes first (state ``encrypting``), then the database is exported into SQLCipher and
swapped in, then every image file is sealed, and only then is the state ``encrypted``. Reading
accepts both forms meanwhile, so a kill at any point loses nothing, and the Engine refuses a
half-converted home; replaced plaintext is zeroed before it is unlinked (the README says where
that falls short). :func:`unlock_home` turns a passphrase, a key the OS keyring holds only when
the person opts in, or one handed down a pipe to the recorder into :class:`Keys`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from memlane.core.errors import LockedError, StorageError
from memlane.core.paths import Paths
from memlane.memory import sql
from memlane.memory.crypto import (
    Keys,
    create_key,
    is_encrypted,
    is_sealed,
    key_state,
    remembered,
    set_key_field,
    unlock,
)
from memlane.services.recorder import RecorderLock

KEYRING_SERVICE = "memlane"
SQLITE_HEADER = b"SQLite format 3\x00"
Progress = Callable[[int, int], None]


@dataclass
class EncryptReport:
    database: bool = False  # the database was converted in this run
    files: int = 0  # image files sealed in this run
    already: int = 0  # image files found sealed (an earlier, interrupted run)
    removed: list[str] = field(default_factory=list)  # plaintext left-overs deleted


def _zero(path: Path) -> None:
    """Overwrite a file's bytes with zeros where they are (best effort against undelete)."""
    try:
        size = path.stat().st_size
        with path.open("r+b") as fh:
            while size > 0:
                n = min(size, 1 << 20)
                fh.write(b"\0" * n)
                size -= n
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        pass


def _shred(path: Path) -> None:
    _zero(path)
    path.unlink(missing_ok=True)


def _image_files(paths: Paths) -> list[Path]:
    return sorted(p for folder in (paths.frames, paths.thumbnails, paths.spool)
                  if folder.exists() for p in folder.rglob("*") if p.is_file()
                  and not p.name.endswith(".tmp"))


def _convert_database(paths: Paths, keys: Keys) -> bool:
    db = paths.db
    if not db.exists():
        return False
    with db.open("rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            return False  # already an SQLCipher file
    target = db.with_name(db.name + ".encrypting")
    target.unlink(missing_ok=True)
    conn = sql.connect(db, cipher=True)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"ATTACH DATABASE ? AS encrypted KEY {keys.sqlcipher_pragma}", [str(target)])
        conn.execute("SELECT sqlcipher_export('encrypted')")
        conn.execute(f"PRAGMA encrypted.user_version = {int(version)}")
        conn.execute("PRAGMA encrypted.journal_mode = WAL")
        conn.execute("DETACH DATABASE encrypted")
    finally:
        conn.close()
    os.chmod(target, 0o600)
    plain = db.with_name(db.name + ".plain")
    os.replace(db, plain)
    os.replace(target, db)
    for leftover in (plain, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if leftover.exists():
            _shred(leftover)
    return True


def encrypt_home(paths: Paths, passphrase: str, progress: Progress | None = None) -> EncryptReport:
    """Encrypt ``paths.home`` in place with a new key (or finish an interrupted run)."""
    home = paths.home
    report = EncryptReport()
    with RecorderLock(paths):  # nothing may write while the files change form
        if not is_encrypted(home):
            keys = create_key(home, passphrase)
        elif key_state(home) == "encrypted":
            raise StorageError(f"{home} is encrypted already")
        else:
            keys = unlock(home, passphrase)
        report.database = _convert_database(paths, keys)
        cipher = keys.files
        files = _image_files(paths)
        for i, path in enumerate(files, 1):
            data = path.read_bytes()
            if is_sealed(data):
                report.already += 1
            else:
                tmp = path.with_name(path.name + ".sealing.tmp")
                tmp.write_bytes(cipher.seal(data))
                os.chmod(tmp, 0o600)
                _zero(path)
                os.replace(tmp, path)
                report.files += 1
            if progress:
                progress(i, len(files))
        set_key_field(home, state="encrypted")
    return report


# -- unlocking -------------------------------------------------------------------------------


def keyring_get(home: Path) -> Keys | None:
    """The remembered key of ``home`` from the OS keyring, when the person opted in."""
    if not remembered(home):
        return None
    try:
        import keyring

        token = keyring.get_password(KEYRING_SERVICE, str(home))
    except Exception:  # no keyring backend, a locked keyring, D-Bus gone: ask for the passphrase
        return None
    return Keys.from_token(token) if token else None


def keyring_set(home: Path, keys: Keys | None) -> None:
    """Remember the key in the OS keyring (``keys``) or forget it (``None``)."""
    import keyring
    import keyring.errors

    try:
        if keys is not None:
            keyring.set_password(KEYRING_SERVICE, str(home), keys.token())
        else:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):  # nothing stored
                keyring.delete_password(KEYRING_SERVICE, str(home))
    except keyring.errors.KeyringError as exc:
        raise StorageError(f"the system keyring is not available here: {exc}") from exc
    set_key_field(home, remember=keys is not None)


def unlock_home(home: Path, ask: Callable[[str], str | None], *, tries: int = 3) -> Keys | None:
    """Keys for ``home``: None when it is not encrypted, else from the keyring or ``ask``.

    ``ask(message)`` returns a passphrase, or None to give up; after a wrong one it is asked
    again with the reason, ``tries`` times in all, then :class:`LockedError` is raised.
    """
    if not is_encrypted(home):
        return None
    keys = keyring_get(home)
    if keys is not None:
        return keys
    message = f"Passphrase for {home}"
    for _ in range(tries):
        passphrase = ask(message)
        if passphrase is None:
            raise LockedError("Memlane stays locked: no passphrase given")
        try:
            return unlock(home, passphrase)
        except LockedError:
            message = f"Wrong passphrase; try again ({home})"
    raise LockedError("wrong passphrase; Memlane stays locked" if tries == 1 else
                      f"wrong passphrase {tries} times; Memlane stays locked")
