"""Which embedded model answers on this machine: measured once, saved, explained.

With ``[model] path = "auto"`` the app measures the machine the first time it opens (in the
background, before the first question): each embedded model is loaded in its own process, reads
the fixed start of the answer prompt, and then the time to the first token of a question with a
full evidence budget (``[answer] evidence_tokens``) is taken, twice. The larger model is taken
when its first token fits ``[model] latency_budget_s`` and the memory it needs is free;
otherwise the small one. The pick and the reason, in words, are saved in
``models/choice.json`` and shown by ``memlane models`` and ``memlane status``;
``memlane models --measure`` measures again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from memlane.core.errors import ModelError
from memlane.models.prompts import build_messages
from memlane.models.registry import LARGE, SMALL, EmbeddedModel
from memlane.models.runtime import ChatModel

# Beyond the file itself: the KV cache of a 4096-token context, llama.cpp's compute buffers and
# the worker's Python (measured RSS of the 1.5B worker minus its file size, rounded up).
OVERHEAD_BYTES = 700 * 1024 * 1024


@dataclass
class Choice:
    key: str  # "small" or "large"
    why: str
    first_token_s: dict[str, float] = field(default_factory=dict)
    at: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def load_choice(path: Path) -> Choice | None:
    """The saved choice, or None (never measured, or the file is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        choice = Choice(str(data["key"]), str(data["why"]),
                        {str(k): float(v) for k, v in dict(data.get("first_token_s", {})).items()},
                        float(data.get("at", 0.0)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return choice if choice.key in (SMALL.key, LARGE.key) else None


def save_choice(path: Path, choice: Choice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(choice.to_json(), indent=1), encoding="utf-8")
    os.replace(tmp, path)


def available_memory() -> int | None:
    """Bytes of memory the kernel says are available (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(model: EmbeddedModel) -> int:
    return model.size + OVERHEAD_BYTES


def fits_in_memory(model: EmbeddedModel, available: int | None = None) -> bool:
    free = available_memory() if available is None else available
    return free is None or free >= memory_needed(model)


def _probe_lines(round_no: int, count: int) -> list[str]:
    """Evidence lines shaped like real ones, new each round so the prompt cache cannot help."""
    people = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo")
    return [
        f"[{i + 1}] Tue {5 + i % 20} Mar 2024, {people[i % len(people)]}: We talked about the "
        f"garden plan number {round_no * 100 + i}, the tomatoes by the south fence and the bus "
        f"at 7:{10 + i % 50}."
        for i in range(count)
    ]


def probe_evidence(model: ChatModel, round_no: int, tokens: int) -> list[str]:
    """As many probe lines as fill ``tokens`` (the answer's evidence budget)."""
    lines = _probe_lines(round_no, 64)
    counts = model.count_tokens(lines)
    used, n = 0, 0
    while n < len(lines) and used + counts[n] <= tokens:
        used += counts[n]
        n += 1
    return lines[: max(n, 1)]


def first_token_seconds(model: ChatModel, evidence_tokens: int, rounds: int = 2) -> float:
    """Seconds to the first token of a question with a full evidence budget, after the fixed
    prefix is cached; the faster of ``rounds`` tries."""
    today = "Tuesday, 12 March 2024, 10:00"
    for _ in model.stream(build_messages("What do you remember?", [], today), max_tokens=1):
        pass
    best = float("inf")
    for r in range(rounds):
        lines = probe_evidence(model, r, evidence_tokens)
        messages = build_messages("What did we say about the garden?", lines, today)
        t0 = time.perf_counter()
        pieces: Iterator[str] = model.stream(messages, max_tokens=1)
        for _ in pieces:
            break
        best = min(best, time.perf_counter() - t0)
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    return best


def choose(
    open_model: Callable[[EmbeddedModel], AbstractContextManager[ChatModel]],
    budget_s: float, evidence_tokens: int, *, available: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Choice:
    """Measure the embedded models on this machine and pick one (see the module docstring).

    ``open_model`` loads one model in its own process for the measurement and closes it after.
    """
    measured: dict[str, float] = {}

    def measure(model: EmbeddedModel) -> None:
        if progress:
            progress(f"Measuring {model.label} on this machine…")
        with open_model(model) as process:
            measured[model.key] = round(first_token_seconds(process, evidence_tokens), 2)

    free = available_memory() if available is None else available
    if not fits_in_memory(LARGE, free):
        gb = (free or 0) / 1e9
        return Choice(SMALL.key, f"{LARGE.label} needs about {memory_needed(LARGE) / 1e9:.1f} GB "
                      f"of free memory and {gb:.1f} GB is free", measured, time.time())
    try:
        measure(LARGE)
    except ModelError as exc:
        return Choice(SMALL.key, f"{LARGE.label} could not be used: {exc}", measured, time.time())
    large_s = measured[LARGE.key]
    if large_s <= budget_s:
        return Choice(LARGE.key, f"its first token came after {large_s:.1f} s here, within the "
                      f"{budget_s:g} s budget", measured, time.time())
    with suppress(ModelError):  # the small model is the fallback either way; its own error
        measure(SMALL)  # shows when it loads
    return Choice(SMALL.key, f"{LARGE.label}'s first token came after {large_s:.1f} s here, over "
                  f"the {budget_s:g} s budget", measured, time.time())


def describe(choice: Choice | None, setting: str) -> str:
    """One line for status and Settings: which model answers, and why."""
    if setting not in ("auto",):
        return f"set in Settings ({setting})"
    if choice is None:
        return ("the small model until this machine is measured (the app does it when it "
                "opens; or run memlane models --measure)")
    return f"chosen {time.strftime('%d %b %Y', time.localtime(choice.at))}: {choice.why}"
