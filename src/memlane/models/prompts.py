"""Prompts for answering from memories, and the checks run on what the model says back.

The model sees a short system prompt, today's date written out by code, and numbered evidence
lines (date, weekday, where it came from, text with relative dates already resolved), and is asked
to cite them as ``[n]`` or to say exactly :data:`ABSTAIN`. :class:`CitationFilter` checks the
citations while the answer streams, dropping any that point at no evidence line and markup
copied from a memory, :func:`recite` moves a citation from a line without the answer to the one
with it, :func:`attribute` adds a citation to an uncited sentence whose words plainly come
from one line, and :func:`lead_with_answer` cuts the words that only restate the question from
the front of an answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memlane.core.text import ANSWER_STOP_WORDS, PLAIN_WORD, content_words

ABSTAIN = "I don't have a memory of that."

SYSTEM = (
    "You answer questions about the user's own past using only the numbered memories. Reply "
    "with one short sentence that gives the answer, with the exact names, dates and numbers "
    "from the memories, and ends with the number of the memory it comes from, in brackets. "
    f"If no memory answers the question, reply exactly: {ABSTAIN}"
)
# Worked examples, given as earlier turns of the chat. A 0.5B model follows demonstrations far
# better than instructions (measured: with instructions only it answered with a bare "[2]" or
# copied a memory line; with one example inside the system prompt it restated the question
# around the answer, "Melanie went camping in July [2]"). These turns are the same for every
# question, so llama.cpp evaluates them once per model process (its prompt cache) and later
# questions pay only for attending to them.
# An example of abstaining made it abstain on answerable questions, so there is none.
EXAMPLE_MEMORIES = (
    "[1] Sat 2 Mar 2024, me: Paid 35 euros for the museum tickets, Lena loved the Monet room.",
    "[2] Sun 3 Mar 2024, Tom: I booked the train to Porto yesterday (2 March 2024), it leaves at "
    "7:45.",
)
EXAMPLE_TODAY = "Monday, 4 March 2024, 09:00"
EXAMPLES = (
    ("How much were the museum tickets?", "They cost 35 euros [1]."),
    ("When did Tom book the train to Porto?", "On 2 March 2024 [2]."),
    ("What did Lena love at the museum?", "The Monet room [1]."),
)
# The third turn teaches a bare answer for "what" questions ("Bach and Mozart [7]." instead of
# "Melanie enjoys listening to Bach and Mozart [7]."): +2 F1 on 60 LoCoMo single-hop questions.
# Its ~120 tokens stay in llama.cpp's cache, but every evidence token attends to them: ~130 ms
# later first token without flash attention, ~55 ms with it (benchmarks/answer_prompt.py).

# A small model sometimes goes on to write the next question and answer it too.
ANSWER_STOP = ("\nQuestion:", "\nMemories:")

CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_UNCITE = re.compile(r"\s*" + CITATION.pattern)
_ABSTAIN_RE = re.compile(
    r"\b(?:i\s+(?:do\s+not|don'?t|have\s+no)\s+(?:have\s+)?(?:a\s+|any\s+)?memor(?:y|ies)"
    r"|no\s+memor(?:y|ies)\s+of|not\s+(?:mentioned|in\s+the\s+memories))",
    re.IGNORECASE,
)
_BRACKET = re.compile(r"[\[\]]")
# Where one sentence of an answer ends and the next begins; not after an initial ("C. S. Lewis").
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])(?<!\b[A-Z]\.)(\s+)")


def user_prompt(question: str, evidence: Sequence[str], today: str) -> str:
    lines = "\n".join(evidence)
    return f"Today is {today}.\nMemories:\n{lines}\nQuestion: {question}\nAnswer:"


def build_messages(
    question: str, evidence: Sequence[str], today: str,
    history: Sequence[tuple[str, str]] = (),
) -> list[dict[str, str]]:
    """Chat messages for one question; ``history`` holds earlier (question, answer) turns."""
    messages = [{"role": "system", "content": SYSTEM}]
    for q, a in EXAMPLES:
        messages += [{"role": "user", "content": user_prompt(q, EXAMPLE_MEMORIES, EXAMPLE_TODAY)},
                     {"role": "assistant", "content": a}]
    for q, a in history:  # earlier citations numbered other evidence: leave them out
        messages += [{"role": "user", "content": q},
                     {"role": "assistant", "content": _UNCITE.sub("", a).strip()}]
    messages.append({"role": "user", "content": user_prompt(question, evidence, today)})
    return messages


def is_abstention(text: str) -> bool:
    """Whether an answer says there is no memory of the thing asked about."""
    return bool(_ABSTAIN_RE.search(text)) or not text.strip()


class CitationFilter:
    """Streams text through, keeping ``[n]`` only when 1 <= n <= ``count``.

    Text after an opening bracket is held back until the bracket closes (or clearly is not a
    citation), so what is shown while streaming is already the checked answer. A bracket that
    opens on a letter is markup copied from a memory ("[shared a photo: a cake ...]"), not part
    of an answer: it is dropped up to its closing bracket, or up to a citation inside it (the
    model has moved on; memory text is often cut before the markup closes).
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.pending = ""
        self.markup = 0  # depth of copied markup being dropped
        self.cited: list[int] = []
        self.dropped: list[int] = []

    def feed(self, piece: str) -> str:
        self.pending += piece
        out = []
        while self.pending:
            if self.markup:
                edge = _BRACKET.search(self.pending)
                if edge is None:
                    self.pending = ""
                    break
                if edge[0] == "]":
                    self.markup -= 1
                    self.pending = self.pending[edge.end():]
                    continue
                self.pending = self.pending[edge.start():]
            at = self.pending.find("[")
            if at < 0:
                out.append(self.pending)
                self.pending = ""
                break
            out.append(self.pending[:at])
            self.pending = self.pending[at:]
            if len(self.pending) < 2:
                break  # what follows the bracket decides
            if self.pending[1].isalpha():
                self.markup += 1
                self.pending = self.pending[1:]
                continue
            close = self.pending.find("]")
            if close < 0:
                if len(self.pending) > 16:  # too long for a citation: let it through
                    if not self.markup:
                        out.append(self.pending[0])
                    self.pending = self.pending[1:]
                    continue
                break
            bracket = self.pending[: close + 1]
            if CITATION.fullmatch(bracket):
                self.markup = 0
                out.append(self._check(bracket))
            elif not self.markup:
                out.append(bracket)
            self.pending = self.pending[close + 1 :]
        return "".join(out)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        if self.markup:
            self.markup = 0
            return ""
        return rest

    def _check(self, bracket: str) -> str:
        match = CITATION.fullmatch(bracket)
        if match is None:
            return bracket
        good = []
        for part in match[1].split(","):
            n = int(part)
            if 1 <= n <= self.count:
                good.append(n)
                if n not in self.cited:
                    self.cited.append(n)
            else:
                self.dropped.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(good))


