"""Desktop integration that needs no Qt: the freedesktop "Start at login" autostart entry.

"Start at login" is a setting of the app; turning it on writes
``$XDG_CONFIG_HOME/autostart/memlane.desktop`` (usually ``~/.config/autostart``) that starts
``memlane gui --hidden`` with the same program and home folder as the running app, and turning
it off removes that file. The file carries ``TryExec``, so a desktop skips it quietly once the
program it names is uninstalled. Only the file we wrote (marked ``X-Memlane-Autostart``) is ever
removed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from memlane.core.launch import frozen, module_command
from memlane.core.paths import config_home, default_home

AUTOSTART_FILE = "memlane.desktop"
MARKER = "X-Memlane-Autostart=true"


def autostart_path() -> Path:
    return config_home() / "autostart" / AUTOSTART_FILE


def gui_command(home: Path, *args: str) -> list[str]:
    """The argv that opens this same Memlane (program and home folder) as the desktop app."""
    base = [sys.executable] if frozen() else module_command("memlane")
    if home.resolve() != default_home().resolve():
        base += ["--home", str(home)]
    return [*base, "gui", *args]


def _exec_quote(arg: str) -> str:
    """Quote one argument for a desktop entry's ``Exec`` key (freedesktop rules)."""
    if not arg or any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return arg.replace("%", "%%")  # a literal % (field codes start with %)


def autostart_entry(home: Path) -> str:
    cmd = gui_command(home, "--hidden")
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Memlane",
        "Comment=Private memory of your computer life (starts in the tray)",
        f"Exec={' '.join(_exec_quote(a) for a in cmd)}",
        f"TryExec={cmd[0]}",
        "Icon=memlane",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        MARKER,
        "",
    ])


def autostart_enabled() -> bool:
    path = autostart_path()
    try:
        return MARKER in path.read_text(encoding="utf-8")
    except OSError:
        return False


def set_autostart(enabled: bool, home: Path) -> Path:
    """Write or remove the autostart entry; returns its path. Raises OSError when it cannot."""
    path = autostart_path()
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(autostart_entry(home), encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    elif autostart_enabled():
        path.unlink()
    return path
