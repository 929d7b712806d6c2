"""Redaction of sensitive text found by OCR: which words to blank in the text *and* the image.

:func:`find_sensitive` reads OCR words line by line and returns the indexes of the words that
carry a payment card number (13-19 digits, possibly split into groups, passing the Luhn check),
an IBAN (country code, check digits, mod-97 valid), an API key or token (well-known prefixes,
JSON Web Tokens, long high-entropy strings) or the value of a ``password: ...`` style pair.
Each hit says what kind it was, so the stored text can say ``[redacted card]`` and the caller
can paint the same word boxes out of the frame and its thumbnail. Only the kind is ever logged.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_DIGITS = re.compile(r"^[\d\-–.]+$")
_TOKEN_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}",  # OpenAI / Anthropic style
        r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
        r"\bgh[pousr]_[A-Za-z0-9]{30,}", r"\bgithub_pat_[A-Za-z0-9_]{30,}",
        r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab
        r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key id
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
        r"\bAIza[0-9A-Za-z_\-]{35}",  # Google API key
        r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    )
)
# A label naming a secret, alone or as the end of a longer name (AWS_SECRET_ACCESS_KEY=...,
# GITHUB_TOKEN: ..., db.password=...), and the value after it.
_SECRET_LABEL = re.compile(
    r"^(?:export\s+)?[\"']?(?:[A-Za-z0-9]+[_\-.])*"
    r"(?:password|passwd|pwd|passcode|passphrase|pin|secret|token|api[_\-]?key|"
    r"access[_\-]?key|secret[_\-]?key|secret[_\-]?access[_\-]?key|client[_\-]?secret|"
    r"private[_\-]?key|auth[_\-]?token|credentials?)[\"']?\s*[:=]\s*(\S*)$",
    re.IGNORECASE,
)
# An AWS secret access key: 40 characters of base64, which may hold "/" and "+".
_AWS_SECRET = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9/+]{39}$")
_IBAN_START = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]*$")


@dataclass(frozen=True)
class Redaction:
    kind: str  # card | iban | token | password
    words: tuple[int, ...]  # indexes into the word list given


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not _IBAN_START.match(s):
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _looks_like_key(word: str) -> bool:
    core = word.strip("\"'`,;()[]{}<>")
    if _AWS_SECRET.match(core) and "//" not in core:
        classes = sum(bool(re.search(p, core)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
        if classes == 3 and entropy(core) >= 4.0:
            return True
    if len(core) < 32 or "/" in core or "." in core or "@" in core:
        return False
    if not re.fullmatch(r"[A-Za-z0-9_\-+=]+", core):
        return False
    classes = sum(bool(re.search(p, core)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes >= 2 and entropy(core) >= 4.0


def find_sensitive(lines: Sequence[Sequence[tuple[int, str]]]) -> list[Redaction]:
    """Sensitive spans in OCR lines given as ``[(word index, text), ...]`` in reading order."""
    found: list[Redaction] = []
    taken: set[int] = set()

    def add(kind: str, idx: Sequence[int]) -> None:
        new = tuple(i for i in idx if i not in taken)
        if new:
            taken.update(new)
            found.append(Redaction(kind, new))

    for line in lines:
        # Card numbers: runs of digit-only words (13-19 digits in all), Luhn-checked.
        for start in range(len(line)):
            digits = ""
            for end in range(start, min(start + 6, len(line))):
                word = line[end][1]
                if not _DIGITS.match(word):
                    break
                digits += re.sub(r"\D", "", word)
                if 13 <= len(digits) <= 19 and luhn_ok(digits):
                    add("card", [i for i, _ in line[start:end + 1]])
                    break
                if len(digits) > 19:
                    break
        # IBANs: a country-code word followed by groups, mod-97-checked.
        for start in range(len(line)):
            if not re.match(r"^[A-Za-z]{2}\d{2}", line[start][1]):
                continue
            text = ""
            for end in range(start, min(start + 9, len(line))):
                word = line[end][1]
                if end > start and not re.fullmatch(r"[A-Za-z0-9]{1,4}", word):
                    break
                text += word
                if iban_ok(text):
                    add("iban", [i for i, _ in line[start:end + 1]])
                    break
        # Tokens and keys, one word at a time.
        for i, word in line:
            if any(p.search(word) for p in _TOKEN_PATTERNS) or _looks_like_key(word):
                add("token", [i])
        # "password: value" pairs: the value (in the same word or the next one).
        for pos, (i, word) in enumerate(line):
            label = _SECRET_LABEL.match(word)
            if label is None:
                if pos + 1 < len(line) and line[pos + 1][1] in (":", "="):
                    label = _SECRET_LABEL.match(word + line[pos + 1][1])
                    if label and pos + 2 < len(line):
                        add("password", [line[pos + 2][0]])
                continue
            if label.group(1):
                add("password", [i])
            elif pos + 1 < len(line):
                add("password", [line[pos + 1][0]])
    return found