def support(answer: str, question: str, evidence: Sequence[str]) -> float:
    """Share of the answer's new words (not already in the question) found in the evidence.

    A small model that cannot find the answer tends to invent one ("Melanie painted the cat");
    the words it adds then appear in no memory. 1.0 when the answer adds no words.
    """
    new = content_words(CITATION.sub("", answer)) - content_words(question)
    if not new:
        return 1.0
    text = " ".join(evidence).lower()
    return sum(1 for w in new if w in text) / len(new)


def adds_nothing(answer: str, question: str) -> bool:
    """Whether the answer only restates the question ("Caroline motivates Caroline to be ...").

    Picking one side of an either-or question (:func:`chooses`) from a memory it cites is an
    answer, though its words are all the question's.
    """
    text = CITATION.sub("", answer)
    if re.search(r"\b(?:yes|no|not|never)\b", text, re.IGNORECASE):
        return False
    return not (content_words(text) - content_words(question)) and not (
        chooses(text, question) and CITATION.search(answer))


_OR = re.compile(r"\bor\b", re.IGNORECASE)
# A negation in an answer: "She would not go to a theme park" chooses nothing.
_NEGATED = re.compile(r"\b(?:not|never|no|nor|neither|rather\s+than|instead\s+of)\b|n't\b",
                      re.IGNORECASE)


def sides(question: str) -> tuple[str, str] | None:
    """The two sides of a question's closing "A or B": the one after its last "or", and before it
    as many words, and the initials or capitalised words of a name just before those ("C. S.
    Lewis")."""
    question = question.strip()
    found = list(_OR.finditer(question))
    if not found:
        return None
    last = found[-1]
    after = question[last.end():].rstrip("?.! \t\n").split()
    if not after or any(p in " ".join(after) for p in ",;"):
        return None
    words = question[:last.start()].split()
    start = max(0, len(words) - len(after))
    while 0 < start < len(words) and words[start][:1].isupper() and words[start - 1][:1].isupper():
        start -= 1
    return " ".join(words[start:]), " ".join(after)


def chooses(answer: str, question: str) -> str:
    """The side of the question's closing "A or B" that the answer names without the other, or
    "" ("Would Melanie rather visit a national park or a theme park?" answered "She would go to
    a national park" chooses "a national park"). Each side is told by its own words ("national"
    against "theme"). An answer with a negation chooses nothing ("She would not go to a theme
    park")."""
    both = sides(question)
    if both is None or _NEGATED.search(CITATION.sub("", answer)):
        return ""
    before, after = both
    first = content_words(before) - content_words(after)
    second = content_words(after) - content_words(before)
    said = content_words(answer)
    if not (first and second) or bool(said & first) == bool(said & second):
        return ""
    return before if said & first else after


