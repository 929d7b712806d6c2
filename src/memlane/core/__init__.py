"""The base every other layer stands on: errors and exit codes, paths, settings, how to launch.

It imports nothing else of Memlane (docs/adr/009-layers.md).
"""
