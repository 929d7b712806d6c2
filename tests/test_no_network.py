"""No network, ever: real Memlane processes traced with strace open no internet socket and look up
no host name (no DNS query, no read of /etc/resolv.conf), whatever their libraries would like."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ModelStore, chat_file, memlane_subprocess_env

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")

# An internet socket, a connection to one, the files a host-name lookup reads first, or a socket
# of any kind put to listening (nothing may wait for connections, not even a local one).
NETWORK = re.compile(r"socket\(AF_INET6?\b|connect\(\d+, \{sa_family=AF_INET6?\b|"
                     r"open(?:at)?\(.*\"/etc/(?:resolv\.conf|gai\.conf)\"|\blisten\(")


def traced(args: list[str], home: Path, tmp_path: Path, *, stdin: str = "",
           env: dict[str, str] | None = None, timeout: float = 300) -> list[str]:
    """Run ``memlane ARGS`` (and every child) under strace; return the network syscalls seen."""
    log = tmp_path / f"strace-{args[0]}.log"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=socket,connect,listen,open,openat", "-o", str(log),
         sys.executable, "-m", "memlane", *args],
        input=stdin, capture_output=True, text=True, timeout=timeout,
        env=env or memlane_subprocess_env(home),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [line for line in log.read_text().splitlines() if NETWORK.search(line)]


@pytest.fixture
def memory(tmp_path: Path, model_store: ModelStore) -> Path:
    home = tmp_path / "home"
    model_store.seed(home / "models", "small")
    chat = chat_file(tmp_path / "chat.jsonl", [
        ("2024-05-01T11:00:00", "Ana", "the ferry leaves at 18:40", "trip"),
        ("2024-05-01T11:01:00", "me", "see you at the pier", "trip"),
    ])
    subprocess.run([sys.executable, "-m", "memlane", "import-chat", str(chat)],
                   env=memlane_subprocess_env(home), check=True, capture_output=True)
    return home


@pytest.mark.slow
def test_search_shell_and_import_open_no_internet_socket(memory: Path, tmp_path: Path) -> None:
    assert traced(["search", "ferry"], memory, tmp_path) == []
    assert traced(["shell"], memory, tmp_path, stdin="when does the ferry leave\n\n") == []
    assert traced(["consolidate", "--no-model"], memory, tmp_path) == []


@pytest.mark.slow
def test_the_desktop_app_opens_no_internet_socket(memory: Path, tmp_path: Path) -> None:
    from memlane.memory.store import Store
    from memlane.ui.app import FIRST_RUN_KEY

    store = Store(memory / "memlane.db")
    store.set_state(FIRST_RUN_KEY, "1")  # the first-run explanation was seen
    store.close()
    env = {**memlane_subprocess_env(memory), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    seen = traced(["gui", "--no-record", "--quit-after", "4"], memory, tmp_path, env=env,
                  timeout=120)
    assert seen == []


@pytest.mark.slow
def test_the_mcp_server_answers_on_stdio_and_listens_nowhere(memory: Path, tmp_path: Path) -> None:
    log = tmp_path / "strace-mcp.log"
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=socket,connect,listen,open,openat", "-o", str(log),
         sys.executable, "-m", "memlane", "mcp"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=memlane_subprocess_env(memory))
    assert proc.stdin is not None and proc.stdout is not None

    def send(n: int | None, method: str, params: dict[str, object]) -> dict[str, object] | None:
        body: dict[str, object] = {"jsonrpc": "2.0", "method": method, "params": params}
        if n is not None:
            body["id"] = n
        proc.stdin.write(json.dumps(body) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        if n is None:
            return None
        reply: dict[str, object] = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert reply.get("id") == n, reply
        return reply

    try:
        send(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                               "clientInfo": {"name": "strace-test", "version": "1"}})
        send(None, "notifications/initialized", {})
        found = send(2, "tools/call", {"name": "search", "arguments": {"query": "ferry"}})
        day = send(3, "tools/call", {"name": "timeline", "arguments": {"day": "2024-05-01"}})
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert "18:40" in json.dumps(found) and "trip" in json.dumps(day)
    assert [line for line in log.read_text().splitlines() if NETWORK.search(line)] == []
    calls = (memory / "logs" / "mcp.jsonl").read_text()
    assert '"client": "strace-test", "tool": "search", "ok": true' in calls


@pytest.mark.model
def test_asking_the_local_model_opens_no_internet_socket(memory: Path, tmp_path: Path) -> None:
    assert traced(["ask", "When does the ferry leave?"], memory, tmp_path) == []


def test_the_tracer_sees_a_lookup(tmp_path: Path) -> None:
    """The check is real: a process that resolves a host name is caught."""
    log = tmp_path / "strace.log"
    subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=socket,connect,listen,open,openat", "-o", str(log),
         sys.executable, "-c",
         "import socket\ntry: socket.getaddrinfo('example.invalid', 80)\nexcept OSError: pass"],
        capture_output=True, timeout=60, env=dict(os.environ),
    )
    assert any(NETWORK.search(line) for line in log.read_text().splitlines())


def test_onnxruntime_sends_no_usage_events(tmp_path: Path) -> None:
    """onnxruntime 1.29+ uploads usage events to Microsoft on Linux some seconds after a model
    is loaded (seen under strace: a DNS lookup of mobile.events.data.microsoft.com) unless
    ORT_DISABLE_TELEMETRY is set when it starts; importing memlane sets it."""
    script = ("import sys, time\nimport memlane\nfrom memlane.models.embedder import OnnxEmbedder\n"
              "OnnxEmbedder().embed(['hello'])\ntime.sleep(12)\n")
    log = tmp_path / "strace-ort.log"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=socket,connect", "-o", str(log),
                    sys.executable, "-c", script], check=True, timeout=120)
    assert [line for line in log.read_text().splitlines() if NETWORK.search(line)] == []