# An answer that opens with a yes or a no ("Yes, ...", "Likely no"), and what follows it.
VERDICT = re.compile(r"^\W*((?:(?:most\s+)?(?:likely|probably|possibly)\W+)?(?:yes|no))\b\W*(.*)$",
                     re.IGNORECASE | re.DOTALL)


def lead_with_verdict(answer: str, question: str) -> str:
    """A yes or a no without the question said again after it: "Yes, John would be considered a
    patriotic person [4]." -> "Yes [4]."; a reason after it stays ("Yes, he served two tours")."""
    m = VERDICT.match(answer)
    if m is None:
        return answer
    rest = CITATION.sub("", m[2])
    if _NEGATED.search(rest) or re.search(r"\bbut\b", rest, re.IGNORECASE):
        return answer  # "Yes, John would not be considered ...": no plain yes
    said = content_words(rest) - {"would", "will", "likely", "probably", "considered"}
    if said - content_words(question):
        return answer
    cited = "".join(f"[{n}]" for n in dict.fromkeys(
        n for c in CITATION.finditer(answer) for n in c[1].replace(" ", "").split(",")))
    verdict = m[1][:1].upper() + m[1][1:]
    return f"{verdict} {cited}." if cited else f"{verdict}."


def lead_with_choice(answer: str, question: str) -> str:
    """The answer from the side of the question's "A or B" it chose, when it names that side as
    the question does: "Tim would enjoy reading books by C. S. Lewis [4]." -> "C. S. Lewis [4]."."""
    side = chooses(answer, question)
    for phrase in (side, re.sub(r"^(?:a|an|the)\s+", "", side, flags=re.IGNORECASE)):
        at = answer.lower().find(phrase.lower()) if phrase else -1
        if at >= 0:
            rest = answer[at:]
            return rest[:1].upper() + rest[1:]
    return answer


_CITED_AFTER_STOP = re.compile(r"([.!?]+)\s*((?:" + CITATION.pattern + r"\s*)+)$")


def tuck_citations(answer: str) -> str:
    """The answer with citations written after its last stop ("... school. [2]") put before it
    ("... school [2]."), where the checks look for a sentence's citations, and no space left
    before a stop (where the citation filter dropped a citation to nothing)."""
    answer = re.sub(r"\s+([.!?])", r"\1", answer)
    m = _CITED_AFTER_STOP.search(answer.rstrip())
    if m is None:
        return answer
    return f"{answer[:m.start()].rstrip()} {' '.join(m[2].split())}{m[1]}"


def recite(answer: str, question: str, evidence: Sequence[str]) -> tuple[str, list[int]]:
    """Point each sentence's citation at the line its answer comes from.

    A small model often cites the line that asked about a thing ("What instrument are you
    playing?") instead of the one that answers it ("I'm learning the violin"). When no cited line
    holds any word the sentence adds to the question, and another line does, the citations move
    to the line holding most of those words (on a tie, the one sharing most words with the
    question). Returns the answer and the numbers now cited instead.
    """
    asked = content_words(question)
    words = [content_words(line.split(" ", 1)[-1]) for line in evidence]
    moved: list[int] = []
    out = []
    for part in _SENTENCE_BREAK.split(answer):
        cited = [int(x) for m in CITATION.finditer(part) for x in m[1].split(",")]
        new = content_words(CITATION.sub("", part)) - asked
        if cited and new and words and not any(
                new & words[n - 1] for n in cited if 1 <= n <= len(words)):
            best = max(range(len(words)),
                       key=lambda i: (len(new & words[i]), len(asked & words[i]), -i))
            if new & words[best]:
                spots = list(CITATION.finditer(part))
                part = (part[:spots[0].start()] + f"[{best + 1}]"
                        + CITATION.sub("", part[spots[0].end():]))
                moved.append(best + 1)
        out.append(part)
    return "".join(out), moved


def uncite_unrelated(answer: str, evidence: Sequence[str]) -> tuple[str, list[int]]:
    """Remove citations to lines that share no content word with the sentence citing them."""
    removed: list[int] = []
    out = []
    for part in _SENTENCE_BREAK.split(answer):
        mine = content_words(CITATION.sub("", part))

        def check(m: re.Match[str], mine: set[str] = mine) -> str:
            keep = []
            for n in (int(x) for x in m[1].split(",")):
                body = evidence[n - 1].split(" ", 1)[-1] if 1 <= n <= len(evidence) else ""
                if mine & content_words(body):
                    keep.append(n)
                else:
                    removed.append(n)
            return "".join(f"[{n}]" for n in keep)

        out.append(CITATION.sub(check, part))
    text = re.sub(r"\s+([.!?])", r"\1", "".join(out))
    return text, removed


