"""Answering questions from memories: retrieve, pack evidence, stream a cited answer, remember.

:class:`Assistant` turns a question into an :class:`Answer`. The question's time expression
becomes a filter (in retrieval); hits that are not relevant enough are dropped and, when none is
left, the assistant abstains without asking the model. The rest is packed into the context
budget - de-duplicated, in time order, each line with its date, weekday and where it came from,
relative dates inside it resolved by code - and the model's answer streams through a citation
check. Every question and answer is stored as an "assistant" conversation, so later searches and
questions can find them. That conversation is only used as evidence when the question is about
it ("what did I ask you yesterday?"), and then only the person's own turns: a wrong answer never
becomes a memory.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from memlane.app.settings import AnswerSettings
from memlane.memory.records import ConversationIn, Hit, MessageIn, iso
from memlane.memory.timeparse import resolve_relative
from memlane.models.prompts import (
    ABSTAIN,
    CITATION,
    CitationFilter,
    adds_nothing,
    attribute,
    build_messages,
    content_words,
    is_abstention,
    support,
    uncite_unrelated,
)
from memlane.models.runtime import ChatModel, Usage

if TYPE_CHECKING:
    from memlane.app.engine import Engine

log = logging.getLogger(__name__)

ASSISTANT_SOURCE = "assistant"
ASSISTANT_SPEAKER = "Memlane"
# Questions about the chat with Memlane itself.
ABOUT_CHAT = re.compile(
    r"\b(?:(?:did\s+)?i\s+ask(?:ed)?\s+you|you\s+(?:said|told|answered)|our\s+(?:chat|conversation)"
    r"|i\s+asked\s+(?:memlane|the\s+assistant))\b", re.IGNORECASE)
EVIDENCE_WORDS = 60
# Below this share of its new words found in the evidence, an answer counts as made up.
MIN_SUPPORT = 0.5  # longest evidence text, in words, before it is cut around the query


@dataclass
class Evidence:
    n: int
    hit: Hit
    line: str
    cited_by: str = ""  # "model", "overlap" or "" (given to the model but not cited)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "id": self.hit.id, "kind": self.hit.kind, "time": iso(self.hit.time),
                "snippet": self.hit.snippet, "source": self.hit.source, "cited_by": self.cited_by}


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
    # only restated the question) or "unsupported" (its words are in no memory).
    reason: str = ""
    stopped: bool = False  # the person stopped it; ``text`` is what had streamed by then

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


def today_text(now: datetime) -> str:
    return f"{now:%A}, {now.day} {now:%B %Y}, {now:%H:%M}"


def where_text(hit: Hit) -> str:
    if hit.kind == "episode":
        return "activity" + (f", {hit.app}" if hit.app else "")
    if hit.kind == "fact":
        return "known fact"
    if hit.kind == "message":
        return "chat with Memlane" if hit.app == ASSISTANT_SOURCE else "chat"
    if hit.kind == "frame":
        return "screen, " + " - ".join(x for x in (hit.app, hit.title) if x) if (
            hit.app or hit.title) else "screen"
    return hit.kind


def evidence_line(n: int, hit: Hit) -> str:
    when = datetime.fromtimestamp(hit.time).astimezone()
    words = hit.snippet.split()
    text = " ".join(words[:EVIDENCE_WORDS]) + (" ..." if len(words) > EVIDENCE_WORDS else "")
    text = resolve_relative(text, when)
    where = "" if hit.kind == "message" and hit.app != ASSISTANT_SOURCE else f" ({where_text(hit)})"
    return f"[{n}] {when:%a} {when.day} {when:%b %Y}, {when:%H:%M},{where} {text}"


def dedupe(hits: Sequence[Hit]) -> list[Hit]:
    """Drop hits whose text repeats one already kept (re-imports, unchanged screens)."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = " ".join(sorted(content_words(hit.snippet))) or hit.id
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out


