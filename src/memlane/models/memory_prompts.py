"""Prompts and JSON schemas for consolidation: episode summaries, fact extraction, fact decisions.

Each function returns the chat messages for one model call; the schemas are handed to llama.cpp,
which constrains the output to them with a grammar, so what comes back parses. Whether it is any
good is checked by the caller: :func:`parse_json` never raises, and :func:`usable_summary`
refuses empty, copied-prompt or invented summaries (a 0.5B model returns each of these often),
in which case the extractive summary stands.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memlane.core.text import content_words
from memlane.models.prompts import support

CATEGORIES = ["preference", "plan", "relationship", "possession", "routine", "fact"]

SUMMARY_SYSTEM = (
    "You write one-sentence summaries of what a person did on their computer or talked about. "
    "Use the exact names, places, numbers and titles from the text. Do not add anything that is "
    "not in the text."
)
FACTS_SYSTEM = (
    "You extract lasting facts about people from a conversation: preferences, plans, "
    "relationships, possessions, routines and things they say about themselves. Write each fact "
    "as one short sentence that starts with the person's name, and give the number of the line "
    "it comes from. Skip greetings, questions and small talk. Reply with JSON."
)
DECIDE_SYSTEM = (
    "You keep a list of facts about people up to date. Given known facts and a new fact, "
    "answer ADD if the new fact is new information, UPDATE if it replaces a known fact with a "
    "newer value, RETIRE if it says a known fact is no longer true, or NOOP if it is already "
    "known. For UPDATE, RETIRE and NOOP give the number of the known fact. Reply with JSON."
)


def facts_schema(lines: int, max_facts: int = 5) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"facts": {"type": "array", "maxItems": max_facts, "items": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "maxLength": 160},
                "category": {"enum": CATEGORIES},
                "from": {"type": "integer", "minimum": 1, "maximum": max(1, lines)},
            },
            "required": ["text", "category", "from"],
        }}},
        "required": ["facts"],
    }


def decide_schema(known: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "action": {"enum": ["ADD", "UPDATE", "RETIRE", "NOOP"]},
            "known": {"type": "integer", "minimum": 0, "maximum": max(1, known)},
        },
        "required": ["action", "known"],
    }


def summary_messages(where: str, text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SUMMARY_SYSTEM},
            {"role": "user", "content": f"{where}\n{text}\n\nOne-sentence summary:"}]


def facts_messages(lines: Sequence[str]) -> list[dict[str, str]]:
    numbered = "\n".join(f"[{i}] {line}" for i, line in enumerate(lines, start=1))
    return [{"role": "system", "content": FACTS_SYSTEM},
            {"role": "user", "content": f"Conversation:\n{numbered}\n\nFacts as JSON:"}]


def decide_messages(new: str, known: Sequence[str]) -> list[dict[str, str]]:
    listed = "\n".join(f"[{i}] {text}" for i, text in enumerate(known, start=1))
    return [{"role": "system", "content": DECIDE_SYSTEM},
            {"role": "user", "content": f"Known facts:\n{listed}\n\nNew fact: {new}\n\nJSON:"}]


def parse_json(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text``, or None (cut off by the token limit, or not JSON at all)."""
    text = text.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def usable_summary(summary: str, source: str, min_words: int = 4) -> bool:
    """Whether a model summary may replace the extractive one: says something, and only what
    the source says (its new words are mostly found there)."""
    words = summary.split()
    if len(words) < min_words or len(words) > 80:
        return False
    lowered = summary.lower()
    if "summary" in lowered[:20] or lowered.startswith(("i ", "sorry", "as an ai")):
        return False
    return support(summary, "", [source]) >= 0.7 and bool(content_words(summary))
