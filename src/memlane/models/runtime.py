"""The local language model as a supervised child process that streams tokens.

:class:`ModelProcess` starts :mod:`memlane.models.worker` in its own process (llama.cpp crashes,
aborts and out-of-memory kills end that process, never the app), waits for it to report the model
loaded, and streams answers back token by token over a pipe. If the process dies, the request in
flight fails with a :class:`ModelError` that says so, and the next request starts a fresh process.
:func:`stop_all` ends every model process at once, so an app that quits never waits for a prompt
being read.
:class:`ChatModel` is the small interface the assistant needs, so prompt plumbing can be tested
with a hand-written fake while the real model is tested in integration tests.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from memlane.core.errors import ModelError
from memlane.core.launch import module_command

log = logging.getLogger(__name__)

Message = dict[str, str]

_children: set[subprocess.Popen[str]] = set()  # every model process started and not yet closed
_children_lock = threading.Lock()


def stop_all() -> int:
    """Kill every model process of this program (quitting); how many were running. A request
    in flight fails with a :class:`ModelError`, as when a process dies."""
    with _children_lock:
        running = [proc for proc in _children if proc.poll() is None]
    for proc in running:
        with suppress(OSError):
            proc.kill()
    return len(running)


@dataclass
class Usage:
    """What one answer cost; filled in when the stream ends."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish: str = ""
    load_ms: float = 0.0


class ChatModel(Protocol):
    """What the assistant needs from a model."""

    name: str

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0,
        stop: Sequence[str] = (), usage: Usage | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Iterator[str]: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


@dataclass
class ModelProcess:
    """One GGUF served by a child process; restarted on the next request after it dies."""

    path: Path
    name: str
    context_size: int = 4096
    threads: int = 0
    gpu_layers: int = 0
    flash_attention: bool = True
    log_path: Path | None = None
    load_timeout_s: float = 300.0
    nice: int = 0  # > 0: background work, yielding the CPU to an answer being written
    _proc: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    n_ctx: int = field(default=0, init=False)

    # -- process life ----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self) -> float:
        """Start the process if it is not running; return milliseconds spent loading."""
        if self._proc is not None and self._proc.poll() is None:
            return 0.0
        t0 = time.perf_counter()
        cmd = module_command(
            "memlane.models.worker", "--model", str(self.path),
            "--context-size", str(self.context_size), "--threads", str(self.threads),
            "--gpu-layers", str(self.gpu_layers),
            *(("--flash-attn",) if self.flash_attention else ()),
            *(("--nice", str(self.nice)) if self.nice > 0 else ()),
        )
        stderr: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            stderr = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                text=True, encoding="utf-8", bufsize=1,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as exc:
            raise ModelError(f"could not start the model process: {exc}") from exc
        finally:
            if not isinstance(stderr, int):
                stderr.close()
        with _children_lock:
            _children.add(self._proc)
        hello = self._read(timeout=self.load_timeout_s)
        if hello is None or "error" in hello:
            reason = hello["error"] if hello else self._death()
            self.close()
            raise ModelError(f"could not load the model {self.path}: {reason}")
        self.n_ctx = int(hello.get("n_ctx", self.context_size))
        if not hello.get("chat_template"):
            log.warning("%s has no chat template; llama.cpp falls back to a generic one", self.path)
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with suppress(OSError, ModelError):
            if proc.stdin:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        with _children_lock:
            _children.discard(proc)

    def kill(self) -> None:
        """Kill the process at once (tests use this to simulate a crash)."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)

    def __enter__(self) -> ModelProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0,
        stop: Sequence[str] = (), usage: Usage | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text as it is generated (JSON matching ``schema`` if given)."""
        with self._lock:
            load_ms = self.start()
            if usage is not None:
                usage.load_ms = load_ms
            self._write({"op": "chat", "messages": list(messages), "max_tokens": max_tokens,
                         "temperature": temperature, "stop": list(stop), "schema": schema})
            finished = False
            try:
                while True:
                    reply = self._read()
                    if reply is None:
                        reason = self._death()
                        self.close()
                        raise ModelError(
                            f"the model process stopped while answering ({reason}); "
                            "it will be started again for the next question"
                        )
                    if "error" in reply:
                        raise ModelError(f"the model failed: {reply['error']}")
                    if reply.get("done"):
                        finished = True
                        if usage is not None:
                            usage.prompt_tokens = int(reply.get("prompt_tokens", 0))
                            usage.completion_tokens = int(reply.get("completion_tokens", 0))
                            usage.finish = str(reply.get("finish", ""))
                        return
                    yield str(reply.get("t", ""))
            finally:
                if not finished and self.pid is not None:
                    # The caller stopped reading (or an error): cancel and drain to "done" so
                    # the next request starts on a clean pipe.
                    self._cancel_and_drain()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with self._lock:
            self.start()
            self._write({"op": "tokens", "texts": list(texts)})
            reply = self._read()
        if reply is None or "counts" not in reply:
            self.close()
            raise ModelError("the model process stopped while counting tokens")
        return [int(n) for n in reply["counts"]]

    # -- plumbing ----------------------------------------------------------------------------

    def _write(self, payload: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(payload, ensure_ascii=False) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            reason = self._death()
            self.close()
            raise ModelError(f"the model process is gone ({reason}); try again") from exc

    def _read(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next protocol line, or None when the process ended (or the load timed out)."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            return None
        if timeout is not None:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
        try:
            while True:
                line = proc.stdout.readline()
                if not line:
                    return None
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    log.debug("model process said: %s", line.rstrip())
                    continue
                if isinstance(value, dict):
                    return value
        finally:
            if timeout is not None:
                timer.cancel()

    def _cancel_and_drain(self) -> None:
        with suppress(OSError, ModelError):
            self._write({"op": "cancel"})
            while (reply := self._read()) is not None:
                if reply.get("done") or "error" in reply:
                    return
        self.close()

    def _death(self) -> str:
        proc = self._proc
        if proc is None:
            return "not running"
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "not responding"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

