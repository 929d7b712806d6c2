"""Desktop integration that needs no Qt: the "Start at login" autostart entry, memlane:// links.

"Start at login" is a setting of the app; turning it on writes
``$XDG_CONFIG_HOME/autostart/memlane.desktop`` (usually ``~/.config/autostart``) that starts
``memlane gui --hidden`` with the same program and home folder as the running app, and turning
it off removes that file. The file carries ``TryExec``, so a desktop skips it quietly once the
program it names is uninstalled. Only the file we wrote (marked ``X-Memlane-Autostart``) is ever
removed. :func:`register_links` makes ``memlane://frame/ID`` links (the journal's) open this
Memlane, through a hidden desktop entry and ``mimeapps.list``, never overriding a handler the
person chose.
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
        _write(path, autostart_entry(home))
    elif autostart_enabled():
        path.unlink()
    return path


# -- memlane:// links ------------------------------------------------------------------------------

LINKS_FILE = "memlane-links.desktop"
LINKS_MARKER = "X-Memlane-Links=true"
SCHEME = "x-scheme-handler/memlane"


def data_home() -> Path:
    """The user's data folder for desktop entries (``$XDG_DATA_HOME``, else ``~/.local/share``)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def links_entry(home: Path) -> str:
    cmd = gui_command(home)
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Memlane",
        "Comment=Opens memlane:// links (from the Markdown journal) in Memlane",
        f"Exec={' '.join(_exec_quote(a) for a in cmd)} %u",
        f"TryExec={cmd[0]}",
        "Icon=memlane",
        "Terminal=false",
        "NoDisplay=true",
        f"MimeType={SCHEME};",
        LINKS_MARKER,
        "",
    ])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def register_links(home: Path) -> Path:
    """Make memlane:// links open this Memlane: a hidden desktop entry for the scheme, and the
    default handler in ``mimeapps.list`` unless the person already chose one. Returns the
    entry's path; raises OSError when it cannot be written."""
    entry = data_home() / "applications" / LINKS_FILE
    text = links_entry(home)
    try:
        current = entry.read_text(encoding="utf-8")
    except (OSError, ValueError):
        current = None
    # Links carry no home folder: the default home's app takes them over; an app on another
    # home claims them only when no Memlane has yet.
    default = home.resolve() == default_home().resolve()
    if current is None or (default and LINKS_MARKER in current and current != text):
        _write(entry, text)
    mimeapps = (config_home() / "mimeapps.list").resolve()  # a dotfile manager's link stays
    try:
        lines = mimeapps.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except ValueError:  # not text we can edit safely: leave the person's file alone
        return entry
    if any(line.split("=", 1)[0].strip() == SCHEME for line in lines):
        return entry  # a handler was chosen (by us earlier, or by the person)
    if "[Default Applications]" not in (line.strip() for line in lines):
        lines += ["", "[Default Applications]"] if lines else ["[Default Applications]"]
    at = [line.strip() for line in lines].index("[Default Applications]")
    lines.insert(at + 1, f"{SCHEME}={LINKS_FILE}")
    _write(mimeapps, "\n".join(lines) + "\n")
    return entry
