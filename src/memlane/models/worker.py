"""The model process: loads one GGUF with llama-cpp-python and serves requests over stdin/stdout.

Run by :class:`memlane.models.runtime.ModelProcess`, never imported by the engine, so a crash or
out-of-memory inside llama.cpp ends this process only. It speaks one JSON object per line: after
loading it writes ``{"ready": true, ...}`` (or ``{"error": ...}`` and exits); a ``chat`` request,
optionally constrained by a JSON schema through llama.cpp's grammar, is answered by
``{"t": text}`` lines and a final ``{"done": true, ...}`` with token counts; ``tokens`` counts
the tokens of texts, and ``cancel`` ends the running answer early. The chat template is the
GGUF's own.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
from typing import Any, TextIO


def _send(out: TextIO, payload: dict[str, Any]) -> None:
    out.write(json.dumps(payload, ensure_ascii=False) + "\n")
    out.flush()


def _reader(inbox: queue.Queue[dict[str, Any] | None]) -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            inbox.put(json.loads(line))
        except json.JSONDecodeError:
            inbox.put({"op": "invalid", "line": line[:200]})
    inbox.put(None)  # parent closed the pipe: exit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memlane-model-worker")
    parser.add_argument("--model", required=True)
    parser.add_argument("--context-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flash-attn", action="store_true")
    parser.add_argument("--nice", type=int, default=0,
                        help="Lower this process's CPU priority first (background work).")
    args = parser.parse_args(argv)
    if args.nice > 0:  # before llama.cpp starts its threads: they inherit it
        os.nice(args.nice)
    # llama.cpp writes its own logs on stderr, which the parent sends to a log file; the protocol
    # owns stdout, so keep a private handle on it and point sys.stdout at stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        from llama_cpp import Llama

        # llama-cpp-python's default is half the cores for generation; on a 2-core laptop that
        # leaves one idle, so 0 here means all of them.
        threads = args.threads or os.cpu_count() or 1

        def load(flash_attn: bool) -> Any:
            return Llama(
                model_path=args.model,
                n_ctx=args.context_size,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=args.gpu_layers,
                flash_attn=flash_attn,
                seed=args.seed,
                verbose=False,
            )

        try:
            llm = load(args.flash_attn)
        except Exception:
            if not args.flash_attn:
                raise
            print("memlane: loading with flash attention failed; loading without it",
                  file=sys.stderr)  # stderr is the model log
            llm = load(False)
    except Exception as exc:  # a corrupt or unsupported file, or not enough memory
        _send(out, {"error": f"{type(exc).__name__}: {exc}"})
        return 2
    template = bool(llm.metadata.get("tokenizer.chat_template"))
    _send(out, {"ready": True, "n_ctx": llm.n_ctx(), "chat_template": template,
                "name": llm.metadata.get("general.name", "")})
    inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=_reader, args=(inbox,), daemon=True).start()
    while (request := inbox.get()) is not None:
        op = request.get("op")
        try:
            if op == "chat":
                _chat(llm, request, inbox, out)
            elif op == "tokens":
                counts = [len(llm.tokenize(t.encode("utf-8"), add_bos=False, special=False))
                          for t in request.get("texts", [])]
                _send(out, {"counts": counts})
            elif op == "cancel":
                continue  # nothing running
            else:
                _send(out, {"error": f"unknown request {op!r}"})
        except Exception as exc:  # report and keep serving; the parent decides what to do
            _send(out, {"error": f"{type(exc).__name__}: {exc}"})
    return 0


def _chat(
    llm: Any, request: dict[str, Any], inbox: queue.Queue[dict[str, Any] | None], out: TextIO
) -> None:
    schema = request.get("schema")
    stream = llm.create_chat_completion(
        messages=request["messages"],
        response_format={"type": "json_object", "schema": schema} if schema else None,
        max_tokens=int(request.get("max_tokens", 256)),
        temperature=float(request.get("temperature", 0.0)),
        stop=request.get("stop") or None,
        stream=True,
    )
    completion = 0
    finish = "stop"
    for chunk in stream:
        choice = chunk["choices"][0]
        text = choice.get("delta", {}).get("content") or ""
        if text:
            completion += 1
            _send(out, {"t": text})
        if choice.get("finish_reason"):
            finish = choice["finish_reason"]
        if _cancelled(inbox):
            finish = "cancelled"
            break
    prompt = len(llm.tokenize(_render(llm, request["messages"]).encode("utf-8"), special=True))
    _send(out, {"done": True, "prompt_tokens": prompt, "completion_tokens": completion,
                "finish": finish})


def _cancelled(inbox: queue.Queue[dict[str, Any] | None]) -> bool:
    try:
        item = inbox.get_nowait()
    except queue.Empty:
        return False
    if item is not None and item.get("op") == "cancel":
        return True
    inbox.put(item)  # not ours to handle now; keep it for the main loop
    return False


def _render(llm: Any, messages: list[dict[str, str]]) -> str:
    # Only used to count prompt tokens for reporting; an approximation is fine if rendering fails.
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
            bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore")
            fmt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            return str(fmt(messages=messages).prompt)  # type: ignore[arg-type]
    except Exception:
        pass
    return "\n".join(m.get("content", "") for m in messages)


if __name__ == "__main__":
    sys.exit(main())
