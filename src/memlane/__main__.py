"""Allow ``python -m memlane``."""

from memlane.app.cli import main

main()
