"""Composition root: settings, paths, errors, engine wiring, scheduler and the CLI (no Qt)."""
