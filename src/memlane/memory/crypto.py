"""Encryption at rest: the key file, the passphrase, and the cipher for image files.

A home is encrypted when it has ``key.json``: a random data key wrapped with AES-GCM under a key
derived from the passphrase by Argon2id, with its salt and parameters, never the passphrase or the
data key in the clear. A wrong passphrase fails the GCM tag and is said plainly; changing it
re-wraps the same data key, so it cannot lose data. HKDF derives from the data key the SQLCipher
key of ``memlane.db`` and the key of image files, each sealed as ``MAGIC`` + nonce + ciphertext;
:meth:`FileCipher.open` also reads plain WebP, so a home that is being encrypted, or a backup
restored into one, is always readable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from memlane.core.errors import LockedError, StorageError
from memlane.core.paths import KEY_FILE

MAGIC = b"MLENC\x01"
FORMAT = 1
KDF_DEFAULTS = {"iterations": 3, "memory_kib": 65536, "lanes": 1}
MIN_PASSPHRASE = 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _kek(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return Argon2id(salt=salt, length=32, iterations=params["iterations"],
                    lanes=params["lanes"], memory_cost=params["memory_kib"]).derive(
        passphrase.encode("utf-8"))


def _subkey(data_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"memlane " + purpose).derive(data_key)


@dataclass(frozen=True)
class Keys:
    """What an unlocked home holds in memory: the data key and the keys derived from it."""

    data_key: bytes

    @property
    def sqlcipher_pragma(self) -> str:
        """``PRAGMA key`` value: a raw 256-bit key (no second KDF inside SQLCipher)."""
        return f"\"x'{_subkey(self.data_key, b'sqlcipher').hex()}'\""

    @property
    def files(self) -> FileCipher:
        return FileCipher(_subkey(self.data_key, b"files"))

    def token(self) -> str:
        """Hex form handed to Memlane's own child processes over a pipe (and the OS keyring)."""
        return self.data_key.hex()

    @classmethod
    def from_token(cls, token: str) -> Keys:
        try:
            key = bytes.fromhex(token.strip())
        except ValueError:
            raise LockedError("the unlock key handed to this process is malformed") from None
        if len(key) != 32:
            raise LockedError("the unlock key handed to this process is malformed")
        return cls(key)


class FileCipher:
    """AES-256-GCM for whole files (images are small: one frame is 50-300 KB)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, MAGIC)

    def open(self, blob: bytes, name: str = "file") -> bytes:
        if not is_sealed(blob):
            return blob
        nonce = blob[len(MAGIC):len(MAGIC) + 12]
        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + 12:], MAGIC)
        except InvalidTag:
            raise StorageError(f"{name} is damaged or was not encrypted with this key") from None


def is_sealed(blob: bytes) -> bool:
    return blob[:len(MAGIC)] == MAGIC


def key_path(home: Path) -> Path:
    return home / KEY_FILE


def is_encrypted(home: Path) -> bool:
    return key_path(home).exists()


def _read(home: Path) -> dict[str, Any]:
    path = key_path(home)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        return data
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the key file {path}: {exc}; without it the encrypted "
                           "memory cannot be opened (restore it from a backup)") from exc


def _write(home: Path, data: dict[str, Any]) -> None:
    path = key_path(home)
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".key-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"could not write the key file {path}: {exc}") from exc


def _wrap(data_key: bytes, passphrase: str, params: dict[str, int]) -> dict[str, Any]:
    salt, nonce = os.urandom(16), os.urandom(12)
    wrapped = AESGCM(_kek(passphrase, salt, params)).encrypt(nonce, data_key, b"memlane key")
    return {"kdf": "argon2id", **params, "salt": _b64(salt), "nonce": _b64(nonce),
            "wrapped_key": _b64(wrapped)}


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise LockedError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")


def create_key(home: Path, passphrase: str, *, state: str = "encrypting") -> Keys:
    """Make a new data key for ``home`` and write it wrapped by ``passphrase``."""
    check_passphrase(passphrase)
    if is_encrypted(home):
        raise StorageError(f"{home} already has a key file; it is encrypted already")
    data_key = secrets.token_bytes(32)
    _write(home, {"format": FORMAT, "state": state, "remember": False,
                  **_wrap(data_key, passphrase, dict(KDF_DEFAULTS))})
    return Keys(data_key)


def unlock(home: Path, passphrase: str) -> Keys:
    """The keys of ``home`` from its passphrase; :class:`LockedError` when it is wrong."""
    data = _read(home)
    params = {k: int(data[k]) for k in KDF_DEFAULTS}
    try:
        kek = _kek(passphrase, _unb64(data["salt"]), params)
        data_key = AESGCM(kek).decrypt(_unb64(data["nonce"]), _unb64(data["wrapped_key"]),
                                       b"memlane key")
    except InvalidTag:
        raise LockedError("wrong passphrase") from None
    except (KeyError, ValueError) as exc:
        raise StorageError(f"the key file {key_path(home)} is damaged: {exc}") from exc
    return Keys(data_key)


def change_passphrase(home: Path, old: str, new: str) -> Keys:
    """Re-wrap the data key with ``new`` (nothing else is rewritten, so nothing can be lost)."""
    check_passphrase(new)
    keys = unlock(home, old)
    data = _read(home)
    data.update(_wrap(keys.data_key, new, {k: int(data[k]) for k in KDF_DEFAULTS}))
    _write(home, data)
    return keys


def key_state(home: Path) -> str:
    """``"encrypting"`` while ``memlane encrypt`` has not finished, else ``"encrypted"``."""
    return str(_read(home).get("state", "encrypted"))


def set_key_field(home: Path, **values: Any) -> None:
    data = _read(home)
    data.update(values)
    _write(home, data)


def remembered(home: Path) -> bool:
    return bool(_read(home).get("remember"))
