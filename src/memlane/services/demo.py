"""A small sample memory, generated here, so a first look at the app is never empty.

``memlane gui --demo`` (and ``make screenshots``) open a separate home folder filled by
:func:`build_demo`: a dozen screens drawn with Pillow (a flight search, a code editor, a mail, a
budget sheet, a terminal, a recipe), timed over yesterday and today, and a chat with a friend.
They go through the real pipeline (tesseract OCR, the store, embeddings), so search, the timeline
and the assistant behave exactly as on real data. Nothing is downloaded; the person's own home is
never touched. The folder is rebuilt when it was made on another day, so "yesterday" stays true.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import platformdirs
from PIL import Image, ImageDraw, ImageFont

from memlane.core.paths import APP_NAME, Paths
from memlane.memory.records import ConversationIn, MessageIn

DEMO_VERSION = 1
MARKER = "demo.json"
SIZE = (1280, 800)
FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
# App colours of the fake window chrome (the timeline draws its own per-app colours).
CHROME = {"firefox": (255, 113, 57), "code": (0, 122, 204), "thunderbird": (10, 132, 255),
          "libreoffice-calc": (16, 124, 65), "gnome-terminal": (48, 10, 36),
          "element": (13, 189, 139)}


@dataclass(frozen=True)
class Scene:
    app: str
    title: str
    lines: tuple[str, ...]
    dark: bool = False


FLIGHTS = Scene("firefox", "Flights to Lisbon - TAP Air Portugal", (
    "Berlin (BER) to Lisbon (LIS)   Fri 12 Dec   1 adult   Economy",
    "Sort by: price",
    "Ryanair FR 1446    06:25 - 09:05    direct    EUR 89",
    "easyJet U2 4531    11:40 - 14:20    direct    EUR 112",
    "TAP TP 541         13:10 - 15:55    direct    EUR 128",
    "Lufthansa LH 1166  07:05 - 12:30    1 stop    EUR 204",
    "Prices include one cabin bag. Checked bag from EUR 35.",
))
HOTEL = Scene("firefox", "Alfama guesthouse - Booking", (
    "Casa do Fado Guesthouse, Alfama, Lisbon",
    "12 - 15 December, 3 nights, EUR 74 per night",
    "Free cancellation until 10 December",
    "Rated 9.1 Superb - 412 reviews - breakfast included",
))
CODE = Scene("code", "retrieval.py - memlane - Visual Studio Code", (
    "def fuse(keyword, vector, k=10):",
    "    scores = {}",
    "    for rank, hit in enumerate(keyword):",
    "        scores[hit] = scores.get(hit, 0) + 1 / (k + rank)",
    "    for rank, hit in enumerate(vector):",
    "        scores[hit] = scores.get(hit, 0) + 1 / (k + rank)",
    "    return sorted(scores, key=scores.get, reverse=True)",
), dark=True)
MAIL = Scene("thunderbird", "Inbox - Appointment confirmed - Thunderbird", (
    "From: Dr. Weber Dental Practice",
    "Subject: Appointment confirmed",
    "Your check-up is booked for Thursday at 09:30.",
    "Please bring your insurance card. To cancel, call 030 5551234.",
))
BUDGET = Scene("libreoffice-calc", "budget-2026.ods - LibreOffice Calc", (
    "Category        November    December",
    "Rent            950         950",
    "Groceries       310         340",
    "Travel          0           420",
    "Gym             29          29",
    "Total           1289        1739",
))
TERMINAL = Scene("gnome-terminal", "make test - Terminal", (
    "$ make test",
    "tests/test_search.py ........                 [ 40%]",
    "tests/test_timeline.py ......                 [ 70%]",
    "tests/test_chat.py ......                     [100%]",
    "20 passed in 4.12s",
), dark=True)
RECIPE = Scene("firefox", "Pasta alla Norma recipe - Firefox", (
    "Pasta alla Norma (serves 4)",
    "2 aubergines, 400 g rigatoni, 1 tin tomatoes, 2 garlic cloves",
    "Ricotta salata, fresh basil, olive oil",
    "Fry the aubergine cubes until golden, then simmer with tomatoes for 15 minutes.",
))
CHAT = Scene("element", "#team-standup - Element", (
    "Mara: standup moved to 10:15 tomorrow",
    "Jonas: I am reviewing the export branch today",
    "Mara: release candidate on Friday, please test the installer",
))

# (day offset, hour, minute, scene, lines shown): a few frames per scene make activity runs.
SCHEDULE: tuple[tuple[int, int, int, Scene, int], ...] = (
    (-1, 9, 2, MAIL, 4), (-1, 9, 4, CHAT, 3),
    (-1, 10, 15, CODE, 4), (-1, 10, 17, CODE, 7), (-1, 11, 40, TERMINAL, 5),
    (-1, 13, 5, FLIGHTS, 4), (-1, 13, 6, FLIGHTS, 7), (-1, 13, 9, HOTEL, 4),
    (-1, 15, 30, BUDGET, 6), (-1, 19, 10, RECIPE, 4),
    (0, -3, 0, CHAT, 2), (0, -2, 30, CODE, 6), (0, -1, 45, FLIGHTS, 5),
)

FRIEND = (
    ("Ana", "Are you coming to Lisbon in December? I will be there from the 12th."),
    ("me", "Yes! I am looking at flights from Berlin, Ryanair is cheapest at 89 euros."),
    ("Ana", "Great. Stay in Alfama, it is close to the old tram 28 line."),
    ("me", "I found a guesthouse there for 74 a night. I prefer window seats on flights."),
    ("Ana", "Bring a rain jacket, December is the rainy month."),
)


def demo_home() -> Path:
    """Where the sample memory lives: the user's cache folder, never their own home."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "demo"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def render(scene: Scene, shown: int) -> Image.Image:
    """A screen with a title bar and the scene's first ``shown`` lines."""
    bg, fg = ((30, 30, 30), (230, 230, 230)) if scene.dark else ((255, 255, 255), (20, 20, 20))
    image = Image.new("RGB", SIZE, bg)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, SIZE[0], 44), fill=CHROME.get(scene.app, (90, 90, 90)))
    draw.text((16, 10), scene.title, fill=(255, 255, 255), font=_font(20))
    body = _font(26)
    y = 90
    for line in scene.lines[:shown]:
        draw.text((40, y), line, fill=fg, font=body)
        y += 48
    return image