def attribute(answer: str, evidence: Sequence[str], min_shared: int = 2) -> tuple[str, list[int]]:
    """Cite uncited sentences from the evidence line sharing the most content words with them.

    Returns the answer with citations added and the numbers added. A sentence is only attributed
    when at least ``min_shared`` of its content words (or all of them, if fewer) are in one line.
    """
    added: list[int] = []
    words = [content_words(line) for line in evidence]
    parts = _SENTENCE_BREAK.split(answer)
    out = []
    for part in parts:
        if part.strip() and not CITATION.search(part) and not is_abstention(part):
            mine = content_words(part)
            need = min(min_shared, len(mine))
            best, score = 0, 0
            for i, line in enumerate(words, start=1):
                shared = len(mine & line)
                if shared > score:
                    best, score = i, shared
            if need and score >= need:
                stripped = part.rstrip()
                end = len(stripped)
                if stripped and stripped[-1] in ".!?":
                    end -= 1
                part = stripped[:end] + f" [{best}]" + stripped[end:] + part[len(stripped):]
                added.append(best)
        out.append(part)
    return "".join(out), added


# Words after which a restated question hands over to its answer: "... was", "... to".
_HANDOVER = frozenset(
    "is are was were be been as to for about that by with on in at from into like".split()  # noqa: SIM905
)
_ARTICLE = frozenset(("a", "an", "the"))
# Words that turn a question around ("Who is his least favourite character?"). A restatement
# without them ("John's favourite character is") answered another question and must say so.
_TURNING = frozenset(
    "not no never least worst except without dislike dislikes disliked hate hates hated".split()  # noqa: SIM905
)
_OPEN_QUOTE = "\"'“‘("


def _lead_stem(word: str) -> str:
    word = word.lower()
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5]  # "camping" meets "camp", "shows" meets "show"


def _lead_stems(text: str) -> set[str]:
    return {_lead_stem(w) for w in PLAIN_WORD.findall(re.sub(r"['’]s\b", "", text))
            if w.lower() not in ANSWER_STOP_WORDS}


def lead_with_answer(answer: str, question: str, min_restated: int = 2) -> str:
    """``answer`` with the words that only restate ``question`` cut from its front.

    A small model wraps its answer in the question: "Rob invited John to a beginner's yoga class
    [2]." for "What activity did Rob invite John to?". The first sentence loses its longest
    opening whose words are all the question's (at least ``min_restated`` content words of it),
    ending where the answer is handed over - after "is", "to", "as" and the like, or before an
    article, "because" or a quotation, and never with more of the question to come ("After
    returning from | Chicago, John met") - so "A beginner's yoga class [2]." is left. Nothing is
    cut when what would remain adds no word of its own, before a negation or inside a quotation,
    or when the question holds a word that turns it around ("least").
    """
    if {w.lower() for w in PLAIN_WORD.findall(question)} & _TURNING:
        return answer
    parts = _SENTENCE_BREAK.split(answer, maxsplit=1)
    sentence, tail = parts[0], "".join(parts[1:])
    asked = _lead_stems(question)
    words = sentence.split(" ")
    restated = cut = 0
    for k, word in enumerate(words):
        bare = word.lower().strip(",;:.!?")
        if CITATION.search(word) or word[:1] in _OPEN_QUOTE or bare in _TURNING \
                or "n't" in bare:
            break
        stems = _lead_stems(word)
        if not stems <= asked:
            break
        restated += len(stems)
        after = words[k + 1].lower() if k + 1 < len(words) else ""
        # more of the question to come, unless it starts a phrase of its own ("Joanna's ...")
        next_stems = _lead_stems(after)
        goes_on = bool(next_stems) and next_stems <= asked and not re.search(r"['’]s\W*$", after)
        if restated >= min_restated and not goes_on and (
                bare in _HANDOVER or after in _ARTICLE or after == "because"
                or after[:1] in _OPEN_QUOTE):
            cut = k + 1
    if not cut:
        return answer
    left = " ".join(words[cut:]).lstrip(",;: ")
    said = CITATION.sub("", left)
    turning = {w.lower() for w in PLAIN_WORD.findall(said)} & _TURNING
    if not _lead_stems(said) - asked and not turning:
        return answer  # nothing of its own is left ("not" is: "Not a fan of jazz")
    first = left.split(" ", 1)[0]
    if any(c.isupper() for c in first[1:]):  # "iPhone", "eBay" keep their case
        return left + tail
    return left[:1].upper() + left[1:] + tail
