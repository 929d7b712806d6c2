"""What a word is, for every part of Memlane: the word patterns, stop words and content words.

Three uses need three answers, and each is named here once. Search (FTS5 terms, speaker names,
highlighting) splits on Unicode word characters and drops English function words. Checking a
model's answer against its evidence compares plain letters and digits with a short stop list that
keeps negations meaningful. Summarising episodes keeps "it's" and "3.5" whole and also drops the
filler of chats and the words of application menus.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading

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


# Chinese, Japanese and Korean are written without spaces: SQLite's tokeniser takes a whole run of
# them for one word, so "携程旅行网" is never found by "携程". A second index files each run's
# overlapping character pairs (and any Latin letters glued to the run) and a query's run becomes
# the phrase of its pairs: the usual bigram indexing of CJK search engines.
CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
CJK_TOKENIZE = "unicode61 remove_diacritics 2"


def _pairs(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def cjk_terms(text: str | None) -> str:
    """What the CJK index files for ``text``: character pairs of each CJK run and the Latin
    pieces of words that mix scripts, space-separated; ``""`` when ``text`` has no CJK."""
    if not text or not CJK_RUN.search(text):
        return ""
    out: list[str] = []
    for token in WORD.findall(text):
        if not CJK_RUN.search(token):
            continue  # the main index has it
        for piece in CJK_RUN.split(token):
            if piece:
                out.append(piece)
        for run in CJK_RUN.findall(token):
            out.extend(_pairs(run))
    return " ".join(out)


def cjk_query(text: str) -> str:
    """An FTS5 query for the CJK index: each CJK run of ``text`` as the phrase of its pairs (a
    single character as a prefix), and its other content words, joined with OR; ``""`` when
    ``text`` has no CJK (its Latin words glued to CJK text are searched apart, see retrieval)."""
    parts: list[str] = []
    for run in CJK_RUN.findall(text):
        parts.append(f'"{run}"*' if len(run) == 1 else '"' + " ".join(_pairs(run)) + '"')
    if parts:
        rest = [w for w in terms(CJK_RUN.sub(" ", text)) if w not in STOP_WORDS]
        parts.extend(f'"{w}"' for w in dict.fromkeys(rest))
    return " OR ".join(parts)


# How SQLite's full-text index splits and stems words (memory/migrations.py builds it so).
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"
_local = threading.local()


def _tokenizer() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{FTS_TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        _local.conn = conn
    return conn


@functools.lru_cache(maxsize=20_000)
def stem(word: str) -> str:
    """The term SQLite's full-text index files ``word`` under (lower-cased, Porter-stemmed, without
    diacritics), so "flight" marks "Flights" exactly when search matched it."""
    conn = _tokenizer()
    with conn:
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (word,))
        terms = [r[0] for r in conn.execute("SELECT term FROM v ORDER BY offset")]
    return " ".join(terms) if terms else word.lower()


def plural(n: int, word: str) -> str:
    """"1 frame", "2 frames", "1 activity", "3 activities"."""
    if n == 1:
        return f"1 {word}"
    if word.endswith("y") and word[-2] not in "aeiou":
        return f"{n} {word[:-1]}ies"
    return f"{n} {word}s"
