"""What a word is, for every part of Memlane: the word patterns, stop words and content words.

Three uses need three answers, and each is named here once. Search (FTS5 terms, speaker names,
highlighting) splits on Unicode word characters and drops English function words. Checking a
model's answer against its evidence compares plain letters and digits with a short stop list that
keeps negations meaningful. Summarising episodes keeps "it's" and "3.5" whole and also drops the
filler of chats and the words of application menus.
"""

from __future__ import annotations

import re

# Search terms: any Unicode word characters (CJK, accents, digits).
WORD = re.compile(r"\w+", re.UNICODE)
# Answer checks: ASCII letters and digits only.
PLAIN_WORD = re.compile(r"[A-Za-z0-9]+")
# Summaries: words with inner apostrophes, dots and commas kept ("it's", "3.5", "1,200").
PHRASE_WORD = re.compile(r"[^\W_]+(?:['.,][^\W_]+)*", re.UNICODE)

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves s t don""".split()  # noqa: SIM905
)
ANSWER_STOP_WORDS = frozenset(
    """a an the and or but of to in on at for with from by is are was were be been it its this
    that these those i you he she we they my your his her our their me him them as so did do
    does has have had not no yes""".split()  # noqa: SIM905
)
SUMMARY_STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its just me more most my no nor not
    now of off on once only or other our out over own same she should so some such than that the
    their them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yes ok okay oh yeah
    file edit view help tools window new open close save search settings home menu tab i'm i've
    it's that's you're really thanks thank cool like great awesome wow know just got get sounds
    lot much good glad hey hi sure totally definitely""".split()  # noqa: SIM905
)


def terms(text: str) -> list[str]:
    """The search words of ``text``, lower-cased, in order."""
    return [w.lower() for w in WORD.findall(text)]


def content_words(text: str) -> set[str]:
    """The words an answer check compares: plain words of ``text`` less the short stop list."""
    return {w.lower() for w in PLAIN_WORD.findall(text)} - ANSWER_STOP_WORDS


def phrase_words(text: str) -> list[str]:
    """The words of ``text`` as a summary counts them, lower-cased, in order."""
    return [w.lower() for w in PHRASE_WORD.findall(text)]


def summary_content(text: str) -> set[str]:
    """The words that say what ``text`` is about, for grouping and summarising."""
    return {w for w in phrase_words(text) if w not in SUMMARY_STOP_WORDS and len(w) > 1}


_VOWEL = re.compile(r"[aeiouy]")
_SHORT_CVC = re.compile(r"^[^aeiou]*[aeiou][^aeiouwxy]$")


def stem(word: str) -> str:
    """A word's plural and -ed/-ing endings stripped, as the first step of Porter's stemmer
    (the one FTS5's porter tokeniser applies), so "flights" and "booked" match what search
    matched: "flight", "book". Lower-cased; other words come back as they are."""
    w = word.lower()
    if len(w) <= 3 or not w.isascii() or not w.isalpha():
        return w
    if w.endswith("sses") or w.endswith("ies"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss") and not w.endswith("us"):
        w = w[:-1]
    if w.endswith("eed"):
        return w[:-1] if len(w) > 4 else w
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and _VOWEL.search(w[: -len(suffix)]) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if w.endswith(("at", "bl", "iz")):
                w += "e"
            elif len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            elif _SHORT_CVC.search(w):  # "filing" -> "file", as "file" stays
                w += "e"
            break
    if w.endswith("y") and _VOWEL.search(w[:-1]):
        w = w[:-1] + "i"
    return w


def plural(n: int, word: str) -> str:
    """"1 frame", "2 frames", "1 activity", "3 activities"."""
    if n == 1:
        return f"1 {word}"
    if word.endswith("y") and word[-2] not in "aeiou":
        return f"{n} {word[:-1]}ies"
    return f"{n} {word}s"
