"""The settings file: a documented TOML file in the home folder, read into typed dataclasses.

``settings.toml`` is written with every default and a comment per value on first run, so the
person can see and edit what Memlane does. Unknown keys and wrong types are reported as a
:class:`SettingsError` naming the key, never silently ignored. Engine classes receive the
dataclass for their part; they never read the file themselves.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from memlane.core.errors import SettingsError

DEFAULT_TOML = """\
# Memlane settings, one comment per value. Edit here or in the app's Settings window; the recorder
# picks changes up when it restarts (the app restarts it for you).

[capture]
# Seconds between screen captures.
interval_seconds = 5.0
# WebP quality of stored frames (1-100). Lower is smaller on disk.
webp_quality = 70
# Width in pixels of timeline thumbnails.
thumbnail_width = 320
# A frame is stored only when at least this share (in percent) of its 40x40-pixel tiles
# changed since the last stored frame of that monitor (a blinking cursor is one tile).
min_change_percent = 0.4
# Re-read only the changed parts of a frame with OCR and keep the rest from the previous frame.
ocr_reuse = true
# Which monitors to record: "all", or their numbers (1 is the first), e.g. "1" or "1,3".
monitors = "all"
# Reading stored frames (OCR) waits while the computer runs on battery, unless this is true,
# and while other programs use more than this percent of all CPU cores (at most 10 minutes at
# a time). Frames are stored meanwhile; `memlane status` says how far behind OCR is.
ocr_on_battery = false
ocr_busy_percent = 75.0

[privacy]
# Windows of these apps (WM_CLASS or process name, case and punctuation ignored) are never
# stored: when focused nothing is captured, otherwise they are painted out of the frame.
exclude_apps = [
    "KeePassXC", "KeePass", "1Password", "Bitwarden", "Keychain Access", "Enpass", "LastPass",
    "Dashlane", "pass", "Seahorse", "gnome-keyring",
]
# Windows whose title matches one of these regular expressions (case-insensitive) likewise.
exclude_titles = [
    'Private Browsing', '\\bIncognito\\b', '\\bInPrivate\\b', 'Private Window', 'Tor Browser',
]
# Browser tabs at these addresses are never stored, like an excluded title: a domain
# ("bank.example" covers its subdomains too) or a pattern with * ("*://*/checkout*"). The address
# is the focused Firefox or Chromium tab's, read from the accessibility bus.
exclude_urls = []
# No capture after this many seconds without keyboard or mouse input (0 = always capture).
idle_seconds = 300.0
# Blank card numbers, IBANs, API keys/tokens and password values in OCR text and images.
redact = true
# Keep the vector index (embeddings of your records) in memory only, rebuilt from the database
# at every start (it takes the embedder's time: about 190 records/s on 2 cores); nothing of it
# is written to disk. Pairs with encryption at rest; see the README.
vectors_in_memory = false

[ocr]
# What reads the screen: "tesserocr" (tesseract kept loaded), "tesseract" (the program, started
# for every frame), "rapidocr" (PP-OCR networks in onnxruntime), or "auto": the first of
# tesserocr, tesseract, rapidocr that is installed. `memlane status` says which one runs.
engine = "auto"
# Tesseract languages, e.g. "eng" or "eng+chi_sim". "auto" uses eng+chi_sim when installed.
languages = "auto"

[search]
# Number of results returned when no --limit is given.
limit = 10
# Reciprocal-rank-fusion constant: larger values flatten the weight of top ranks
# (10 was best of 5-100 on LoCoMo evidence recall, see benchmarks/locomo_retrieval.py).
rrf_k = 10
# Weight of keyword (FTS5 BM25) and semantic (vector) rankings in the fusion.
keyword_weight = 1.0
vector_weight = 1.0
# Extra weight for recent or strong memories (0 turns it off).
recency_weight = 0.0
# Half-life in days of the recency term.
recency_half_life_days = 30.0
# Extra weight for episodes and facts (compact, consolidated memories) that match, scaled by
# their strength: importance and how often answers cited them, fading with age (0 = off).
derived_weight = 0.3
# When a question names someone who speaks in your conversations, their messages' scores are
# multiplied by 1 + this (0 = off). 1.0 lifted LoCoMo single-hop evidence recall@8 from 0.70
# to 0.77 and multi-hop from 0.35 to 0.48 (benchmarks/locomo_retrieval.py).
speaker_weight = 1.0

[model]
# Which model answers: "auto" (the app measures this machine once and takes the embedded
# Qwen2.5-Coder-1.5B-Instruct when its first token comes within latency_budget_s, else the
# 0.5B; `memlane models` says which and why), "small" (the 0.5B, also "default"), "large"
# (the 1.5B), or a path to any GGUF file.
path = "auto"
# Seconds to the first token that "auto" accepts from the larger model.
latency_budget_s = 6.0
# Context window in tokens, CPU threads (0 = all cores) and layers offloaded to a GPU.
context_size = 4096
threads = 0
gpu_layers = 0
# llama.cpp's flash attention: the default model's first token came 6% sooner with it on
# 2 CPU cores (benchmarks/answer_prompt.py). A model that fails to load with it loads without.
flash_attention = true

