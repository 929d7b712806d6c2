"""The one exception base of the engine, with messages written for the person using Memlane.

Every engine failure the user can cause or fix (bad input file, missing model, full disk, wrong
settings) raises a :class:`MemlaneError` subclass whose ``str()`` is a complete, one-line sentence.
The CLI prints it as ``Error: ...`` and exits with :attr:`MemlaneError.exit_code`; the GUI shows it
in a non-modal dialog. Anything else is a bug and gets a traceback in the log.
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
