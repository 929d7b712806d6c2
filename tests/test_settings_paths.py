"""Paths resolve in one place with the documented precedence; settings are typed and documented."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from memlane.core.errors import SettingsError
from memlane.core.paths import Paths, resolve_home
from memlane.core.settings import DEFAULT_TOML, load_settings, parse_settings


def test_flag_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMLANE_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "flag") == (tmp_path / "flag").resolve()
    assert resolve_home(None) == (tmp_path / "env").resolve()
    monkeypatch.delenv("MEMLANE_HOME")
    assert resolve_home(None).name == "memlane"


def test_home_is_private(engine) -> None:  # type: ignore[no-untyped-def]
    engine.store.counts()
    home = engine.paths.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(engine.paths.db.stat().st_mode) == 0o600
    assert stat.S_IMODE(engine.paths.settings.stat().st_mode) == 0o600


def test_defaults_written_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    first = load_settings(path)
    assert path.read_text() == DEFAULT_TOML
    assert load_settings(path) == first
    assert first.search.limit == 10 and first.ocr.languages == "auto"


def test_settings_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[search\] limit must be int"):
        parse_settings({"search": {"limit": "ten"}})
    with pytest.raises(SettingsError, match="unknown key"):
        parse_settings({"search": {"limti": 3}})
    bad = tmp_path / "s.toml"
    bad.write_text("[search\nlimit=")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(bad)
    assert parse_settings({"capture": {"interval_seconds": 2}}).capture.interval_seconds == 2.0


def test_paths_layout(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "h")
    paths.ensure()
    for folder in (paths.frames, paths.thumbnails, paths.models, paths.logs):
        assert folder.is_dir() and folder.parent == paths.home
