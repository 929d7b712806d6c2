"""Answering questions from memories: retrieve, pack evidence, stream a cited answer, remember.

:class:`Assistant` turns a question into an :class:`Answer`. Its time expression becomes a filter,
hits that are not relevant enough are dropped (unless the question is only about a time), and when
none is left it abstains without asking the model. The rest is packed into the context budget,
de-duplicated, dated and in time order, and the model's answer streams through a citation check
that also cuts words merely restating the question. Every exchange is stored as an "assistant"
conversation, used as evidence only when the question is about it and then only the person's own
turns, so a wrong answer never becomes a memory.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memlane.core.settings import AnswerSettings
from memlane.core.text import content_words
from memlane.memory.facts import taken_from
from memlane.memory.records import (
    ASSISTANT_SOURCE,
    ConversationIn,
    Hit,
    MessageIn,
    parse_record_id,
)
from memlane.memory.retrieval import SearchResult
from memlane.memory.store import Store
from memlane.memory.timeparse import MONTH_NAMES, WEEKDAY_NAMES
from memlane.models.prompts import (
    ABSTAIN,
    ANSWER_STOP,
    CitationFilter,
    build_messages,
)
from memlane.models.runtime import ChatModel, Usage
from memlane.services.answer_checks import check_answer
from memlane.services.answer_lines import Evidence, affirmed, cited_numbers, topic
from memlane.services.evidence import (
    dedupe,
    evidence_line,
    fold_screens,
    stood_in_for,
)
from memlane.services.periods import (
    MINUTES,
    asks_about_apps,
    is_period_question,
    period_hits,
)

log = logging.getLogger(__name__)

ASSISTANT_SPEAKER = "Memlane"
# Questions about the chat with Memlane itself.
ABOUT_CHAT = re.compile(
    r"\b(?:(?:did\s+)?i\s+ask(?:ed)?\s+you|you\s+(?:said|told|answered)|our\s+(?:chat|conversation)"
    r"|i\s+asked\s+(?:memlane|the\s+assistant))\b", re.IGNORECASE)


# Why the checks replaced a streamed draft, by Answer.reason, as the CLI and the app say it.
REPLACED_BECAUSE = {
    "no answer in the evidence": "only restated the question",
    "unsupported": "used words found in no memory",
    "about someone else": "cited only someone else's memories",
    "off topic": "cited memories about something else",
    "dated": "gave another date than the memory it is about",
    "other side": "chose the side its memories do not speak of",
}
# Said under an answer to a question asking for a judgement ("Would Melanie enjoy ...?"),
# which the checks do not hold to the words of its citations (answer_lines.judges).
JUDGEMENT_NOTE = "a judgement from the memories cited; none of them says it"


@dataclass
class Answer:
    question: str
    text: str
    abstained: bool
    evidence: list[Evidence]
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    # Why it abstained: "no relevant memories", "model", "no answer in the evidence" (the answer
    # only restated the question), "unsupported" (its words are in no memory) or "about someone
    # else" (the question names one person, every cited memory is another's); or, answered,
    # "dated" (the draft's date was replaced by the date of the memory it is about) or
    # "judgement" (the question asks for one: JUDGEMENT_NOTE).
    reason: str = ""
    stopped: bool = False  # the person stopped it; ``text`` is what had streamed by then
    # What the model said, when a check replaced it with the abstention or cut the words that
    # restated the question from its front (``led``).
    draft: str = ""
    led: bool = False
    named: list[str] = field(default_factory=list)  # the stored speakers the question names
    said: str = ""  # what the model streamed, before any check

    @property
    def citations(self) -> list[Evidence]:
        return [e for e in self.evidence if e.cited_by]

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [e.to_json() for e in self.citations],
            "evidence": [e.to_json() for e in self.evidence],
            "model": self.model,
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "context_tokens": self.usage.prompt_tokens,
            "answer_tokens": self.usage.completion_tokens,
            "stopped": self.stopped,
        }


def warm(model: ChatModel) -> float:
    """Load the model and have it read the fixed start of every question's prompt (the
    instructions and examples), which it keeps; the first question then pays only for its own
    part. Returns the seconds it took."""
    t0 = time.perf_counter()
    messages = build_messages("What do you remember?", [], today_text(datetime.now()))
    for _piece in model.stream(messages, max_tokens=1, temperature=0.0):
        pass
    return time.perf_counter() - t0


def today_text(now: datetime) -> str:
    return (f"{WEEKDAY_NAMES[now.weekday()]}, {now.day} {MONTH_NAMES[now.month - 1]} "
            f"{now.year}, {now:%H:%M}")


class Assistant:
    """Answers questions about the person's past from a search, a store and one model.

    ``search`` is the engine's hybrid search; ``index_sync`` embeds what was stored since (the
    remembered question and answer). The engine builds assistants (``Engine.assistant``).
    """

    def __init__(
        self, search: Callable[..., SearchResult], store: Store, index_sync: Callable[[], object],
        model: ChatModel, settings: AnswerSettings, conversation: str | None = None,
    ) -> None:
        self.search = search
        self.store = store
        self.index_sync = index_sync
        self.model = model
        self.settings = settings
        # Where turns are stored: one conversation per chat session, or per day for `ask`.
        self.conversation = conversation

    def relevant(self, hit: Hit, query: str) -> bool:
        if hit.vector_distance is not None and hit.vector_distance <= self.settings.max_distance:
            return True
        asked = content_words(query)
        shared = asked & content_words(hit.snippet)
        return bool(asked) and len(shared) * 2 >= len(asked)

    def evidence(self, question: str, now: datetime | None) -> tuple[list[Hit], str, list[str]]:
        """The hits to answer from, the query searched, and the stored speakers it names."""
        about_chat = bool(ABOUT_CHAT.search(question))
        result = self.search(
            question, limit=self.settings.evidence * 2, now=now,
            app=ASSISTANT_SOURCE if about_chat else None,
        )
        hits = [h for h in result.hits if (h.app == ASSISTANT_SOURCE) == about_chat
                and h.role != "assistant"]
        words = content_words(result.query)
        if (not about_chat and result.since is not None and result.until is not None
                and is_period_question(words)):
            # "What did I do yesterday?": an account of the period, from its episodes
            period = period_hits(self.store, result.since, result.until,
                                 self.settings.evidence, apps=asks_about_apps(words))
            if period:
                return period, result.query, result.named
        # Asked about the chat itself, every earlier question in range is relevant.
        kept = [h for h in dedupe(hits) if about_chat or self.relevant(h, result.query)]
        if not kept and result.time_range is not None:
            # "What did I do yesterday?" is about the time it names: when nothing matches the
            # rest of the question better, everything from then is evidence.
            kept = dedupe(hits)
        facts = {h.id: h for h in kept if h.kind == "fact"}
        taken = taken_from(self.store, [parse_record_id(i)[1] for i in facts])
        kept = fold_screens([h for h in kept if not stood_in_for(h, facts, taken)])
        if self.settings.rerank:
            # Lines sharing more of what the question is about first; search order otherwise.
            about = topic(question, result.named)
            kept.sort(key=lambda h: -len(about & affirmed(h.snippet)))
        return kept[: self.settings.evidence], result.query, result.named

    def pack(self, hits: Sequence[Hit], query: str = "") -> list[Evidence]:
        """Fit the best hits into the token budget, then number them in time order."""
        drafts = [evidence_line(0, h, query) for h in hits]
        counts = self.model.count_tokens(drafts)
        kept: list[Hit] = []
        used = 0
        for hit, tokens in zip(hits, counts, strict=True):
            if used + tokens > self.settings.evidence_tokens and kept:
                continue
            kept.append(hit)
            used += tokens
        # Messages of one imported session share its time: their ids keep the order they were said.
        kept.sort(key=lambda h: (h.time, parse_record_id(h.id)[1]))
        return [Evidence(i, h, evidence_line(i, h, query)) for i, h in enumerate(kept, start=1)]

    def ask(
        self, question: str, *, now: datetime | None = None,
        on_token: Callable[[str], None] | None = None,
        history: Sequence[tuple[str, str]] = (),
        should_stop: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer ``question``; ``should_stop`` is polled per token (a stop button)."""
        t0 = time.perf_counter()
        ref = now.astimezone() if now else datetime.now().astimezone()
        hits, query, named = self.evidence(question, now)
        timings = {"retrieve_ms": (time.perf_counter() - t0) * 1000}
        usage = Usage()
        if not hits:
            answer = Answer(question, ABSTAIN, True, [], self.model.name, timings, usage,
                            "no relevant memories")
            if on_token:
                on_token(ABSTAIN)
            timings["first_token_ms"] = timings["total_ms"] = (time.perf_counter() - t0) * 1000
            self._remember(answer)
            return answer
        evidence = self.pack(hits, query)
        asked = question
        if all(MINUTES in h.source for h in hits):  # an account of a period (periods.py)
            asked = f"{question} Name the main things, each with its memory number."
        messages = build_messages(asked, [e.line for e in evidence], today_text(ref), history)
        text, stopped = self._stream(messages, len(evidence), usage, t0, timings, on_token,
                                     should_stop)
        if usage.load_ms:
            timings["model_load_ms"] = usage.load_ms
        if stopped:
            visible = cited_numbers(text)
            for e in evidence:
                e.cited_by = "model" if e.n in visible else ""
            answer = Answer(question, text, False, evidence, self.model.name, timings, usage,
                            "stopped", stopped=True)
        else:
            verdict = check_answer(question, text, evidence, named)
            for e in evidence:
                e.cited_by = verdict.cited.get(e.n, "")
            answer = Answer(question, verdict.text, verdict.abstained, evidence, self.model.name,
                            timings, usage, verdict.reason, draft=verdict.draft, led=verdict.led,
                            named=list(named), said=text)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        self._strengthen(answer)
        self._remember(answer)
        return answer

    def _stream(
        self, messages: list[dict[str, str]], n_evidence: int, usage: Usage, t0: float,
        timings: dict[str, float], on_token: Callable[[str], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> tuple[str, bool]:
        """Stream the model's draft (citations to missing lines dropped as they come); return
        the draft and whether it was stopped."""
        check = CitationFilter(n_evidence)
        pieces: list[str] = []
        stopped = False
        stream = self.model.stream(
            messages, max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature, usage=usage, stop=ANSWER_STOP,
        )
        for piece in stream:
            if should_stop is not None and should_stop():
                stopped = True
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # the model process cancels and drains before the next request
                break
            shown = check.feed(piece)
            if shown:
                timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
                pieces.append(shown)
                if on_token:
                    on_token(shown)
        tail = check.flush()
        pieces.append(tail)
        if tail and on_token:
            on_token(tail)
        timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
        if check.dropped:
            log.info("dropped citations to missing evidence: %s", check.dropped)
        return " ".join("".join(pieces).split()), stopped

    def _strengthen(self, answer: Answer) -> None:
        keys = [(e.hit.kind, int(e.hit.id.split(":")[1])) for e in answer.citations
                if e.hit.kind in ("episode", "fact")]
        if keys:
            try:
                self.store.note_retrieved(keys, time.time())
            except Exception as exc:  # the answer stands either way
                log.warning("could not note the cited memories: %s", exc)

    def _remember(self, answer: Answer) -> None:
        """Store the turn at the wall-clock time (``--now`` only changes what "today" means)."""
        if not self.settings.remember:
            return
        now = datetime.now().astimezone()
        ts = now.timestamp()
        conv = ConversationIn(
            ASSISTANT_SOURCE, self.conversation or f"ask-{now:%Y-%m-%d}",
            f"Questions to Memlane, {now:%Y-%m-%d}", ts,
            (
                MessageIn(f"{ts:.6f}-q", "me", answer.question, ts, "user"),
                MessageIn(f"{ts:.6f}-a", ASSISTANT_SPEAKER, answer.text, ts + 0.001, "assistant",
                          {"citations": [{"n": e.n, "id": e.hit.id} for e in answer.citations]}
                          if answer.citations else None),
            ),
        )
        try:
            self.store.import_conversations([conv])
            self.index_sync()
        except Exception as exc:  # the answer stands even if it could not be stored
            log.warning("could not store the question and answer: %s", exc)
