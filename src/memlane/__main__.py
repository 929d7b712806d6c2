"""Allow ``python -m memlane``."""

from memlane.main import main

main()
