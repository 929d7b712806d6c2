"""The SQLite driver: Python's sqlite3 for a plain home, SQLCipher's build for an encrypted one.

Every connection to ``memlane.db`` is made by :func:`connect`. A plain home uses the system SQLite
because the ``sqlcipher3-binary`` build writes much slower even without a key; an encrypted home,
and the conversion to one, use SQLCipher. The two drivers raise different exception classes;
catch ``sql.IntegrityError`` and friends from here, which name both.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

try:
    import sqlcipher3.dbapi2 as _cipher  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # platforms without the sqlcipher3-binary wheel: no encryption at rest
    _cipher = None

from memlane.core.errors import StorageError
from memlane.core.text import cjk_terms

HAVE_SQLCIPHER = _cipher is not None
_drivers: list[Any] = [sqlite3] + ([_cipher] if _cipher is not None else [])
Error: tuple[type[Exception], ...] = tuple(d.Error for d in _drivers)
DatabaseError: tuple[type[Exception], ...] = tuple(d.DatabaseError for d in _drivers)
OperationalError: tuple[type[Exception], ...] = tuple(d.OperationalError for d in _drivers)
IntegrityError: tuple[type[Exception], ...] = tuple(d.IntegrityError for d in _drivers)


def connect(path: Path | str, *, key_pragma: str | None = None, cipher: bool = False,
            timeout: float = 30, check_same_thread: bool = False) -> sqlite3.Connection:
    """Open ``path``; with ``key_pragma`` (``Keys.sqlcipher_pragma``) as an SQLCipher database.

    ``cipher`` asks for the SQLCipher driver without a key (to ``ATTACH`` an encrypted copy).
    A wrong key shows up at the first read; this reads the schema at once so that it is said here.
    """
    use_cipher = key_pragma is not None or cipher
    if use_cipher and _cipher is None:
        raise StorageError("this memory is encrypted, but SQLCipher (the sqlcipher3-binary "
                           "package) is not installed here")
    driver: Any = _cipher if use_cipher else sqlite3
    conn = driver.connect(str(path), timeout=timeout, check_same_thread=check_same_thread)
    # The CJK index's triggers call this (memory/migrations.py): every connection needs it.
    conn.create_function("memlane_cjk", 1, cjk_terms, deterministic=True)
    if use_cipher:
        conn.execute("PRAGMA cipher_log_level = NONE")  # wrong keys are reported by us, once
    if key_pragma is not None:
        conn.execute(f"PRAGMA key = {key_pragma}")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc) and key_pragma is not None:
            from memlane.core.errors import LockedError

            raise LockedError(f"{path} cannot be opened with this key") from exc
        raise
    return conn  # type: ignore[no-any-return]
