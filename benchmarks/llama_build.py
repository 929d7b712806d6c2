"""llama.cpp builds side by side: prompt processing and generation speed with the default model.

`make install` builds llama-cpp-python for the machine's own CPU (``GGML_NATIVE=ON``); the
package bundles a portable build (``GGML_NATIVE=OFF``, made by ``packaging/build.sh`` under
``build/llama-portable/<version>/site``). This runs the same measurement with each build in its
own process, alternating them ``--rounds`` times, and reports medians and the ratio: tokens per
second for evaluating a 400-token prompt (what delays an answer's first token) and for generating
20 tokens. Without a portable build (no ``make package`` yet, or ``--other``) only the installed
build is measured.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import table, write_result
from memlane.core.paths import Paths, resolve_home
from memlane.models.registry import resolve_model

ROOT = Path(__file__).resolve().parent.parent
PROBE = r"""
import json, sys, time
from llama_cpp import Llama
import llama_cpp
llm = Llama(sys.argv[1], n_ctx=1024, n_threads=2, n_threads_batch=2, verbose=False)
text = open(sys.argv[2]).read()
tokens = llm.tokenize(text.encode())[:400]
llm.eval(tokens[:32])  # warm up
llm.reset()
t = time.perf_counter(); llm.eval(tokens); prompt = time.perf_counter() - t
llm.reset(); llm.eval(tokens[:50])
t = time.perf_counter()
for _ in range(20):
    llm.eval([llm.sample()])
gen = time.perf_counter() - t
print(json.dumps({"prompt_tps": len(tokens) / prompt, "gen_tps": 20 / gen,
                  "where": llama_cpp.__file__}))
"""


def measure(model: Path, site: Path | None) -> dict[str, float]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}" if env.get(
            "PYTHONPATH") else str(site)
    out = subprocess.run([sys.executable, "-c", PROBE, str(model), str(ROOT / "README.md")],
                         env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    version = importlib.metadata.version("llama_cpp_python")
    parser.add_argument("--other", type=Path,
                        default=ROOT / "build" / "llama-portable" / version / "site",
                        help="site folder holding the other llama_cpp build")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = resolve_model("default", Paths(resolve_home()).models).path
    builds: dict[str, Path | None] = {"installed": None}
    if (args.other / "llama_cpp").is_dir():
        builds["portable"] = args.other
    else:
        print(f"no second build at {args.other} (made by `make package`): measuring the "
              "installed one only")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    for _ in range(args.rounds):
        for name, site in builds.items():
            runs[name].append(measure(model, site))
    summary = {}
    rows = []
    for name, results in runs.items():
        prompt = statistics.median(r["prompt_tps"] for r in results)
        gen = statistics.median(r["gen_tps"] for r in results)
        summary[name] = {"prompt_tokens_per_s": prompt, "generate_tokens_per_s": gen}
        rows.append([name, prompt, gen])
    print(table(["llama.cpp build", "prompt tok/s (median)", "generate tok/s (median)"], rows))
    if "portable" in summary:
        ratio = summary["installed"]["prompt_tokens_per_s"] / summary["portable"][
            "prompt_tokens_per_s"]
        summary["prompt_ratio_installed_to_portable"] = ratio
        print(f"installed / portable prompt speed: {ratio:.2f}x")
    write_result("llama_build", {"version": version, "rounds": args.rounds,
                                 "cmake_args": os.environ.get("CMAKE_ARGS", ""),
                                 "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
