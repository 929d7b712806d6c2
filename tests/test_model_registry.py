"""The embedded default GGUF is assembled from its pinned packages and verified; bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from memlane.models import registry

    real = resolve_model("default", tmp_path / "assembled").path
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
