"""Desktop integration: "Start at login" writes/removes a real autostart entry; the packaged app's
child-process form runs Memlane modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memlane.core import launch
from memlane.core.paths import default_home
from memlane.services import desktop


def _entry(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_start_at_login_writes_and_removes_the_autostart_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    home = tmp_path / "my memory"  # a space: the Exec line must quote it
    assert not desktop.autostart_enabled()
    path = desktop.set_autostart(True, home)
    assert path == tmp_path / "config" / "autostart" / "memlane.desktop"
    assert desktop.autostart_enabled()
    entry = _entry(path.read_text())
    assert entry["Type"] == "Application" and entry["TryExec"] == sys.executable
    assert entry["Exec"] == (f"{sys.executable} -m memlane --home \"{home}\" gui --hidden"
                             if " " not in sys.executable else entry["Exec"])
    assert entry["X-Memlane-Autostart"] == "true"
    desktop.set_autostart(False, home)
    assert not path.exists() and not desktop.autostart_enabled()


def test_the_default_home_is_not_spelled_out_and_foreign_entries_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert "--home" not in desktop.gui_command(default_home())
    path = tmp_path / "autostart" / "memlane.desktop"
    path.parent.mkdir()
    path.write_text("[Desktop Entry]\nExec=my-own-wrapper\n")  # the person's own file
    assert not desktop.autostart_enabled()
    desktop.set_autostart(False, tmp_path)
    assert path.read_text() == "[Desktop Entry]\nExec=my-own-wrapper\n"


def test_exec_quoting_follows_the_desktop_entry_rules() -> None:
    assert desktop._exec_quote("/opt/memlane/memlane") == "/opt/memlane/memlane"
    assert desktop._exec_quote('/home/a b/$x"y') == '"/home/a b/\\$x\\"y"'
    assert desktop._exec_quote("100%") == "100%%"


def test_the_bundles_child_process_form(monkeypatch: pytest.MonkeyPatch) -> None:
    assert launch.module_command("memlane.models.worker", "--x") == [
        sys.executable, "-m", "memlane.models.worker", "--x"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert launch.module_command("memlane", "capture") == [
        sys.executable, "--memlane-module", "memlane", "capture"]
    assert desktop.gui_command(default_home()) == [sys.executable, "gui"]


@pytest.mark.slow
def test_the_bundle_entry_point_runs_a_module_or_the_cli() -> None:
    entry = Path(__file__).parents[1] / "packaging" / "memlane_bundle.py"
    as_child = subprocess.run([sys.executable, str(entry), "--memlane-module", "memlane",
                               "--version"], capture_output=True, text=True, timeout=60)
    as_cli = subprocess.run([sys.executable, str(entry), "--version"], capture_output=True,
                            text=True, timeout=60)
    assert as_child.returncode == 0 and "version" in as_child.stdout
    assert as_cli.stdout == as_child.stdout


def test_memlane_links_open_this_memlane_unless_the_person_chose_a_handler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memlane.services.desktop import LINKS_FILE, SCHEME, register_links

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    home = tmp_path / "my memory"
    entry = register_links(home)
    text = entry.read_text()
    assert entry == tmp_path / "data" / "applications" / LINKS_FILE
    assert f"MimeType={SCHEME};" in text and "NoDisplay=true" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(" gui %u") and '"' + str(home) + '"' in exec_line
    mimeapps = tmp_path / "config" / "mimeapps.list"
    assert f"{SCHEME}={LINKS_FILE}" in mimeapps.read_text()
    register_links(home)  # again: nothing doubled
    assert mimeapps.read_text().count(SCHEME) == 1
    # a handler the person chose stays theirs; their other lines are kept
    mimeapps.write_text("[Default Applications]\ntext/html=firefox.desktop\n"
                        f"{SCHEME}=my-handler.desktop\n")
    register_links(home)
    assert mimeapps.read_text() == ("[Default Applications]\ntext/html=firefox.desktop\n"
                                    f"{SCHEME}=my-handler.desktop\n")
    # a mimeapps.list without the section gets one, after what was there
    mimeapps.write_text("[Added Associations]\ntext/plain=gedit.desktop\n")
    register_links(home)
    assert mimeapps.read_text() == ("[Added Associations]\ntext/plain=gedit.desktop\n\n"
                                    f"[Default Applications]\n{SCHEME}={LINKS_FILE}\n")


def test_the_packaged_desktop_entry_handles_memlane_links() -> None:
    from conftest import ROOT

    text = (ROOT / "packaging" / "memlane.desktop").read_text()
    assert "MimeType=x-scheme-handler/memlane;" in text and "Exec=memlane gui %u" in text


def test_links_registration_keeps_symlinks_odd_files_and_the_default_homes_claim(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memlane.services.desktop import LINKS_FILE, SCHEME, register_links

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "config").mkdir()
    dotfiles = tmp_path / "dotfiles" / "mimeapps.list"
    dotfiles.parent.mkdir()
    dotfiles.write_text("[Default Applications]\n")
    (tmp_path / "config" / "mimeapps.list").symlink_to(dotfiles)
    register_links(default_home())
    assert (tmp_path / "config" / "mimeapps.list").is_symlink()
    assert f"{SCHEME}={LINKS_FILE}" in dotfiles.read_text()
    # another home does not take the links from the default home's app
    entry = tmp_path / "data" / "applications" / LINKS_FILE
    before = entry.read_text()
    register_links(tmp_path / "other home")
    assert entry.read_text() == before
    # a mimeapps.list that is not UTF-8 is left as it is, and nothing fails
    dotfiles.write_bytes(b"[Default Applications]\n\xff\xfe odd\n")
    (tmp_path / "data" / "applications" / LINKS_FILE).unlink()
    register_links(default_home())
    assert dotfiles.read_bytes() == b"[Default Applications]\n\xff\xfe odd\n"
