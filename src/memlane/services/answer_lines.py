"""What an evidence line tells the answer checks: whose memory it is and what it is about.

:class:`Evidence` is one numbered line the model was shown. A line counts for a person when
they said it or it names them (:func:`theirs`), but not when it names them only in an opening
greeting ("Thanks, Maria! After my last run ...") nor when all it says of the question's topic
is a question (:func:`only_asks`). :func:`topic` is what a question is about, as crude stems;
:func:`about_someone_else` and :func:`off_topic` say when the lines an answer cites are another
person's or about something else. :func:`judges` tells a judgement the question asks for ("Would
Melanie enjoy ...?": a yes, a no or a side of its "A or B"), :func:`side_not_theirs` and
:func:`other_side` when the side chosen is someone else's or not what its lines speak of.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from memlane.core.text import PLAIN_WORD, content_words
from memlane.memory.records import Hit, iso
from memlane.models.prompts import CITATION, VERDICT, chooses, sides
from memlane.services.evidence import SENTENCE_END
from memlane.services.periods import ACCOUNT_WORDS

# Words of a question that say what kind of answer is wanted or when, not what it is about.
ASKING_WORDS = ACCOUNT_WORDS | frozenset("""
    would could should will can shall may might go going went new us any based many while since
    after before about into around using start started starting also ever still just who whom
    whose when where why how kind type sort favorite favourite style thing things get got make
    made feel feels felt like likes liked recent recently usually often one ones way ways
    something someone person people mention mentioned say said tell told main during year years
    january february march april may june july august september october november december
    """.split())  # noqa: SIM905


@dataclass
class Evidence:
    n: int
    hit: Hit
    line: str
    cited_by: str = ""  # "model", "overlap" or "" (given to the model but not cited)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "id": self.hit.id, "kind": self.hit.kind, "time": iso(self.hit.time),
                "snippet": self.hit.snippet, "source": self.hit.source, "cited_by": self.cited_by}


# A line's opening that only greets or thanks ("Thanks,", "Thanks for the tip,", "Hey", "Wow,"):
# a name after it, or opening the line, is the person spoken to. Not "Congrats," or "Sorry,":
# what follows those is about the person ("Congrats, Maria! Great job on the marathon").
_GREETING = re.compile(r"^\W*(?:(?:hi|hey|hello|(?:thanks|thank you)(?: so much)?"
                       r"(?: for [^.!?,]*(?=[.!,]))?|wow|oh|yes|yeah|dear|cool|ok|okay|aw+|"
                       r"good morning|morning|evening)\b\W*)*$", re.IGNORECASE)
# The name ends its greeting: "Maria!", "Maria," but not a list ("Maria, Ana and I").
_AFTER_NAME = re.compile(r"^(?:[!?.]|,(?!\s*(?:and\b|or\b|&|(?!I\b)[A-Z])))")
_YOU = re.compile(r"\b(?:you|your|yours|yourself)\b", re.IGNORECASE)
# A question tagged onto a statement: "... it really works, you know?", "..., isn't it great?"
_TAG = re.compile(r",\s*(?:you know|right|huh|eh|no|(?:is|are|was|were|do|does|did|have|has)"
                  r"n'?t\s+(?:it|that|they|he|she|you|we|i)\b[^,?]*)\?$", re.IGNORECASE)


def _opening_address(m: re.Match[str], text: str) -> int:
    """The length of ``text``'s opening that speaks to the name ``m`` found first ("Thanks,
    Maria! " in "Thanks, Maria! After my last run I saw ..."), 0 when it does not open that way."""
    if not _GREETING.match(text[:m.start()]) or not _AFTER_NAME.match(text[m.end():]):
        return 0
    return m.end() + 1


def theirs(name: str, e: Evidence) -> bool:
    """Whether a line counts for a person: they said it, or it names them. A line that names
    them only in an opening greeting ("Thanks, Maria!", "Hey Jon,") counts when the rest speaks
    to them ("You won"), not when the speaker goes on about themself ("Thanks, Maria! After my
    last run I saw ...")."""
    if e.hit.speaker.lower() == name.lower():
        return True
    text = e.hit.split_speaker()[1].lstrip(". ")
    mentions = list(re.finditer(rf"\b{re.escape(name)}\b", text, re.IGNORECASE))
    if not mentions:
        return False
    opening = _opening_address(mentions[0], text)
    if opening and len(mentions) == 1:  # named only in the greeting: theirs if it says "you"
        return bool(_YOU.search(text[opening:]))
    return True


