"""Which embedded model answers on this machine: measured, saved, explained, and memory-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ModelStore
from memlane.core.errors import ModelError
from memlane.core.paths import Paths
from memlane.core.settings import Settings
from memlane.models import choice as ch
from memlane.models.registry import LARGE, SMALL, resolve_model
from memlane.services import model_setup


def test_a_saved_choice_round_trips_and_a_damaged_one_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "models" / "choice.json"
    assert ch.load_choice(path) is None
    ch.save_choice(path, ch.Choice("large", "fast enough", {"large": 4.2}, 1.0))
    again = ch.load_choice(path)
    assert again is not None and again.key == "large" and again.first_token_s == {"large": 4.2}
    path.write_text('{"key": "huge"}')
    assert ch.load_choice(path) is None
    path.write_text("not json")
    assert ch.load_choice(path) is None


def test_auto_is_the_small_model_until_measured_then_the_pick(tmp_path: Path) -> None:
    paths, settings = Paths(tmp_path), Settings()
    assert settings.model.path == "auto"
    status = model_setup.model_status(paths, settings)
    assert status["name"] == SMALL.label and "until this machine is measured" in status["why"]
    ch.save_choice(paths.model_choice, ch.Choice("large", "its first token came after 4.0 s",
                                                 {"large": 4.0}, 1.0))
    status = model_setup.model_status(paths, settings)
    assert status["name"] == LARGE.label and "4.0 s" in status["why"]
    settings.model.path = "small"
    assert model_setup.model_status(paths, settings)["name"] == SMALL.label


def test_too_little_memory_keeps_the_small_model_and_says_why() -> None:
    def never(_model: object) -> object:
        raise AssertionError("nothing is loaded when the memory is not there")

    picked = ch.choose(never, 6.0, 300, available=800 * 1024 * 1024)  # type: ignore[arg-type]
    assert picked.key == "small" and "free memory" in picked.why and "0.8 GB" in picked.why


def test_the_larger_model_is_refused_with_a_message_when_memory_is_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_store: ModelStore,
) -> None:
    paths, settings = Paths(tmp_path), Settings()
    model_store.seed(paths.models, "small", "large")
    monkeypatch.setattr(ch, "available_memory", lambda: 300 * 1024 * 1024)
    settings.model.path = "large"
    with pytest.raises(ModelError, match=r"needs more free memory.*choose the small model"):
        model_setup.model_process(paths, settings, "large", 2048)
    # picked by the measurement ("auto"), the small model answers instead
    settings.model.path = "auto"
    ch.save_choice(paths.model_choice, ch.Choice("large", "fast", {"large": 4.0}, 1.0))
    assert model_setup.model_process(paths, settings, "auto", 2048).name == SMALL.label
    # consolidation asked to use it falls back to the answering model rather than failing
    settings.model.path = "small"
    settings.memory.model = "large"
    assert model_setup.consolidation_setting(paths, settings) == "small"


@pytest.mark.slow
def test_the_larger_model_is_assembled_and_verified(tmp_path: Path) -> None:
    info = resolve_model("large", tmp_path)
    assert info.key == "large" and info.path.stat().st_size == LARGE.size
    assert info.path.read_bytes()[:4] == b"GGUF"
    with info.path.open("r+b") as fh:  # a torn copy is rebuilt from the packages
        fh.truncate(4096)
    assert resolve_model("large", tmp_path).path.stat().st_size == LARGE.size


@pytest.mark.model
@pytest.mark.slow
def test_the_machine_is_measured_with_both_models_and_the_pick_saved(
    tmp_path: Path, model_store: ModelStore,
) -> None:
    pytest.importorskip("llama_cpp")
    paths, settings = Paths(tmp_path), Settings()
    model_store.seed(paths.models, "small", "large")
    settings.model.context_size = 2048
    settings.model.latency_budget_s = 0.001  # no machine is this fast: both are measured
    assert model_setup.needs_measuring(paths, settings)
    said: list[str] = []
    picked = model_setup.measure(paths, settings, progress=said.append)
    assert picked.key == "small" and "over the 0.001 s budget" in picked.why
    assert set(picked.first_token_s) == {"small", "large"}
    assert 0 < picked.first_token_s["small"] < picked.first_token_s["large"]
    assert any("1.5B" in s for s in said)
    assert not model_setup.needs_measuring(paths, settings)
    assert ch.load_choice(paths.model_choice) == picked