[answer]
# How many search hits are considered as evidence for an answer, and the most tokens of
# evidence put in the model's context. More context delays the first token and can confuse a
# small model: with the default model on 2 cores, 300 gave a first token after ~1.9 s and 450
# after ~2.2 s, with the higher LoCoMo F1 at 300 (benchmarks/locomo_qa.py).
evidence = 8
evidence_tokens = 300
# Longest answer in tokens, and sampling temperature (0 = deterministic).
max_tokens = 96
temperature = 0.0
# A hit counts as relevant evidence when its embedding's cosine distance to the question is
# at most this, or when it matches the question's keywords; with no relevant evidence the
# assistant says it has no memory of that instead of asking the model.
max_distance = 0.75
# Put the memories that share more of what the question is about first, before the best are
# packed (otherwise search order).
rerank = false
# Store each question and answer as an "assistant" conversation, searchable like any other.
remember = true

[memory]
# Build episodes (what you did, when, in which app), day digests and facts from what was
# recorded and imported: in the background every this many minutes while you are idle
# (and at least every 6 hours), or now with `memlane consolidate`. 0 = only by hand.
consolidate_minutes = 30.0
# Let the local model write episode summaries and extract facts; without it they are
# extractive (the record's own words) and facts come from first-person statements only.
use_model = true
# Screen episodes shorter than this many seconds keep the extractive summary (saves CPU).
model_min_seconds = 120
# At most this many model calls per background run (each is a few seconds of CPU).
max_model_calls = 60
# The model that writes them while you are idle: "answer" (whatever answers your questions),
# "small", or "large" (the embedded 1.5B, when it is installed and the memory is free; else the
# answering model). "large" took twice the CPU for no better summaries or answers in
# benchmarks/consolidation.py (docs/adr/012-model-tier-and-evidence.md).
model = "answer"

[retention]
# Delete full-size frame images older than this many days (0 = keep them). Thumbnails and
# text stay unless keep_text is false; every run is written to the deletion log.
frames_days = 0.0
# false: frames older than frames_days are forgotten entirely (image, thumbnail and text).
keep_text = true
# Most gigabytes of full-size frame images to keep (0 = no limit): past it, the oldest
# images are deleted first, keeping their thumbnails and text.
frames_max_gb = 0.0

[ui]
# The app's look: "auto" follows the desktop's light or dark preference, or "light", "dark".
theme = "auto"

[mcp]
# Let programs connected through `memlane mcp` (other AI assistants on this machine) store notes
# and forget memories. Off: they can only search and read.
allow_write = false

[journal]
# A folder (e.g. an Obsidian or Logseq vault) where the app writes one Markdown file per day,
# every day, as `memlane journal` does. Empty = off.
folder = ""