def _sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``!``, ``?`` and ellipses ("running...what about you?"), without
    bracketed notes ("[shared a photo: ...]")."""
    text = re.sub(r"\.{3}|\u2026", ". ", re.sub(r"\[[^\]]*\]", " ", text))  # no photo captions
    return [s for s in SENTENCE_END.split(text) if s.strip(" .")]


def _asks(sentence: str) -> bool:
    s = sentence.rstrip(" .\"')")
    return s.endswith("?") and not _TAG.search(s)


def only_asks(e: Evidence, about: AbstractSet[str]) -> bool:
    """Whether a line only asks about ``about`` ("What got you into running?", "Love that purple
    color! For walking or running?"): it tells what the one asked did, not what the one asking
    did. Its sentences about the topic are questions and nothing after the first of them is a
    statement ("Running? I love it, it clears my head!" tells; "..., you know?" is a statement)."""
    if not about or not said_by_someone(e):
        return False
    sentences = _sentences(e.hit.split_speaker()[1])
    first = next((i for i, s in enumerate(sentences) if about & affirmed(s)), None)
    if first is None:
        return False
    return all(_asks(s) for s in sentences[first:])


def about_someone_else(named: Sequence[str], cited: Sequence[Evidence],
                       about: AbstractSet[str] = frozenset()) -> bool:
    """Whether the question names one person but every cited memory is someone else's.

    "What did Caroline realise after her charity race?" when only Melanie ran one: a small model
    answers from Melanie's line. ``named`` are the speakers of stored conversations the question
    names; a cited line counts for the person when they said it or it names them, unless all it
    says of the question's topic ``about`` is a question (:func:`only_asks`): Caroline asking
    Melanie "What got you into running?" is Melanie's running, not hers (:func:`theirs`).
    """
    if len(named) != 1 or not cited:
        return False
    return not any(theirs(named[0], e) and not only_asks(e, about) for e in cited)


def their_line(name: str, answer: str, question: str, evidence: Sequence[Evidence]) -> int:
    """The number of a line of ``name``'s holding every word the answer adds to the question.

    Asked "What is Jon working on opening?", a small model answers "Opening a dance studio" and
    cites Gina's "When are you opening the studio?" rather than Jon's "Still working on opening
    a dance studio." Every added word must be in the line, and there must be two or more: one
    word ("Guitar") is too often in some line of theirs, and an answer taken from someone
    else's memory must still abstain (LoCoMo's 237 adversarial questions ask about the wrong
    person: with one word allowed, 5 of their abstentions became answers; with two or more, 1).
    A line of theirs that only asks about the topic (:func:`only_asks`) does not hold it. 0 when
    there is no such line.
    """
    new = content_words(CITATION.sub("", answer)) - content_words(question)
    about = topic(question, [name])
    return next((e.n for e in evidence if len(new) >= 2 and theirs(name, e)
                 and not only_asks(e, about)
                 and new <= content_words(e.hit.split_speaker()[1])), 0)


def stem(word: str) -> str:
    """A crude stem: "hiking", "hikes" and "hike" meet; "running" meets "run"."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if len(w) >= 4 and w[-1] == w[-2]:
        w = w[:-1]
    return w[:4]


def _stems(text: str, skip: frozenset[str] = frozenset()) -> set[str]:
    return {stem(w) for w in PLAIN_WORD.findall(text)
            if len(w) > 1 and w.lower() in content_words(w) and w.lower() not in skip}


def topic(question: str, named: Sequence[str]) -> set[str]:
    """What a question is about: its content words less the people it names and the words
    that only ask (what, kind, favourite, when, yesterday...), as crude stems."""
    return _stems(question, ASKING_WORDS | {n.lower() for n in named})


# A question asking for a judgement: "Would Melanie enjoy ...?", "Might ...", "Is it likely ...".
_JUDGEMENT = re.compile(r"^\W*(?:would|might|could|(?:is|are)\s+it\s+(?:likely|probable))\b",
                        re.IGNORECASE)
