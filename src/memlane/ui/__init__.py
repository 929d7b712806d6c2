"""Desktop UI (PySide6). The only package allowed to import Qt."""
