"""Encryption at rest, proven on disk: with it on, a canary is nowhere in any file under the home
folder even while it is stored and searchable; passphrases, re-keying, interruption, the keyring,
the recorder's key pipe and export/import all keep the memory intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import memlane_subprocess_env, render_text
from memlane.core.errors import LockedError, StorageError
from memlane.core.paths import Paths
from memlane.memory import crypto
from memlane.memory.crypto import is_sealed
from memlane.services.encryption import encrypt_home, unlock_home
from memlane.services.engine import Engine
from test_forget import _canary, _found, _seed

PASS = "correct horse battery"


def _encrypt(run, passphrase: str = PASS) -> None:  # type: ignore[no-untyped-def]
    out = run("encrypt", input=f"{passphrase}\n{passphrase}\n").output
    assert "Encrypted" in out and "image file(s) sealed" in out
    run.input = f"{passphrase}\n"


@pytest.mark.slow
def test_encrypted_memory_holds_no_canary_anywhere_even_before_forgetting(  # type: ignore[no-untyped-def]
    run, home: Path, tmp_path: Path,
) -> None:
    canary = _canary()
    _seed(run, tmp_path, canary)  # stored in a plain home first: the scan sees it
    assert _found(home, canary)
    with Engine(Paths(home)) as eng:
        vectors_before = eng.index.count()
    _encrypt(run)
    # WHEN more arrives after encryption (a second canary, new frame + message, WAL writes)
    later = _canary()
    render_text([f"Boarding pass {later}"]).save(tmp_path / "later.png")
    run("ingest-image", str(tmp_path / "later.png"), "--app", "notes")
    chat = tmp_path / "later.txt"
    chat.write_text(f"me: the new code is {later}\n")
    run("import-chat", str(chat))
    # THEN both are searchable, yet no file under the home folder holds either, in any encoding
    for c in (canary, later):
        hits = run.json("search", c)
        assert isinstance(hits, list) and {h["kind"] for h in hits} >= {"frame", "message"}, c
        assert _found(home, c) == [], c
    images = [p for p in home.rglob("*") if p.suffix == ".webp"]
    assert len(images) == 3 * 2  # three frames, each with a thumbnail (the spool is drained)
    for path in images:
        data = path.read_bytes()
        assert is_sealed(data) and b"RIFF" not in data[:64], path
        with pytest.raises(OSError):
            Image.open(path)  # not an image without the key
    db = (home / "memlane.db").read_bytes()
    assert not db.startswith(b"SQLite format 3")
    # AND forgetting still removes exactly what it should, vectors included
    found_by_text = run("search", canary, "--kind", "frame").output  # for the message below
    out = run("forget", "--query", canary, "--yes").output
    assert "Forgot 1 message(s), 1 frame(s)" in out, (canary, out, found_by_text)
    assert run.json("search", canary) == [] or all(
        canary not in h["snippet"].upper() for h in run.json("search", canary))  # type: ignore[union-attr]
    keys = crypto.unlock(home, PASS)
    with Engine(Paths(home), keys=keys) as eng:
        assert eng.index.count() == vectors_before + 2 - 2
        assert eng.store.counts()["frames"] == 2


def test_a_locked_home_says_so_and_a_wrong_passphrase_is_a_clear_error(  # type: ignore[no-untyped-def]
    run, home: Path, tmp_path: Path,
) -> None:
    run("import-chat", str(_chat(tmp_path, "lunch with Sam at noon")))
    _encrypt(run)
    wrong = run("status", ok=False, input="not the passphrase\n")
    assert wrong.exit_code == LockedError.exit_code
    assert "wrong passphrase" in wrong.output
    with pytest.raises(LockedError, match="encrypted; unlock it"), Engine(Paths(home)) as eng:
        eng.store.counts()
    # the passphrase changes without touching the data; the old one stops working
    run("change-passphrase", input=f"{PASS}\nnew passphrase 2\nnew passphrase 2\n")
    assert run("status", ok=False).exit_code == LockedError.exit_code
    run.input = "new passphrase 2\n"
    assert run.json("status")["counts"]["messages"] == 1  # type: ignore[index]
    # the key file holds neither passphrase nor data key
    text = (home / "key.json").read_text()
    assert "new passphrase" not in text and crypto.unlock(home, "new passphrase 2").token() not in text
    short = run("change-passphrase", ok=False, input="new passphrase 2\nshort\nshort\n")
    assert "at least 8 characters" in short.output


def _chat(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chat.txt"
    path.write_text(f"me: {text}\n")
    return path


@pytest.mark.slow
def test_an_interrupted_encryption_is_refused_until_it_is_finished(  # type: ignore[no-untyped-def]
    run, home: Path, tmp_path: Path,
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(3):
        render_text([f"Invoice number {i}"]).save(shots / f"{i}.png")
    run("ingest-image", str(shots))

    def killed_after_one(done: int, _total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt  # the process dies in the middle of sealing images

    with pytest.raises(KeyboardInterrupt):
        encrypt_home(Paths(home), PASS, progress=killed_after_one)
    keys = crypto.unlock(home, PASS)
    with pytest.raises(StorageError, match=r"interrupted.*memlane encrypt"), \
            Engine(Paths(home), keys=keys) as eng:
        eng.store.counts()
    out = run("encrypt", input=f"{PASS}\n").output  # re-run: asks for the same passphrase
    assert "database done before, 5 image file(s) sealed, 1 sealed before" in out
    run.input = f"{PASS}\n"
    assert run.json("status")["counts"]["frames"] == 3  # type: ignore[index]
    with Engine(Paths(home), keys=keys) as eng:
        assert [eng.frame_files.read(f"{r[0]}").size for r in
                eng.store.sql("SELECT image_path FROM frames")] == [(1000, 400)] * 3


def test_sealed_files_detect_tampering_and_keys_travel_as_tokens() -> None:
    keys = crypto.Keys(b"k" * 32)
    cipher = keys.files
    blob = cipher.seal(b"RIFF....WEBP")
    assert is_sealed(blob) and cipher.open(blob) == b"RIFF....WEBP"
    assert cipher.open(b"RIFF plain") == b"RIFF plain"  # a not-yet-sealed file reads as is
    with pytest.raises(StorageError, match="damaged"):
        cipher.open(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(StorageError, match="damaged"):
        crypto.Keys(b"x" * 32).files.open(blob)
    assert crypto.Keys.from_token(keys.token()) == keys
    with pytest.raises(LockedError):
        crypto.Keys.from_token("zz")


def test_keyring_opt_in_unlocks_without_asking(  # type: ignore[no-untyped-def]
    run, home: Path, tmp_path: Path,
) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    store: dict[tuple[str, str], str] = {}

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        run("import-chat", str(_chat(tmp_path, "dinner at eight")))
        _encrypt(run)
        assert "keyring" in run("keyring", "on").output
        assert unlock_home(home, lambda _m: None) == crypto.unlock(home, PASS)  # not asked
        run.input = ""  # nothing to type: the keyring answers
        assert run.json("status")["counts"]["messages"] == 1  # type: ignore[index]
        run("keyring", "off", input="")
        assert store == {}
        with pytest.raises(LockedError):
            unlock_home(home, lambda _m: None)
    finally:
        keyring.set_keyring(previous)


@pytest.mark.slow
def test_the_recorder_gets_the_key_over_a_pipe_and_exports_leave_decrypted(  # type: ignore[no-untyped-def]
    run, home: Path, tmp_path: Path,
) -> None:
    canary = _canary()
    _seed(run, tmp_path, canary)
    _encrypt(run)
    token = crypto.unlock(home, PASS).token()
    child = subprocess.run([sys.executable, "-m", "memlane", "--key-stdin", "status", "--json"],
                           input=token + "\n", capture_output=True, text=True, timeout=120,
                           env=memlane_subprocess_env(home))
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout)["counts"]["frames"] == 2
    # export from the encrypted home, import into a plain one: the same answers
    archive = tmp_path / "out.zip"
    run("export", str(archive))
    plain = tmp_path / "plain"
    from conftest import Cli

    other = Cli(plain)
    other("import-archive", str(archive))
    assert other.json("search", canary) == [
        {**h, "source": {**h["source"], "path": str(plain / Path(h["source"]["path"])
                                                    .relative_to(home))}
         if "path" in h["source"] else h["source"]}
        for h in run.json("search", canary)]  # type: ignore[union-attr]
    assert _found(plain, canary)  # the plain copy holds it, as the person asked


@pytest.mark.slow
def test_vectors_kept_in_memory_never_touch_the_disk_and_are_rebuilt_at_unlock(  # type: ignore[no-untyped-def]
    run, home: Path, tmp_path: Path, embedder,
) -> None:
    from memlane.core.settings import Settings, save_settings

    canary = _canary()
    _seed(run, tmp_path, canary)
    _encrypt(run)
    assert (home / "vectors").is_dir()  # the on-disk index from before
    keys = crypto.unlock(home, PASS)
    settings = Settings()
    settings.privacy.vectors_in_memory = True
    with Engine(Paths(home), settings, embedder=embedder, keys=keys) as eng:
        # opening the index removes the folder and rebuilds from the (encrypted) database
        result = eng.search("secret code")
        assert not (home / "vectors").exists()
        assert eng.index.count() == eng.store.expected_vector_total() > 0
        assert any(canary in h.snippet.upper() for h in result.hits)
        semantic = eng.index.search("quarterly planning", limit=5)
        assert semantic  # the vector half answers from memory
    # another process (the setting is in settings.toml) adds a record meanwhile
    save_settings(Paths(home).settings, settings)
    chat = tmp_path / "more.txt"
    chat.write_text("me: the ferry to Cacilhas leaves at 18:40\n")
    child = subprocess.run([sys.executable, "-m", "memlane", "import-chat", str(chat)],
                           input=PASS + "\n", capture_output=True, text=True, timeout=120,
                           env=memlane_subprocess_env(home))
    assert child.returncode == 0, child.stderr
    with Engine(Paths(home), settings, embedder=embedder, keys=keys) as eng:
        hits = eng.search("ferry to Cacilhas").hits
        assert hits and "Cacilhas" in hits[0].snippet
        assert eng.index.count() == eng.store.expected_vector_total()
    files = [p for p in home.rglob("*") if p.is_file()]
    assert not any("vectors" in p.parts for p in files)
