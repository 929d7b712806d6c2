"""What ``memlane mcp`` adds to a call: MCP search and timeline against the engine call itself.

Builds a synthetic home of ``--records`` chat messages over a year (the builder of
``search_latency.py``: real store, FTS5 and Chroma, pool vectors plus noise), then, on the same
home and the same queries, interleaved: ``engine.search`` in this process against the ``search``
tool through the official SDK's stdio client and a real ``memlane mcp`` process; and the day view
(``services.views.timeline``) against the ``timeline`` tool. Both sides are warmed first. Reported:
p50/p95 of each, and the p50/p95 of the per-call difference (MCP minus engine).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from _common import percentile, table, write_result
from memlane.core.paths import Paths
from memlane.models.embedder import OnnxEmbedder
from memlane.services.engine import Engine
from memlane.services.views import timeline
from search_latency import START, YEAR, Texts, build


def ms(values: list[float]) -> tuple[float, float]:
    return percentile(values, 50) * 1000, percentile(values, 95) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="build the home here and re-use it next time")
    args = parser.parse_args()
    embedder = OnnxEmbedder()
    scratch = Path(tempfile.mkdtemp(prefix="memlane-mcp-bench-"))
    home = (args.keep or scratch) / f"zipf-{args.records}"
    try:
        if not (home / "built").exists():
            shutil.rmtree(home, ignore_errors=True)
            print(f"building {args.records} records ...", file=sys.stderr, flush=True)
            pool = embedder.embed(Texts("zipf", 0).batch(1000)).astype(np.float64)
            build(home, args.records, "zipf", embedder, pool)
            (home / "built").write_text("1")
        result = measure(home, args, embedder)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    rows = [[name, f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}"] for name, v in result.items()
            if isinstance(v, dict)]
    print(table(["call", "p50 ms", "p95 ms"], rows))
    write_result("mcp_latency", result)
    return 0


def measure(home: Path, args: argparse.Namespace, embedder: OnnxEmbedder) -> dict[str, Any]:
    rng = random.Random(7)
    engine = Engine(Paths(home), embedder=embedder)
    sample = [r[0] for r in engine.store.sql(
        "SELECT text FROM messages WHERE id % 97 = 0 LIMIT 2000")]
    queries = [" ".join(rng.sample(t.split(), min(3, len(t.split())))) for t in
               rng.sample(sample, args.calls)]
    first = date.fromtimestamp(START)
    days = [first + timedelta(days=rng.randrange(int(YEAR // 86400))) for _ in range(args.calls)]
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "memlane", "--home", str(home), "mcp"])
    out: dict[str, list[float]] = {k: [] for k in
                                   ("engine_search", "mcp_search", "engine_timeline",
                                    "mcp_timeline")}

    async def run() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            for q in queries[:3]:  # warm both sides: model sessions, page cache, Chroma
                engine.search(q)
                await client.call_tool("search", {"query": q})
            for i, (q, day) in enumerate(zip(queries, days, strict=True)):
                order = (0, 1) if i % 2 == 0 else (1, 0)
                for side in order:
                    t = time.perf_counter()
                    if side == 0:
                        engine.search(q)
                        out["engine_search"].append(time.perf_counter() - t)
                    else:
                        r = await client.call_tool("search", {"query": q})
                        assert not r.is_error, r.content
                        out["mcp_search"].append(time.perf_counter() - t)
                for side in order:
                    t = time.perf_counter()
                    if side == 0:
                        json.dumps(timeline(engine.store, day, day))
                        out["engine_timeline"].append(time.perf_counter() - t)
                    else:
                        r = await client.call_tool("timeline", {"day": day.isoformat()})
                        assert not r.is_error, r.content
                        out["mcp_timeline"].append(time.perf_counter() - t)

    anyio.run(run)
    engine.close()
    result: dict[str, Any] = {"records": args.records, "calls": args.calls}
    for name, values in out.items():
        p50, p95 = ms(values)
        result[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
    for what in ("search", "timeline"):
        diff = [m - e for m, e in zip(out[f"mcp_{what}"], out[f"engine_{what}"], strict=True)]
        p50, p95 = ms(diff)
        result[f"added_by_mcp_{what}"] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
    return result


if __name__ == "__main__":
    sys.exit(main())
