"""The embedded default GGUF is assembled from its pinned packages and verified; bad files are named."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ModelStore
from memlane.core.errors import ModelError
from memlane.models.registry import DEFAULT_SIZE, assemble_default, resolve_model


@pytest.mark.slow
def test_default_model_is_assembled_verified_and_repaired(tmp_path: Path) -> None:
    info = resolve_model("default", tmp_path)
    assert info.default and info.path.stat().st_size == DEFAULT_SIZE
    assert info.path.read_bytes()[:4] == b"GGUF"
    assert not list(tmp_path.glob("*.part"))
    # a torn copy (e.g. disk filled during a copy) is detected and rebuilt
    with info.path.open("r+b") as fh:
        fh.truncate(1000)
    assert assemble_default(tmp_path).stat().st_size == DEFAULT_SIZE


@pytest.mark.slow
def test_a_copy_left_by_a_killed_assembler_is_removed_and_one_being_written_is_not(
    tmp_path: Path,
) -> None:
    # GIVEN an app killed (or quit) while it assembled the model: a half-written copy stays
    writer = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from memlane.models.registry import assemble_default; "
                               "assemble_default(Path(sys.argv[1]))", str(tmp_path)])
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.glob("*.part") if p.stat().st_size > 1 << 24]:
        assert time.monotonic() < deadline and writer.poll() is None, "no copy was being written"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    (abandoned,) = tmp_path.glob("*.part")
    # ... and another program still writing its own copy
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    busy = tmp_path / f"other.gguf.{alive.pid}.x1y2.part"
    busy.write_bytes(b"GGUF")
    try:
        # WHEN the model is assembled again
        assemble_default(tmp_path)
    finally:
        alive.kill()
        alive.wait()
    # THEN the dead writer's copy is gone and the live one's is left alone
    assert not abandoned.exists() and busy.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [busy.name, resolve_model("default", tmp_path).path.name])


def test_user_model_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model file not found: .*nope\.gguf"):
        resolve_model(str(tmp_path / "nope.gguf"), tmp_path)
    fake = tmp_path / "notes.gguf"
    fake.write_text("hello")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        resolve_model(str(fake), tmp_path)
    real = tmp_path / "mine.gguf"
    real.write_bytes(b"GGUF" + b"\0" * 16)
    assert resolve_model(str(real), tmp_path).path == real


@pytest.mark.slow
def test_the_packaged_apps_bundled_model_is_used_in_place_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_store: ModelStore,
) -> None:
    from memlane.models import registry

    real = model_store.file("small")
    bundled = tmp_path / "bundle" / registry.DEFAULT_NAME
    bundled.parent.mkdir()
    bundled.hardlink_to(real)
    monkeypatch.setattr(registry, "BUNDLED", bundled)
    models = tmp_path / "models"
    # the bundled copy is used, nothing is assembled into the data folder
    assert resolve_model("default", models).path == bundled
    assert not models.exists()
    # a damaged bundle is named, with what to do
    broken = tmp_path / "broken" / registry.DEFAULT_NAME
    broken.parent.mkdir()
    broken.write_bytes(b"GGUF" + b"\0" * 100)
    monkeypatch.setattr(registry, "BUNDLED", broken)
    with pytest.raises(ModelError, match=r"shipped with Memlane is corrupt.*reinstall Memlane"):
        resolve_model("default", models)
