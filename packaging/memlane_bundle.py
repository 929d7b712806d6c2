"""Entry point of the packaged app (PyInstaller): ``memlane`` as installed under /opt/memlane.

The bundle has no separate Python, so Memlane's child processes (model worker, recorder) start
this same executable with ``--memlane-module MODULE`` (see :mod:`memlane.core.launch`); anything
else is the ordinary ``memlane`` command line.
"""

import sys

from memlane.core.launch import run_module_from_argv

if __name__ == "__main__":
    if not run_module_from_argv(sys.argv):
        from memlane.main import main

        main()
