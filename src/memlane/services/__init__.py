"""What Memlane does, composed from the engine parts: the engine (the one composition root), the
assistant, consolidation, the recorder and its OCR worker and upkeep, ingest, demo, encryption and
desktop integration. Clients (``memlane.cli``, ``memlane.ui``) call these; nothing here imports Qt.
"""