[embedder]
# "default" is the packaged all-MiniLM-L6-v2 int8 ONNX model, or a path to another ONNX file.
model = "default"
# Texts per onnxruntime run: 4 keeps its memory small at the same speed (benchmarks).
batch_size = 4
# CPU threads for embedding (0 = let onnxruntime decide).
threads = 0
"""


@dataclass
class CaptureSettings:
    interval_seconds: float = 5.0
    webp_quality: int = 70
    thumbnail_width: int = 320
    min_change_percent: float = 0.4
    ocr_reuse: bool = True
    monitors: str = "all"
    ocr_on_battery: bool = False
    ocr_busy_percent: float = 75.0

    def monitor_set(self) -> frozenset[int] | None:
        """The monitor numbers to record, or None for all of them."""
        value = self.monitors.strip().lower()
        if value in ("", "all"):
            return None
        try:
            numbers = frozenset(int(part) for part in value.replace(" ", "").split(","))
        except ValueError:
            numbers = frozenset()
        if not numbers or min(numbers) < 1:
            raise SettingsError(
                f'settings: [capture] monitors must be "all" or numbers like "1,2", got {value!r}')
        return numbers


DEFAULT_EXCLUDED_APPS = (
    "KeePassXC", "KeePass", "1Password", "Bitwarden", "Keychain Access", "Enpass",
    "LastPass", "Dashlane", "pass", "Seahorse", "gnome-keyring",
)
DEFAULT_EXCLUDED_TITLES = (
    r"Private Browsing", r"\bIncognito\b", r"\bInPrivate\b", r"Private Window",
    r"Tor Browser",
)


@dataclass
class PrivacySettings:
    exclude_apps: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDED_APPS))
    exclude_titles: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDED_TITLES))
    exclude_urls: list[str] = field(default_factory=list)
    idle_seconds: float = 300.0
    redact: bool = True
    vectors_in_memory: bool = False


@dataclass
class OcrSettings:
    engine: str = "auto"  # auto | tesserocr | tesseract | rapidocr
    languages: str = "auto"


@dataclass
class SearchSettings:
    limit: int = 10
    rrf_k: int = 10
    keyword_weight: float = 1.0
    vector_weight: float = 1.0
    recency_weight: float = 0.0
    recency_half_life_days: float = 30.0
    derived_weight: float = 0.3
    speaker_weight: float = 1.0


@dataclass
class ModelSettings:
    path: str = "auto"
    context_size: int = 4096
    latency_budget_s: float = 6.0
    threads: int = 0
    gpu_layers: int = 0
    flash_attention: bool = True


@dataclass
class AnswerSettings:
    evidence: int = 8
    evidence_tokens: int = 300
    max_tokens: int = 96
    temperature: float = 0.0
    max_distance: float = 0.75
    rerank: bool = False
    remember: bool = True


@dataclass
class EmbedderSettings:
    model: str = "default"
    batch_size: int = 4
    threads: int = 0


@dataclass
class MemorySettings:
    consolidate_minutes: float = 30.0
    use_model: bool = True
    model_min_seconds: float = 120.0
    max_model_calls: int = 60
    model: str = "answer"


@dataclass
class RetentionSettings:
    frames_days: float = 0.0
    keep_text: bool = True
    frames_max_gb: float = 0.0


THEMES = ("auto", "light", "dark")
CONSOLIDATION_MODELS = ("answer", "small", "large")
OCR_ENGINES = ("auto", "tesserocr", "tesseract", "rapidocr")


@dataclass
class UiSettings:
    theme: str = "auto"


@dataclass
class McpSettings:
    allow_write: bool = False


@dataclass
class JournalSettings:
    folder: str = ""


@dataclass
class Settings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    ocr: OcrSettings = field(default_factory=OcrSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"settings: [{section}] {key} must be a list of strings")
        return value
    if not isinstance(value, expected) or isinstance(value, bool) != isinstance(default, bool):
        raise SettingsError(
            f"settings: [{section}] {key} must be {expected.__name__}, got {value!r}"
        )
    return value


def parse_settings(data: dict[str, Any]) -> Settings:
    """Build :class:`Settings` from a parsed TOML mapping, checking names and types."""
    settings = Settings()
    known = {f.name for f in fields(settings)}
    for section, values in data.items():
        if section not in known:
            raise SettingsError(f"settings: unknown section [{section}]")
        if not isinstance(values, dict):
            raise SettingsError(f"settings: [{section}] must be a table")
        target = getattr(settings, section)
        names = {f.name for f in fields(target)}
        for key, value in values.items():
            if key not in names:
                raise SettingsError(f"settings: unknown key [{section}] {key}")
            setattr(target, key, _coerce(section, key, value, getattr(target, key)))
    settings.capture.monitor_set()  # a wrong monitor list is reported at load, by name
    if settings.ocr.engine not in OCR_ENGINES:
        raise SettingsError(f"settings: [ocr] engine must be one of {', '.join(OCR_ENGINES)}, "
                            f"got {settings.ocr.engine!r}")
    if settings.memory.model not in CONSOLIDATION_MODELS:
        raise SettingsError("settings: [memory] model must be one of "
                            f"{', '.join(CONSOLIDATION_MODELS)}, got {settings.memory.model!r}")
    if settings.ui.theme not in THEMES:
        raise SettingsError(f"settings: [ui] theme must be one of {', '.join(THEMES)}, "
                            f"got {settings.ui.theme!r}")
    return settings


def load_settings(path: Path, *, create: bool = True) -> Settings:
    """Read ``path``; write the documented defaults there first when it does not exist."""
    if not path.exists():
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(DEFAULT_TOML, encoding="utf-8")
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"settings: cannot read {path}: {exc}") from exc
    return parse_settings(data)


_KEY_LINE = re.compile(r"^(\w+)\s*=")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # TOML literal strings keep regular expressions readable; fall back to JSON escapes.
        return f"'{value}'" if "'" not in value and "\n" not in value else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise SettingsError(f"settings: cannot write {value!r}")


def dump_settings(settings: Settings) -> str:
    """The documented settings file with ``settings``' values in place of the defaults.

    Values left at their default keep the file's own lines (long lists stay wrapped).
    """
    values = asdict(settings)
    defaults = asdict(Settings())
    out: list[str] = []
    section = ""
    key = ""
    for line in DEFAULT_TOML.splitlines():
        if key:  # inside a default list spanning several lines
            if values[section][key] == defaults[section][key]:
                out.append(line)
            if line.rstrip().endswith("]"):
                key = ""
            continue
        if line.startswith("[") and line.rstrip().endswith("]"):
            section = line.strip()[1:-1]
        elif (m := _KEY_LINE.match(line)) and section in values:
            rest = line.split("=", 1)[1].strip()
            if rest.startswith("[") and not rest.endswith("]"):
                key = m[1]
            if values[section][m[1]] != defaults[section][m[1]]:
                line = f"{m[1]} = {_toml_value(values[section][m[1]])}"
        out.append(line)
    text = "\n".join(out) + "\n"
    parse_settings(tomllib.loads(text))  # never write a file that would not load
    return text


def save_settings(path: Path, settings: Settings) -> None:
    """Write ``settings`` atomically (a crash leaves the old file or the new one, never half)."""
    text = dump_settings(settings)
    tmp = path.with_suffix(".toml.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SettingsError(f"settings: cannot write {path}: {exc}") from exc
