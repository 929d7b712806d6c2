"""Memlane: a private, searchable memory of your own computer life.

The package is split into layers (ADR 009): ``ui``, ``cli`` and ``mcpserver`` over ``services``,
over ``capture``, ``memory`` and ``models``, over ``core``; only ``ui`` imports Qt. Importing it
switches off what the libraries it uses would send home, before any of them starts: onnxruntime
(1.29 and later) uploads usage events to Microsoft on Linux unless ``ORT_DISABLE_TELEMETRY`` is
set when it initialises (seen under strace as a DNS lookup of mobile.events.data.microsoft.com).
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
