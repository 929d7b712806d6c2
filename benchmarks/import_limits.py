"""Imports at their limits, and the first search after a killed import.

Generates (never downloads) a ChatGPT export of about 50 MB and a JSON Lines file of 100,000
messages, imports each with `memlane import-chat` in a fresh home and reports wall time and the
peak RSS of the importing process (its own, and of parsing + storing alone). Then it kills an import
of the 100k file once its rows are stored, before their vectors are written, and times the first
search in a new process over that backlog (opening the engine, and the search call itself).

    python benchmarks/import_limits.py [--messages 100000] [--mb 50] [--skip-embed]

Targets (reliability issue): peak RSS <= 500 MB for any import; first search <= 1 s with any
backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import table, write_result

PEAK = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
STORE_ONLY = """
import resource, sys, time
from pathlib import Path
from memlane.memory.chat_import import parse_chat_file
from memlane.memory.store import Store
t0 = time.perf_counter()
convs = parse_chat_file(Path(sys.argv[1]))
store = Store(Path(sys.argv[2]) / "memlane.db")
store.import_conversations(convs)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
FIRST_SEARCH = """
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from memlane.core.paths import Paths
from memlane.services.engine import Engine
engine = Engine(Paths(Path(sys.argv[1])))
engine.embedder.embed(["warm up"])
t1 = time.perf_counter()
result = engine.search("Biscuit at the Lisbon ferry")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, result.pending, len(result.hits))
"""


def words(rng: random.Random, n: int) -> str:
    vocab = ("Biscuit walked to the Lisbon ferry with Ana and we talked about the garden, the "
             "budget, a flight, dinner plans, books, the dentist on Friday and a long week").split()
    return " ".join(rng.choice(vocab) for _ in range(n))


def chatgpt_export(path: Path, megabytes: int) -> int:
    """A ChatGPT ``conversations.json`` of about ``megabytes`` MB; returns its message count."""
    rng = random.Random(1)
    convs, size, count = [], 0, 0
    while size < megabytes * 1_000_000:
        mapping, parent = {}, None
        for i in range(40):
            node = f"n{len(convs)}-{i}"
            text = words(rng, rng.randint(20, 400))
            mapping[node] = {"id": node, "parent": parent, "message": {
                "id": node, "author": {"role": "user" if i % 2 == 0 else "assistant"},
                "create_time": 1_700_000_000 + len(convs) * 3600 + i * 30,
                "content": {"content_type": "text", "parts": [text]}}}
            parent = node
            size += len(text) + 200
            count += 1
        convs.append({"title": f"conversation {len(convs)}", "create_time": 1_700_000_000,
                      "mapping": mapping, "current_node": parent})
    path.write_text(json.dumps(convs))
    return count


def jsonl_file(path: Path, messages: int) -> None:
    rng = random.Random(2)
    with path.open("w") as fh:
        for i in range(messages):
            fh.write(json.dumps({"time": 1_700_000_000 + i * 20, "speaker": rng.choice(["Ana", "me"]),
                                 "text": words(rng, rng.randint(5, 30)),
                                 "conversation": f"chat {i // 500}"}) + "\n")


def memlane(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "memlane", "--home", str(home), *args]


def measured_import(home: Path, path: Path) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, *memlane(home, "import-chat", str(path))],
                         capture_output=True, text=True, check=True).stdout.splitlines()[-1].split()
    return time.perf_counter() - t0, int(out[1]) / 1024, int(out[0])


def store_only(path: Path, home: Path) -> tuple[float, float]:
    home.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", STORE_ONLY, str(path), str(home)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def killed_import(home: Path, path: Path, total: int) -> int:
    """Start an import, SIGKILL it once every row is stored; return how many await vectors."""
    proc = subprocess.Popen(memlane(home, "import-chat", str(path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = home / "memlane.db"
    while proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                conn = sqlite3.connect(db, timeout=1)
                stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                continue
            if stored >= total:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    conn = sqlite3.connect(db)
    waiting = conn.execute("SELECT count(*) FROM messages WHERE vec IS NULL").fetchone()[0]
    conn.close()
    return int(waiting)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--skip-embed", action="store_true",
                    help="measure parsing + storing only (no whole `memlane import-chat`)")
    args = ap.parse_args()
    rows: list[list[object]] = []
    result: dict[str, object] = {"messages": args.messages, "mb": args.mb}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        big = tmp / "conversations.json"
        n_big = chatgpt_export(big, args.mb)
        many = tmp / "many.jsonl"
        jsonl_file(many, args.messages)
        for label, path, count in ((f"ChatGPT {big.stat().st_size / 1e6:.0f} MB", big, n_big),
                                   (f"JSON Lines {args.messages} messages", many, args.messages)):
            seconds, rss = store_only(path, tmp / f"store-{path.stem}")
            rows.append([f"{label}: parse + store", count, seconds, count / seconds, rss])
            result[f"{path.stem}_store"] = {"messages": count, "seconds": seconds, "peak_mb": rss}
            if not args.skip_embed:
                seconds, rss, rc = measured_import(tmp / f"home-{path.stem}", path)
                rows.append([f"{label}: memlane import-chat (rc {rc})", count, seconds,
                             count / seconds, rss])
                result[f"{path.stem}_import"] = {"messages": count, "seconds": seconds,
                                                 "peak_mb": rss, "exit_code": rc}
        home = tmp / "killed"
        waiting = killed_import(home, many, args.messages)
        opens, searches = [], []
        for _ in range(3):
            proc = subprocess.run([sys.executable, "-c", FIRST_SEARCH, str(home)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"first search failed:\n{proc.stderr[-3000:]}")
            out = proc.stdout.split()
            opens.append(float(out[0]))
            searches.append(float(out[1]))
            pending, hits = int(out[2]), int(out[3])
        opens.sort()
        searches.sort()
        rows.append([f"first search, {waiting} records awaiting vectors (median of 3; "
                     f"{pending} still pending after, {hits} hits)", "", searches[1], "", ""])
        result["first_search_after_killed_import"] = {
            "awaiting_vectors": waiting, "search_s": searches, "open_engine_s": opens,
            "pending_after": pending, "hits": hits}
    print(table(["what", "messages", "seconds", "messages/s", "peak RSS MB"], rows))
    print("results:", write_result("import_limits", result))


if __name__ == "__main__":
    main()
