"""How Memlane starts its own child processes, from a source install or from the packaged app.

The model worker and the recorder run as separate processes. From a virtual environment they are
``python -m MODULE``; inside the PyInstaller bundle (``sys.frozen``) there is no Python to pass
``-m`` to, so the bundle's own executable is started with ``--memlane-module MODULE`` and its entry
point (``packaging/memlane_bundle.py``) runs that module. Everything that spawns Memlane code asks
:func:`module_command` so both installs behave the same.
"""

from __future__ import annotations

import runpy
import sys

MODULE_FLAG = "--memlane-module"


def frozen() -> bool:
    """True inside the packaged (PyInstaller) app."""
    return bool(getattr(sys, "frozen", False))


def module_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``module`` as ``__main__`` in a new process."""
    if frozen():
        return [sys.executable, MODULE_FLAG, module, *args]
    return [sys.executable, "-m", module, *args]


def run_module_from_argv(argv: list[str]) -> bool:
    """If ``argv`` asks for a module (the bundle's child-process form), run it and return True."""
    if len(argv) >= 3 and argv[1] == MODULE_FLAG:
        module = argv[2]
        sys.argv = [module, *argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return True
    return False