class Assistant:
    """Answers questions about the person's past with one engine and one model."""

    def __init__(
        self, engine: Engine, model: ChatModel, settings: AnswerSettings | None = None,
        conversation: str | None = None,
    ) -> None:
        self.engine = engine
        self.model = model
        self.settings = settings or engine.settings.answer
        # Where turns are stored: one conversation per chat session, or per day for `ask`.
        self.conversation = conversation

    def relevant(self, hit: Hit, query: str) -> bool:
        if hit.vector_distance is not None and hit.vector_distance <= self.settings.max_distance:
            return True
        asked = content_words(query)
        shared = asked & content_words(hit.snippet)
        return bool(asked) and len(shared) * 2 >= len(asked)

    def evidence(self, question: str, now: datetime | None) -> tuple[list[Hit], str]:
        about_chat = bool(ABOUT_CHAT.search(question))
        result = self.engine.search(
            question, limit=self.settings.evidence * 2, now=now,
            app=ASSISTANT_SOURCE if about_chat else None,
        )
        hits = [h for h in result.hits if (h.app == ASSISTANT_SOURCE) == about_chat
                and h.role != "assistant"]
        # Asked about the chat itself, every earlier question in range is relevant.
        hits = [h for h in dedupe(hits) if about_chat or self.relevant(h, result.query)]
        return hits[: self.settings.evidence], result.query

    def pack(self, hits: Sequence[Hit]) -> list[Evidence]:
        """Fit the best hits into the token budget, then number them in time order."""
        drafts = [evidence_line(0, h) for h in hits]
        counts = self.model.count_tokens(drafts)
        kept: list[Hit] = []
        used = 0
        for hit, tokens in zip(hits, counts, strict=True):
            if used + tokens > self.settings.evidence_tokens and kept:
                continue
            kept.append(hit)
            used += tokens
        kept.sort(key=lambda h: h.time)
        return [Evidence(i, h, evidence_line(i, h)) for i, h in enumerate(kept, start=1)]

    def ask(
        self, question: str, *, now: datetime | None = None,
        on_token: Callable[[str], None] | None = None,
        history: Sequence[tuple[str, str]] = (),
        should_stop: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer ``question``; ``should_stop`` is polled per token (a stop button)."""
        t0 = time.perf_counter()
        ref = now.astimezone() if now else datetime.now().astimezone()
        hits, _ = self.evidence(question, now)
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
        evidence = self.pack(hits)
        messages = build_messages(question, [e.line for e in evidence], today_text(ref), history)
        check = CitationFilter(len(evidence))
        pieces: list[str] = []
        stopped = False
        stream = self.model.stream(
            messages, max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature, usage=usage,
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
                if "first_token_ms" not in timings:
                    timings["first_token_ms"] = (time.perf_counter() - t0) * 1000
                pieces.append(shown)
                if on_token:
                    on_token(shown)
        tail = check.flush()
        pieces.append(tail)
        if tail and on_token:
            on_token(tail)
        text = " ".join("".join(pieces).split())
        timings.setdefault("first_token_ms", (time.perf_counter() - t0) * 1000)
        if usage.load_ms:
            timings["model_load_ms"] = usage.load_ms
        if check.dropped:
            log.info("dropped citations to missing evidence: %s", check.dropped)
        lines = [e.line for e in evidence]
        if stopped:
            visible = {int(n) for m in CITATION.finditer(text) for n in m[1].split(",")}
            for e in evidence:
                e.cited_by = "model" if e.n in visible else ""
            answer = Answer(question, text, False, evidence, self.model.name, timings, usage,
                            "stopped", stopped=True)
        elif is_abstention(text):
            answer = Answer(question, ABSTAIN, True, evidence, self.model.name, timings, usage,
                            "model")
        elif adds_nothing(text, question):
            log.info("answer only restates the question, abstaining: %r", text)
            answer = Answer(question, ABSTAIN, True, evidence, self.model.name, timings, usage,
                            "no answer in the evidence")
        elif support(text, question, lines) < MIN_SUPPORT:
            log.info("answer not supported by the evidence, abstaining: %r", text)
            answer = Answer(question, ABSTAIN, True, evidence, self.model.name, timings, usage,
                            "unsupported")
        else:
            text, unrelated = uncite_unrelated(text, lines)
            if unrelated:
                log.info("removed citations to unrelated evidence: %s", unrelated)
            text, added = attribute(text, lines)
            kept = {int(n) for m in CITATION.finditer(text) for n in m[1].split(",")}
            for e in evidence:
                if e.n in kept:
                    e.cited_by = "overlap" if e.n in added else "model"
            answer = Answer(question, text, False, evidence, self.model.name, timings, usage)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        self._strengthen(answer)
        self._remember(answer)
        return answer

    def _strengthen(self, answer: Answer) -> None:
        keys = [(e.hit.kind, int(e.hit.id.split(":")[1])) for e in answer.citations
                if e.hit.kind in ("episode", "fact")]
        if keys:
            try:
                self.engine.store.note_retrieved(keys, time.time())
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
            self.engine.store.import_conversations([conv])
            self.engine.index.sync()
        except Exception as exc:  # the answer stands even if it could not be stored
            log.warning("could not store the question and answer: %s", exc)
