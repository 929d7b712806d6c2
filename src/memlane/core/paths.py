"""Where Memlane keeps things: resolved once, here, and handed to the engine as arguments.

Order of precedence: the ``--home DIR`` flag, then the ``MEMLANE_HOME`` environment variable, then
the platform's data folder (platformdirs). Everything the app writes lives under that one home
folder, so that export, deletion and "what does Memlane store" have a single answer. The folder is
created with mode 0700 and the process umask is set to 077, so every file is 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "memlane"
KEY_FILE = "key.json"
# The folders under the home that hold frame images (see memlane.memory.frames).
FRAME_FOLDERS = ("frames", "thumbnails", "spool")


@dataclass(frozen=True)
class Paths:
    """All locations under one home folder."""

    home: Path

    @property
    def db(self) -> Path:
        return self.home / "memlane.db"

    @property
    def vectors(self) -> Path:
        return self.home / "vectors"

    @property
    def frames(self) -> Path:
        return self.home / FRAME_FOLDERS[0]

    @property
    def thumbnails(self) -> Path:
        return self.home / FRAME_FOLDERS[1]

    @property
    def spool(self) -> Path:
        """Lossless copies of captured frames until OCR has read them."""
        return self.home / FRAME_FOLDERS[2]

    @property
    def frame_folders(self) -> tuple[Path, Path, Path]:
        return self.frames, self.thumbnails, self.spool

    @property
    def work(self) -> Path:
        """Short-lived files of a running operation (an export's snapshot); cleaned at start."""
        return self.home / "tmp"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def model_choice(self) -> Path:
        """Which embedded model this machine answers with, and the measurement behind it."""
        return self.models / "choice.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def settings(self) -> Path:
        return self.home / "settings.toml"

    @property
    def key_file(self) -> Path:
        """The wrapped key of an encrypted home (never the key itself)."""
        return self.home / KEY_FILE

    @property
    def recorder_lock(self) -> Path:
        """Held by the one recorder of this home; it names that recorder's pid."""
        return self.home / "recorder.lock"

    @property
    def model_log(self) -> Path:
        return self.logs / "model.log"

    @property
    def gui_log(self) -> Path:
        return self.logs / "gui.log"

    @property
    def mcp_log(self) -> Path:
        """One JSON line per call from another program (MCP): when, which client, which tool."""
        return self.logs / "mcp.jsonl"

    @property
    def app_lock(self) -> Path:
        """Held by the one desktop app open on this home; a second start hands over to it."""
        return self.home / "app.lock"

    @property
    def app_inbox(self) -> Path:
        """Requests for the open app (show the window, open a memlane:// link), one file each."""
        return self.home / "inbox"

    def ensure(self) -> None:
        """Create the home folder and its sub-folders, private to the user."""
        os.umask(0o077)
        for folder in (self.home, self.frames, self.thumbnails, self.models, self.logs,
                       self.work):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)


def config_home() -> Path:
    """The user's configuration folder (``$XDG_CONFIG_HOME``, else ``~/.config``)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def default_home() -> Path:
    """The platform's per-user data folder for Memlane."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_home(flag: str | os.PathLike[str] | None = None) -> Path:
    """Pick the home folder: ``--home`` flag, else ``MEMLANE_HOME``, else the platform default."""
    if flag:
        return Path(flag).expanduser().resolve()
    env = os.environ.get("MEMLANE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return default_home()