def judges(question: str, answer: str) -> bool:
    """Whether the answer gives the judgement the question asks for: a yes or a no to "Would
    Melanie enjoy Vivaldi's Four Seasons?", one side to "Would Melanie rather visit a national
    park or a theme park?". It rests on what the memories tell of the person ("I play Bach on
    the violin") without their words. A question that asks for something else ("What job might
    Maria pursue?", "Did I say I would call?") is not asking for one."""
    if not _JUDGEMENT.search(question):
        return False
    if sides(question) is not None:
        return bool(chooses(answer, question))
    return bool(VERDICT.match(CITATION.sub("", answer)))


def bare(question: str, answer: str) -> bool:
    """Whether a judgement (:func:`judges`) says nothing but its yes, no or side: "Yes, John
    would be considered a patriotic person [4]" is bare; "Yes, he served two tours [3]" gives a
    reason, which the memories must hold like any other answer."""
    said = content_words(CITATION.sub("", answer)) - {"yes", "likely", "probably", "possibly"}
    return not said - content_words(question)


# The number, date and speaker that start an evidence line ("[3] Thu 22 Dec 2022, Ana: ").
_LINE_HEAD = re.compile(r"^\[\d+\].*?:\s")


def other_side(question: str, answer: str, cited: Sequence[str]) -> bool:
    """Whether the answer chose one side of the question's "A or B" while the lines it cites
    speak only of the other: "To a theme park [1]" from "We went hiking in the hills" for "Would
    Ana rather go to a theme park or hike in the hills?". Lines naming neither side can still
    lead to a choice ("she loves the outdoors": a national park)."""
    chosen, both = chooses(answer, question), sides(question)
    if not chosen or both is None:
        return False
    other = both[1] if chosen == both[0] else both[0]
    said = affirmed(" ".join(_LINE_HEAD.sub("", line) for line in cited))
    return bool((_stems(other) - _stems(chosen)) & said) and not (
        (_stems(chosen) - _stems(other)) & said)


def side_not_theirs(question: str, answer: str, named: Sequence[str],
                    cited: Sequence[Evidence]) -> bool:
    """Whether the side of "A or B" an answer chose is spoken of only in someone else's cited
    lines: "Sweden [1][2]" for "Would Melanie move to Sweden or Norway?" from Melanie's camping
    line and Caroline's "I'm moving to Sweden"."""
    chosen = chooses(answer, question)
    if not chosen or len(named) != 1:
        return False
    speaking = [e for e in cited
                if _stems(chosen) & affirmed(_LINE_HEAD.sub("", e.line))]
    return bool(speaking) and not any(theirs(named[0], e) for e in speaking)


def off_topic(question: str, named: Sequence[str], cited: Sequence[str]) -> bool:
    """Whether the memories an answer cites say nothing of what the question is about.

    "How does Tim feel while surfing?" answered from Tim's "I don't surf, but reading helps me
    feel free", or "What is Jon's favourite style of painting?" from his line about dance: a
    question built on a false premise gets an answer from a line about something else. The
    cited lines (with their dates and speakers) must share a stem of the question's topic.
    """
    about = topic(question, named)
    if not about or not cited:
        return False
    return not about & affirmed(" ".join(cited))


_NEGATION = re.compile(r"^(?:not|no|never|don'?t|doesn'?t|didn'?t|isn'?t|wasn'?t|haven'?t|"
                       r"hasn'?t|can'?t|cannot|won'?t|nor)$", re.IGNORECASE)


def affirmed(text: str) -> set[str]:
    """The stems of ``text`` less words just after a negation ("I don't surf")."""
    words = text.split()
    kept = [w for i, w in enumerate(words)
            if not any(_NEGATION.match(p.strip(".,!?;:")) for p in words[max(0, i - 2):i])]
    return _stems(" ".join(kept))


def cited_numbers(text: str) -> set[int]:
    """The evidence numbers ``[n]`` / ``[n,m]`` cited in ``text``."""
    return {int(n) for m in CITATION.finditer(text) for n in m[1].split(",")}


def said_by_someone(e: Evidence) -> bool:
    """Whether a line is what someone said, whose relative dates the evidence resolved (a
    screen's text is left as it was read: evidence.evidence_line)."""
    return e.hit.kind != "frame" and e.hit.source.get("episode_kind") != "screen"
