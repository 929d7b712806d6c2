"""Shared fixtures: real SQLite, real Chroma and the real embedder in temporary folders."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt makes the QApplication

import pytest
from click.testing import CliRunner, Result
from PIL import Image, ImageDraw, ImageFont

from memlane.cli import cli
from memlane.core.paths import Paths
from memlane.models.embedder import OnnxEmbedder
from memlane.models.registry import EMBEDDED, LARGE, assemble, installed
from memlane.services.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
LOCOMO = SHARED_DATA / "locomo" / "locomo_dev5.json"
SCREENS = SHARED_DATA / "screens" / "screenagent_dev"


@pytest.fixture(autouse=True)
def desktop_folders(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The person's desktop configuration (autostart, link handlers) stays untouched by tests."""
    base = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


class ModelStore:
    """Each embedded model assembled (and verified) once per test run; homes get hard links.

    A model is half a gigabyte or more: a copy in every test's home filled a CI disk. The app
    re-verifies a model's SHA-256 before each load, so a linked copy is checked as a real one is.
    Tests of assembly itself (torn copies, killed writers) assemble their own.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, Path] = {}

    def file(self, key: str) -> Path:
        if key not in self._files:
            self._files[key] = assemble(EMBEDDED[key], self.folder)
        return self._files[key]

    def seed(self, models_dir: Path, *keys: str) -> Path:
        """Put the models named by ``keys`` ("small", "large") into ``models_dir``."""
        models_dir.mkdir(parents=True, exist_ok=True)
        for key in keys:
            target = models_dir / EMBEDDED[key].file_name
            if not target.exists():
                try:
                    target.hardlink_to(self.file(key))
                except OSError:  # another file system: a copy
                    shutil.copyfile(self.file(key), target)
        return models_dir

    def seed_for_app(self, models_dir: Path) -> Path:
        """The models the desktop app measures this machine with at its first start: the small
        one, and the larger one where its packages are installed."""
        return self.seed(models_dir, "small",
                         *(["large"] if installed(LARGE, models_dir) else []))


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("model-store"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def engine(home: Path, embedder: OnnxEmbedder) -> Iterator[Engine]:
    with Engine(Paths(home), embedder=embedder) as eng:
        yield eng


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()
        self.input: str | None = None  # stdin for every command (an encrypted home's passphrase)

    def __call__(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = self.runner.invoke(cli, ["--home", str(self.home), *args], catch_exceptions=False,
                                    input=self.input if input is None else input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def run(home: Path) -> Cli:
    return Cli(home)


def render_text(lines: list[str], size: tuple[int, int] = (1000, 400), font_size: int = 32) -> Image.Image:
    """A white screenshot-like image with dark text, for real OCR."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    y = 20
    for line in lines:
        draw.text((24, y), line, fill=(20, 20, 20), font=font)
        y += int(font_size * 1.6)
    return image


def chat_file(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A JSON Lines chat export: one (time, speaker, text, conversation) per message."""
    path.write_text("\n".join(json.dumps({"time": t, "speaker": who, "text": text,
                                          "conversation": conv}) for t, who, text, conv in rows))
    return path


def screenshots(folder: Path, shots: dict[str, list[str]]) -> Path:
    """A folder of rendered screenshots: file name (its time) -> the lines of text shown."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in shots.items():
        render_text(lines).save(folder / name)
    return folder


def memlane_subprocess_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MEMLANE_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


PYTHON = sys.executable