def _when(day: date, offset: int, hour: int, minute: int, now: datetime) -> float:
    if hour < 0:  # before now, today; early in the morning squeezed into the time since midnight
        earliest = max(-timedelta(hours=h, minutes=m) for _, h, m, _, _ in SCHEDULE if h < 0)
        since_midnight = now - datetime.combine(now.date(), time(0), now.tzinfo)
        scale = min(1.0, since_midnight / (earliest + timedelta(minutes=10)))
        return (now + timedelta(hours=hour, minutes=minute) * scale).timestamp()
    return datetime.combine(day + timedelta(days=offset), time(hour, minute)).timestamp()


def is_current(home: Path, today: date | None = None) -> bool:
    marker = home / MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    today = today or date.today()
    return bool(info.get("version") == DEMO_VERSION and info.get("day") == today.isoformat())


def build_demo(home: Path, *, progress: Callable[[int, int], None] | None = None) -> Path:
    """Fill ``home`` with the sample memory (a no-op when it was built today)."""
    from memlane.services.engine import Engine  # the engine loads models; keep import time low

    if is_current(home):
        return home
    if home.exists():  # all but the lock of the app that is building it
        for child in home.iterdir():
            if child.name == Paths(home).app_lock.name:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    now = datetime.now().astimezone()
    today = now.date()
    with Engine(Paths(home)) as engine, tempfile.TemporaryDirectory() as tmp:
        # One ingest per window (its frames' times are in their file names): fewer index syncs.
        by_scene: dict[Scene, list[Path]] = {}
        for offset, hour, minute, scene, shown in SCHEDULE:
            at = datetime.fromtimestamp(_when(today, offset, hour, minute, now))
            path = Path(tmp) / f"{at:%Y-%m-%d_%H-%M-%S}.png"
            render(scene, shown).save(path)
            by_scene.setdefault(scene, []).append(path)
        total = len(by_scene) + 1
        for i, (scene, paths) in enumerate(by_scene.items()):
            engine.ingest_images(paths, app=scene.app, title=scene.title)
            if progress:
                progress(i + 1, total)
        start = datetime.combine(today - timedelta(days=1), time(20, 30)).timestamp()
        conv = ConversationIn("demo", "ana", "Chat with Ana", start, tuple(
            MessageIn(str(n), speaker, text, start + 60 * n, "user")
            for n, (speaker, text) in enumerate(FRIEND)))
        engine.store.import_conversations([conv])
        engine.index.sync()
        if progress:
            progress(total, total)
    (home / MARKER).write_text(
        json.dumps({"version": DEMO_VERSION, "day": today.isoformat()}), encoding="utf-8")
    return home
