"""Small chat exports in every supported format, and the web pages and Firefox the browser tests
open, written and started by the tests themselves."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

LOCOMO: list[dict[str, Any]] = [
    {
        "sample_id": "conv-x",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a greyhound called Pixel."},
                {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely! Here is my new bike.",
                 "img_url": ["http://example.invalid/x.jpg"],
                 "blip_caption": "a photo of a red racing bicycle"},
            ],
            "session_2_date_time": "10:00 am on 20 June, 2023",
            "session_2": [
                {"speaker": "Ana", "dia_id": "D2:1", "text": "Pixel learned to open the fridge."},
            ],
        },
        "qa": [{"question": "What is Ana's dog called?", "answer": "Pixel", "evidence": ["D1:1"],
                "category": 4}],
    }
]

CHATGPT: list[dict[str, Any]] = [
    {
        "title": "Sourdough help",
        "create_time": 1700000000.0,
        "conversation_id": "c-123",
        "current_node": "n3",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["n1"]},
            "n1": {"id": "n1", "parent": "root", "children": ["n2", "n2b"], "message": {
                "id": "n1", "author": {"role": "user"}, "create_time": 1700000001.0,
                "content": {"content_type": "text", "parts": ["My sourdough starter smells of acetone"]}}},
            "n2b": {"id": "n2b", "parent": "n1", "children": [], "message": {
                "id": "n2b", "author": {"role": "assistant"}, "create_time": 1700000002.0,
                "content": {"content_type": "text", "parts": ["(regenerated answer nobody saw)"]}}},
            "n2": {"id": "n2", "parent": "n1", "children": ["n3"], "message": {
                "id": "n2", "author": {"role": "assistant"}, "create_time": 1700000003.0,
                "content": {"content_type": "text", "parts": ["Feed it more often: it is hungry."]}}},
            "n3": {"id": "n3", "parent": "n2", "children": [], "message": {
                "id": "n3", "author": {"role": "user"}, "create_time": 1700000004.0,
                "content": {"content_type": "text", "parts": ["Thanks, twice a day then."]}}},
        },
    }
]

JSONL_ROWS = [
    {"time": "2024-03-01T09:00:00", "speaker": "me", "text": "Booked the dentist for Friday",
     "conversation": "notes"},
    {"time": 1709290800, "speaker": "Sam", "text": "Remember the quokka photo?", "conversation": "sam"},
    {"time": "2024-03-01T10:00:00Z", "speaker": "me", "text": "Yes, from Rottnest Island",
     "conversation": "sam"},
]

TEXT = """# Call with Priya
## 2024-02-10
[09:15] Priya: The launch moves to the **third week** of April.
[09:16] Me: Then the marmalade stand opens later.
It was supposed to open in March.
**Priya**: Agreed.
"""


def write_samples(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "locomo": folder / "locomo.json",
        "chatgpt": folder / "conversations.json",
        "jsonl": folder / "chat.jsonl",
        "text": folder / "call.md",
    }
    files["locomo"].write_text(json.dumps(LOCOMO))
    files["chatgpt"].write_text(json.dumps(CHATGPT))
    files["jsonl"].write_text("\n".join(json.dumps(r) for r in JSONL_ROWS) + "\n")
    files["text"].write_text(TEXT)
    return files


FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")


def browser_pages(folder: Path) -> tuple[Path, Path]:
    """A page to record ("Tide notes", "lowwater") and one whose address the tests exclude
    ("secret-ledger", "walrusvault")."""
    page = folder / "tide-notes.html"
    page.write_text("<html><head><title>Tide notes</title></head><body style='font-size:40px'>"
                    "<h1>Lisbon lowwater at 06:12</h1></body></html>")
    secret = folder / "secret-ledger.html"
    secret.write_text("<html><head><title>Ledger</title></head><body style='font-size:40px'>"
                      "<h1>walrusvault balance</h1></body></html>")
    return page, secret


def firefox(env: dict[str, str], tmp: Path, page: Path, **extra: str) -> subprocess.Popen[bytes]:
    """Firefox showing ``page`` in a profile under ``tmp``, speaking AT-SPI."""
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.Popen(
        [str(FIREFOX), "--no-remote", "--profile", str(profile), "--new-window", page.as_uri()],
        env={**env, "HOME": str(tmp), "GNOME_ACCESSIBILITY": "1", "MOZ_CRASHREPORTER_DISABLE": "1",
             **extra},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
