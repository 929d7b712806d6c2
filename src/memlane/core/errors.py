"""Every error a person can cause or fix, and every exit code of ``memlane``, in one place.

Each failure the user can cause or fix (bad input file, missing model, full disk, wrong settings,
a locked memory) raises a :class:`MemlaneError` subclass whose ``str()`` is a complete, one-line
sentence. The CLI prints it as ``Error: ...`` and exits with its :attr:`~MemlaneError.exit_code`;
the GUI shows it in a non-modal dialog. Anything else is a bug and gets a traceback in the log.
"""

from __future__ import annotations


class MemlaneError(Exception):
    """Base class for errors that are shown to the user as they are."""

    exit_code = 1


class SettingsError(MemlaneError):
    """The settings file cannot be read or holds a wrong value."""

    exit_code = 2


class InputError(MemlaneError):
    """An input file is unreadable or malformed; nothing from it was stored."""

    exit_code = 3


class ModelError(MemlaneError):
    """A model file is missing, corrupt or cannot be loaded."""

    exit_code = 4


class StorageError(MemlaneError):
    """The data folder cannot be written (full disk, permissions, a corrupt database)."""

    exit_code = 5


class DependencyError(MemlaneError):
    """A system dependency (for example the tesseract binary) is missing."""

    exit_code = 6


class RecorderError(MemlaneError):
    """The recorder could store nothing: every tick failed (no display, no permission)."""

    exit_code = 7


class RecorderBusy(MemlaneError):
    """Another Memlane recorder already runs on this home folder."""

    exit_code = 8


class LockedError(MemlaneError):
    """The memory is encrypted and no (or a wrong) passphrase was given."""

    exit_code = 9
