"""The ``memlane`` command line: a thin client that parses arguments, calls the engine, prints.

Each module registers its commands on the one group in :mod:`memlane.cli.common`; importing this
package registers them all. Every command has ``--help``.
"""

from memlane.cli import answers, capture, crypto, data, memory, records
from memlane.cli.common import cli

__all__ = ["answers", "capture", "cli", "crypto", "data", "memory", "records"]
