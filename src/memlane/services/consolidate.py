"""Consolidation: raw frames and messages become episodes, day digests and facts.

:meth:`Consolidator.run` cuts what is not yet in an episode into closed episodes (summarised by
the local model when it can, extractively otherwise, so an episode is always stored), reads facts
from unread chat episodes (the model's constrained JSON, each fact tied to the line it came from,
or first-person statements without a usable model) and ADDs, UPDATEs, RETIREs or confirms them
against similar current facts, then rebuilds the digests of changed days and embeds the new
records. Every step commits per episode, day or batch, so a killed run loses at most the one in
flight and a re-run picks up exactly what is left; model calls are budgeted per run.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from memlane.core.settings import MemorySettings
from memlane.core.text import content_words
from memlane.memory import episodes as ep
from memlane.memory import facts as fx
from memlane.memory.store import Store
from memlane.memory.timeline import day_bounds
from memlane.memory.timeparse import resolve_relative
from memlane.models.memory_prompts import (
    decide_messages,
    decide_schema,
    facts_messages,
    facts_schema,
    parse_json,
    summary_messages,
    usable_summary,
)
from memlane.models.runtime import ChatModel

log = logging.getLogger(__name__)

FACT_LINES = 12          # messages per fact-extraction call
MIN_FACT_SUPPORT = 0.5   # share of a fact's words that must be in the line it cites
FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|me|my|mine|myself)\b", re.IGNORECASE)
Progress = Callable[[str, int, int], None]   # stage, done, total


@dataclass
class ConsolidationReport:
    episodes: int = 0
    chat_episodes: int = 0
    digests: int = 0
    facts_read: int = 0          # chat episodes read for facts
    added: int = 0
    updated: int = 0
    retired: int = 0
    confirmed: int = 0
    model_calls: int = 0
    model_unusable: int = 0      # calls that returned nothing usable
    budget_left_extractive: int = 0
    embedded: int = 0
    seconds: float = 0.0
    stopped: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 2)
        out["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        return out


class Consolidator:
    """Builds episodes, facts and digests in ``store``; ``index_sync`` embeds them afterwards."""

    def __init__(self, store: Store, index_sync: Callable[[], int], model: ChatModel | None,
                 settings: MemorySettings, max_model_calls: int | None = None) -> None:
        self.store = store
        self.index_sync = index_sync
        self.settings = settings
        self.model = model if self.settings.use_model else None
        self.budget = self.settings.max_model_calls if max_model_calls is None else max_model_calls
        self.report = ConsolidationReport()

    # -- the run -------------------------------------------------------------------------------

    def run(self, *, since: float | None = None, until: float | None = None,
            now: float | None = None, progress: Progress | None = None,
            should_stop: Callable[[], bool] | None = None) -> ConsolidationReport:
        t0 = time.perf_counter()
        now = time.time() if now is None else now
        stop = should_stop or (lambda: False)
        r = self.report
        # Each stage lists its work only once the one before has stored its own.
        stages: list[tuple[str, Callable[[], Sequence[Any]], Callable[[Any], None]]] = [
            ("episodes", lambda: self._drafts(since, until, now), self._episode),
            ("facts", lambda: self._unread_chats(since, until), self._facts_of),
            ("digests", lambda: self._stale_days(since, until), self._digest),
        ]
        for name, todo, do in stages:
            t = time.perf_counter()
            items = todo()
            for i, item in enumerate(items):
                if stop():
                    break
                do(item)
                if progress:
                    progress(name, i + 1, len(items))
            r.timings[f"{name}_s"] = time.perf_counter() - t
            if stop():
                r.stopped = True
                break
        t = time.perf_counter()
        r.embedded = self.index_sync()
        r.timings["embed_s"] = time.perf_counter() - t
        r.seconds = time.perf_counter() - t0
        return r

    # -- episodes --------------------------------------------------------------------------------

    def _drafts(self, since: float | None, until: float | None, now: float) -> list[ep.Draft]:
        drafts = ep.closed(ep.segment_frames(ep.pending_frames(self.store, since, until)), now)
        drafts += ep.closed(ep.chat_sessions(ep.pending_messages(self.store, since, until)), now)
        return sorted(drafts, key=lambda d: d.start)

    def _episode(self, draft: ep.Draft) -> None:
        phrases = ep.key_phrases(draft)
        summary, by = ep.extractive_summary(draft, phrases), "extractive"
        long_enough = (draft.kind == "chat"
                       or draft.end - draft.start >= self.settings.model_min_seconds)
        if long_enough:
            written = self._summarize(draft)
            if written:
                summary, by = written, "model"
        if ep.store_episode(self.store, draft, summary, by, phrases) is not None:
            if draft.kind == "chat":
                self.report.chat_episodes += 1
            else:
                self.report.episodes += 1

    def _summarize(self, draft: ep.Draft) -> str | None:
        if not self._may_call():
            return None
        text = ep.source_text(draft, 300)
        if len(text.split()) < 8:
            return None
        when = datetime.fromtimestamp(draft.start)
        where = (f"Chat between {', '.join(draft.speakers[:4])} on {when:%d %b %Y}:"
                 if draft.kind == "chat" else
                 f"Screen of {', '.join(draft.apps[:2])}, window '{(draft.titles or [''])[0]}':")
        reply = self._call(summary_messages(where, text), max_tokens=70)
        summary = " ".join(reply.split()) if reply else ""
        if summary and usable_summary(summary, f"{where}\n{text}"):
            return summary
        self.report.model_unusable += 1
        return None

    # -- facts -------------------------------------------------------------------------------------

    def _unread_chats(self, since: float | None, until: float | None) -> list[int]:
        cond, params = ep.overlapping(since, until)
        return [int(r[0]) for r in self.store.sql(
            "SELECT id FROM episodes WHERE kind = 'chat' AND level = 'episode' AND facts_done = 0"
            f"{cond} ORDER BY start, id", params)]

    def _facts_of(self, episode_id: int) -> None:
        messages = ep.messages_of_episode(self.store, episode_id)
        candidates: list[fx.FactIn] = []
        for start in range(0, len(messages), FACT_LINES):
            chunk = messages[start : start + FACT_LINES]
            found = self._extract(chunk)
            candidates += found if found is not None else fx.rule_candidates(chunk)
        # "yesterday" means the day before it was said, however much later the fact is read
        candidates = [replace(c, text=resolve_relative(
            c.text, datetime.fromtimestamp(c.time).astimezone())) for c in candidates]
        decisions = [(c, self._decide(c)) for c in _merge(candidates)]
        with self.store.transaction() as conn:
            # Forgotten while the model read them: no fact may outlive its source.
            if not ep.sources_exist(conn, [("message", m.id) for m in messages]) or not \
                    conn.execute("SELECT 1 FROM episodes WHERE id = ?", (episode_id,)).fetchone():
                return
            for candidate, decision in decisions:
                # Decided against the facts as they were; re-check NOOPs made stale by an
                # earlier decision of this batch (two mentions of one new fact in a chat).
                if decision.action == "ADD":
                    again = fx.similar(conn, candidate)
                    if again and again[0][1] >= fx.SAME:
                        decision = fx.Decision("NOOP", again[0][0].id, decision.by)
                fx.apply(conn, candidate, decision)
                attr = {"ADD": "added", "UPDATE": "updated", "RETIRE": "retired",
                        "NOOP": "confirmed"}[decision.action]
                setattr(self.report, attr, getattr(self.report, attr) + 1)
            conn.execute("UPDATE episodes SET facts_done = 1 WHERE id = ?", (episode_id,))
        self.report.facts_read += 1

    def _extract(self, chunk: Sequence[ep.Item]) -> list[fx.FactIn] | None:
        """Facts the model reads in these messages; None when it could not be asked or failed."""
        if not self._may_call():
            return None
        lines = [f"{m.speaker or 'me'} ({datetime.fromtimestamp(m.time):%d %b %Y}): "
                 f"{' '.join(m.text.split()[:80])}" for m in chunk]
        reply = self._call(facts_messages(lines), max_tokens=320,
                           schema=facts_schema(len(lines)))
        parsed = parse_json(reply or "")
        items = parsed.get("facts") if parsed else None
        if not isinstance(items, list):
            self.report.model_unusable += 1
            return None
        speakers = {m.speaker for m in chunk if m.speaker}
        out: list[fx.FactIn] = []
        for item in items:
            fact = _checked_fact(item, chunk, speakers)
            if fact is not None:
                out.append(fact)
        if not out and items:
            self.report.model_unusable += 1
            return None
        return out

    def _decide(self, candidate: fx.FactIn) -> fx.Decision:
        found = fx.similar(self.store, candidate)
        rule = fx.heuristic_decision(candidate, found)
        # Exact repeats and unrelated facts need no model; only real look-alikes are asked.
        if rule.action == "NOOP" or not found or not self._may_call():
            return rule
        reply = self._call(decide_messages(candidate.text, [f.text for f, _ in found]),
                           max_tokens=24, schema=decide_schema(len(found)))
        parsed = parse_json(reply or "")
        if not parsed or parsed.get("action") not in fx.ACTIONS:
            self.report.model_unusable += 1
            return rule
        action = str(parsed["action"])
        if action == "ADD":
            return fx.Decision("ADD", None, "model")
        n = parsed.get("known")
        if not isinstance(n, int) or not 1 <= n <= len(found):
            self.report.model_unusable += 1
            return rule
        target = found[n - 1][0]
        if target.subject != candidate.subject and action != "NOOP":
            return fx.Decision("ADD", None, "model")  # never let one person's fact end another's
        return fx.Decision(action, target.id, "model")

    # -- digests -----------------------------------------------------------------------------------

    def _stale_days(self, since: float | None, until: float | None) -> list[date]:
        days = ep.stale_days(self.store)
        if since is not None:
            days = [d for d in days if day_bounds(d)[1] > since]
        if until is not None:
            days = [d for d in days if day_bounds(d)[0] < until]
        return days

    def _digest(self, day: date) -> None:
        lo, hi = day_bounds(day)
        items = [e for e in ep.episodes_between(self.store, lo, hi, level="episode")
                 if lo <= e.start < hi]
        if not items:
            return
        summary = ep.day_digest_draft(items, day)
        ep.store_digest(self.store, day, items, summary, "extractive")
        self.report.digests += 1

    # -- the model ---------------------------------------------------------------------------------

    def _may_call(self) -> bool:
        if self.model is None:
            return False
        if self.report.model_calls >= self.budget:
            self.report.budget_left_extractive += 1
            return False
        return True

    def _call(self, messages: list[dict[str, str]], *, max_tokens: int,
              schema: dict[str, Any] | None = None) -> str | None:
        assert self.model is not None
        self.report.model_calls += 1
        try:
            return "".join(self.model.stream(messages, max_tokens=max_tokens, schema=schema))
        except Exception as exc:  # a crashed or missing model: extractive from here on
            log.warning("the model failed during consolidation (%s); going on without it", exc)
            self.model = None
            return None


def _merge(candidates: Sequence[fx.FactIn]) -> list[fx.FactIn]:
    """One candidate per fact said more than once in a chat, with all the lines it came from."""
    out: dict[tuple[str, str], fx.FactIn] = {}
    for c in candidates:
        key = (c.subject, " ".join(sorted(content_words(c.text))))
        known = out.get(key)
        if known is None:
            out[key] = c
        else:
            out[key] = replace(known, time=min(known.time, c.time),
                               importance=max(known.importance, c.importance),
                               sources=tuple(dict.fromkeys(known.sources + c.sources)))
    return list(out.values())


def _checked_fact(item: Any, chunk: Sequence[ep.Item], speakers: set[str]) -> fx.FactIn | None:
    """A model fact checked against the line it cites: right speaker, words really there.

    A question is no fact ("What pet do you have?" came back as one). A fact still in the
    speaker's own words ("Caroline taught me self-acceptance") gets the speaker in front, as
    rule facts have it, or "me" would read as whoever asks; one that starts with the speaker's
    name already says who "me" is.
    """
    if not isinstance(item, dict):
        return None
    text = " ".join(str(item.get("text", "")).split())
    n = item.get("from")
    if not text or "?" in text or not isinstance(n, int) or not 1 <= n <= len(chunk):
        return None
    source = chunk[n - 1]
    subject = source.speaker or "me"
    if subject != "me" and FIRST_PERSON.search(text) and not text.startswith(subject):
        text = f"{subject}: {text}"
    else:  # a 0.5B model often names the wrong person: the fact is whoever said the line's
        for other in speakers - {subject}:
            if text.startswith(other):
                text = subject + text[len(other):]
    mine = content_words(text) - {w.lower() for w in speakers}
    if not mine:
        return None
    said = content_words(source.text)
    if len(mine & said) / len(mine) < MIN_FACT_SUPPORT:
        return None
    category = str(item.get("category", "fact"))
    if category not in fx.CATEGORIES:
        category = "fact"
    ruled = fx.rule_candidates([source], limit=1)
    if ruled:  # the rules know a plan from a preference better than a 0.5B model does
        category = ruled[0].category
    return fx.FactIn(text, category, 0.6, subject, source.time, (("message", source.id),))
