"""Memlane: a private, searchable memory of your own computer life.

The package is split into an engine (``app``, ``capture``, ``memory``, ``models``) that never
imports Qt, and a desktop UI (``ui``) that is the only place PySide6 appears.
"""

__version__ = "0.1.0"
