"""The hand-written fake model the assistant and GUI tests share (the real one is tested too)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from memlane.models.runtime import Usage


class FakeModel:
    """Replies from a queue, streamed three characters at a time (optionally slowly).

    Records every request; ``closed`` says whether the last stream was closed (a stopped answer).
    """

    name = "fake"

    def __init__(self, *replies: str, delay: float = 0.0) -> None:
        self.replies = list(replies)
        self.delay = delay
        self.requests: list[list[dict[str, str]]] = []
        self.closed = False
        self.schemas: list[dict[str, Any] | None] = []

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float = 0.0,
        stop: Sequence[str] = (), usage: Usage | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        self.requests.append(list(messages))
        self.schemas.append(schema)
        reply = self.replies.pop(0)
        try:
            for i in range(0, len(reply), 3):
                time.sleep(self.delay)
                yield reply[i : i + 3]
        finally:
            self.closed = True
        if usage is not None:
            usage.completion_tokens = len(reply.split())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]
