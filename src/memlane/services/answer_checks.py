"""The checks a model's draft answer goes through before anyone reads it, and the evidence it cites.

:func:`check_answer` is pure: given the question, the draft and the numbered :class:`Evidence`
lines the model was shown, it returns a :class:`Verdict`: the answer to show, or the abstention
and why (the model abstained, the draft only restates the question, its words are in no memory,
it cites only someone other than the person asked about (``answer_lines``: a line where they
only ask about it, or one naming them only in an opening greeting, is not theirs), or what it
cites says nothing of what the question is about). An answer to a question asking when is dated
by the line about it (``answer_dates.date_answer``), not by the model's reading. A plain yes, no
or side of an "A or B" given to a question asking for a judgement ("Would Melanie enjoy ...?",
``answer_lines.judges`` and ``bare``), citing a memory, is not held to the words of the lines it
cites, only to whose they are and, for a side, to their not speaking only of the other side.
Citations are moved to the lines that hold the answer, unrelated ones removed, missing ones
added, and words restating the question cut from the front.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from memlane.models.prompts import (
    ABSTAIN,
    CITATION,
    adds_nothing,
    attribute,
    is_abstention,
    lead_with_answer,
    lead_with_choice,
    lead_with_verdict,
    recite,
    support,
    tuck_citations,
    uncite_unrelated,
)
from memlane.services.answer_dates import date_answer
from memlane.services.answer_lines import (
    Evidence,
    about_someone_else,
    bare,
    cited_numbers,
    judges,
    off_topic,
    other_side,
    side_not_theirs,
    their_line,
    topic,
)

log = logging.getLogger(__name__)

# Below this share of its new words found in the evidence, an answer counts as made up.
MIN_SUPPORT = 0.5


@dataclass(frozen=True)
class Verdict:
    """What the checks made of a draft: the answer to show, or the abstention and why.

    ``cited`` maps each evidence number the answer cites to how: ``model`` (the model cited it)
    or ``overlap`` (the checks moved or added the citation).
    """

    text: str
    abstained: bool
    reason: str = ""
    draft: str = ""
    led: bool = False
    cited: dict[int, str] = field(default_factory=dict)


def check_answer(question: str, draft: str, given: Sequence[Evidence],
                 named: Sequence[str]) -> Verdict:
    """Check a model's draft against the numbered evidence it was ``given`` (left unchanged).

    In order: the model abstained; the draft only restates the question; its words are in no
    memory; a question asking when is answered with the date of the line about it
    (:func:`date_answer`, which also places the citation); then citations are moved to the
    lines holding the answer, unrelated ones removed and missing ones added; an answer citing
    only someone other than the person the question ``named`` moves to that person's line or
    abstains; finally the words restating the question are cut from the front of the answer.
    A judgement the question asks for (:func:`judges`), citing a memory, skips the check for
    memories about something else; a plain one (:func:`bare`) also the checks on words (made up,
    unrelated citations, a line where the person only asks). A side abstains when only someone
    else's cited lines speak of it (:func:`side_not_theirs`) or they speak only of the other side
    (:func:`other_side`). It is marked ``judgement`` and cut to the side it chose, or to its yes
    or no.
    """
    lines = [e.line for e in given]
    if is_abstention(draft):
        return Verdict(ABSTAIN, True, "model")
    if adds_nothing(draft, question):
        log.info("answer only restates the question, abstaining: %r", draft)
        return Verdict(ABSTAIN, True, "no answer in the evidence", draft=draft)
    # A judgement rests on a memory it cites; one giving nothing but its yes, no or side is not
    # held to the words of its lines.
    judged = judges(question, draft) and any(1 <= n <= len(given) for n in cited_numbers(draft))
    plain = judged and bare(question, draft)
    if not plain and support(draft, question, lines) < MIN_SUPPORT:
        log.info("answer not supported by the evidence, abstaining: %r", draft)
        return Verdict(ABSTAIN, True, "unsupported", draft=draft)
    dated = date_answer(question, draft, given, named)
    if dated is not None:
        text, line, redated = dated
        cited = {line: "model" if line in cited_numbers(draft) else "overlap"}
        if redated:
            log.info("dated the answer by the line about the question: %r -> %r", draft, text)
            return Verdict(text, False, "dated", draft=draft, cited=cited)
        led = lead_with_answer(text, question)
        return Verdict(led, False, draft=text if led != text else "", led=led != text,
                       cited=cited)
    text, moved = recite(tuck_citations(draft), question, lines)
    if moved:
        log.info("moved citations to the lines holding the answer: %s", moved)
    if not plain:  # a plain judgement cites what it rests on ("Yes [2]" from "I play Bach")
        text, unrelated = uncite_unrelated(text, lines)
        if unrelated:
            log.info("removed citations to unrelated evidence: %s", unrelated)
    text, added = attribute(text, lines)
    added += moved
    cited = {n: "overlap" if n in added else "model" for n in cited_numbers(text)
             if 1 <= n <= len(lines)}
    evidence = [replace(e, cited_by=cited.get(e.n, "")) for e in given]
    # What someone asks about tells of them when the question asks for a judgement ("Would
    # Melanie be an ally?" from her "What made you decide to transition?"), not otherwise.
    about = set() if plain else topic(question, named)
    if about_someone_else(named, [e for e in evidence if e.cited_by], about) and (
            own := their_line(named[0], text, question, evidence)):
        log.info("cited someone else's line; the answer is in %s's [%d]", named[0], own)
        text = " ".join(CITATION.sub("", text).split()).rstrip(" .") + f" [{own}]."
        cited = {own: "overlap"}
        for e in evidence:
            e.cited_by = cited.get(e.n, "")
    if about_someone_else(named, [e for e in evidence if e.cited_by], about):
        log.info("answer cites only someone else's memories, abstaining: %r", text)
        return Verdict(ABSTAIN, True, "about someone else", draft=text)
    if judged and side_not_theirs(question, text, named, [e for e in evidence if e.cited_by]):
        log.info("chose a side only someone else's memories speak of, abstaining: %r", text)
        return Verdict(ABSTAIN, True, "about someone else", draft=text)
    if judged and other_side(question, text, [e.line for e in evidence if e.cited_by]):
        log.info("chose the side its memories do not speak of, abstaining: %r", text)
        return Verdict(ABSTAIN, True, "other side", draft=text)
    if not judged and off_topic(question, named, [e.line for e in evidence if e.cited_by]):
        log.info("the cited memories are about something else, abstaining: %r", text)
        return Verdict(ABSTAIN, True, "off topic", draft=text)
    if judged:
        text = lead_with_verdict(lead_with_choice(text, question), question)
    led = lead_with_answer(text, question)
    cut = led != text
    return Verdict(led, False, "judgement" if judged else "", draft=text if cut else "", led=cut,
                   cited=cited)
