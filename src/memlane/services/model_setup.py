"""Which local model a home uses, built from its settings: answering, writing memories, measuring.

The engine asks here for its model process: ``[model] path`` names it (``"auto"`` takes what the
machine measurement in :mod:`memlane.models.choice` picked, the small model until it ran), and a
background engine, which writes episodes and facts while the person is idle, takes the model
``[memory] model`` names when it is installed and the memory it needs is free. The larger model
is refused with a clear message when the memory is not there (under ``"auto"`` the small one
answers instead). :func:`measure` runs the machine measurement and saves its pick;
:func:`model_status` is what ``memlane status`` and the app say.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memlane.core.errors import ModelError
from memlane.core.paths import Paths
from memlane.core.settings import Settings
from memlane.models.choice import (
    Choice,
    choose,
    describe,
    fits_in_memory,
    load_choice,
    save_choice,
)
from memlane.models.registry import (
    EMBEDDED,
    LARGE,
    SMALL,
    EmbeddedModel,
    ModelInfo,
    embedded_key,
    installed,
    resolve_embedded,
    resolve_model,
)
from memlane.models.runtime import ModelProcess

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10  # niceness of a background engine's model process


def consolidation_setting(paths: Paths, settings: Settings) -> str:
    """The model setting a background engine uses (``[memory] model``, when usable here)."""
    key = settings.memory.model
    if key == "answer":
        return settings.model.path
    model = EMBEDDED[key]
    if not installed(model, paths.models) or not fits_in_memory(model):
        return settings.model.path
    return key


def model_process(paths: Paths, settings: Settings, setting: str, context_size: int, *,
                  background: bool = False) -> ModelProcess:
    """A (not yet started) process for the model ``setting`` names; checks file and memory."""
    chosen = load_choice(paths.model_choice)
    pick = chosen.key if chosen else None
    if setting == "auto" and pick == LARGE.key and not fits_in_memory(LARGE):
        log.warning("%s does not fit in the memory free now; answering with %s", LARGE.label,
                    SMALL.label)
        pick = SMALL.key
    info = resolve_model(setting, paths.models, pick)
    if info.key == LARGE.key and not fits_in_memory(LARGE):
        raise ModelError(
            f"{LARGE.label} needs more free memory than this machine has now; close some "
            "programs, or choose the small model in Settings")
    return _process(paths, settings, info, context_size, BACKGROUND_NICE if background else 0)


def _process(paths: Paths, settings: Settings, info: ModelInfo, context_size: int,
             nice: int) -> ModelProcess:
    cfg = settings.model
    return ModelProcess(info.path, info.name, context_size=context_size, threads=cfg.threads,
                        gpu_layers=cfg.gpu_layers, flash_attention=cfg.flash_attention,
                        log_path=paths.model_log, nice=nice)


def measure(paths: Paths, settings: Settings, *,
            progress: Callable[[str], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> Choice:
    """Measure this machine with each embedded model, save the pick and return it. When
    ``cancelled()`` is true by the end (the app quits and stopped the model processes), nothing
    is saved and :class:`ModelError` says so."""
    def stop_if_cancelled(why: str = "the measurement was stopped") -> None:
        if cancelled is not None and cancelled():
            raise ModelError(why)

    def open_model(model: EmbeddedModel) -> ModelProcess:  # closed by choose()'s ``with``
        stop_if_cancelled()
        info = resolve_embedded(model, paths.models)  # may take seconds: assembles or verifies
        stop_if_cancelled()
        return _process(paths, settings, info, settings.model.context_size, 0)

    choice = choose(open_model, settings.model.latency_budget_s,
                    settings.answer.evidence_tokens, progress=progress)
    stop_if_cancelled("the measurement was stopped before it finished; nothing was saved")
    save_choice(paths.model_choice, choice)
    return choice


def needs_measuring(paths: Paths, settings: Settings) -> bool:
    """``"auto"`` with no saved pick, and the larger model there to be measured."""
    return (settings.model.path == "auto" and load_choice(paths.model_choice) is None
            and installed(LARGE, paths.models))


def model_status(paths: Paths, settings: Settings) -> dict[str, Any]:
    """Whether the LLM can be loaded (without hashing a gigabyte), which one answers and why."""
    setting = settings.model.path
    chosen = load_choice(paths.model_choice)

    def key_of(value: str) -> str | None:  # "auto" is what was measured, or the small model
        return embedded_key((chosen.key if chosen else "small") if value == "auto" else value)

    key = key_of(setting)
    if key is None:
        return {"setting": setting, "available": Path(setting).expanduser().is_file(),
                "why": describe(chosen, setting)}
    model = EMBEDDED[key]
    return {"setting": setting, "name": model.label,
            "available": installed(model, paths.models),
            "assembled": (paths.models / model.file_name).is_file(),
            "why": describe(chosen, setting),
            "measured_first_token_s": chosen.first_token_s if chosen else {},
            "memory_model": EMBEDDED[k].label if (k := key_of(
                consolidation_setting(paths, settings))) else setting}
