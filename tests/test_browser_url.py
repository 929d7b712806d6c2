"""The focused browser tab's address: read from a real Firefox over AT-SPI, stored with the frame,
searchable and filterable by site, and excluded by ``[privacy] exclude_urls``."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memlane.capture.browser import is_browser
from memlane.capture.privacy import ExclusionRules, url_rule
from memlane.capture.windows import WindowInfo
from memlane.core.urls import host_of, on_site, split_site
from memlane.memory.records import FrameIn
from memlane.services.engine import Engine
from samples import FIREFOX, browser_pages, firefox
from xserver import XServer, have_x


def test_sites_and_address_rules() -> None:
    assert host_of("https://Mail.Example.org:8443/inbox") == "mail.example.org"
    assert on_site("https://mail.example.org/x", "example.org")
    assert not on_site("https://notexample.org/", "example.org")
    assert split_site("rust async site:github.com") == ("github.com", "rust async")
    rules = ["bank.example", "*://*/checkout*"]
    assert url_rule("https://www.bank.example/login", rules) == "bank.example"
    assert url_rule("https://shop.test/checkout/pay", rules) == "*://*/checkout*"
    assert url_rule("https://news.test/", rules) is None
    tab = WindowInfo(1, "Login — Mozilla Firefox", "firefox", url="https://bank.example/")
    assert ExclusionRules(urls=rules).why(tab) == "address matches 'bank.example'"
    assert is_browser(tab) and not is_browser(WindowInfo(2, "Notes", "gedit"))


def _frame(t: float, app: str, title: str, url: str) -> FrameIn:
    return FrameIn(time=t, app=app, title=title, image_path="", thumb_path="", width=1, height=1,
                   bytes=0, change_hash=f"{t}", content_sha256=None, url=url)


def test_search_by_site_and_by_address_words(engine: Engine) -> None:
    now = time.time()
    engine.store.add_frame(_frame(now - 60, "firefox", "Issues", "https://github.com/org/repo"))
    engine.store.add_frame(_frame(now - 30, "firefox", "Docs", "https://docs.python.org/3/"))
    engine.store.add_frame(_frame(now - 10, "gedit", "Notes on github", ""))
    only_site = engine.search("", site="github.com")
    assert [h.title for h in only_site.hits] == ["Issues"]
    assert [h.title for h in engine.search("site:python.org").hits] == ["Docs"]
    words = engine.search("github site:github.com")
    assert [h.title for h in words.hits] == ["Issues"]  # not the gedit window about github
    assert "Docs" in [h.title for h in engine.search("docs.python.org").hits]  # the address is text


# -- a real browser ---------------------------------------------------------------------------



@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[tuple[XServer, dict[str, str]]]:
    """An X display with its own session bus (AT-SPI's bus is started from it)."""
    xs = XServer()
    bus = tmp_path / "bus"
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                               f"--address=unix:path={bus}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if bus.exists():
                break
            time.sleep(0.05)
        env = {**xs.env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}"}
        yield xs, env
    finally:
        daemon.kill()
        daemon.wait()
        xs.stop()
        subprocess.run(["pkill", "-f", f"{tmp_path}/profile"], check=False)


def _frames(home: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(home / "memlane.db") as db:
        return list(db.execute("SELECT app, title, url FROM frames"))


@pytest.mark.slow
@pytest.mark.x11
@pytest.mark.skipif(not (have_x() and FIREFOX and shutil.which("dbus-daemon")),
                    reason="needs Xvfb, openbox, dbus-daemon and Firefox")
def test_firefox_tab_address_is_stored_found_and_excluded(
    desktop: tuple[XServer, dict[str, str]], tmp_path: Path,
) -> None:
    _xs, env = desktop
    page, secret = browser_pages(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.toml").write_text('[privacy]\nexclude_urls = ["*secret-ledger*"]\n')
    menv = {**env, "MEMLANE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    browser = firefox(env, tmp_path, page)
    try:
        deadline = time.monotonic() + 60
        while not any(url for _, _, url in (_frames(home) if (home / "memlane.db").exists()
                                            else [])):
            assert time.monotonic() < deadline, "no frame with the tab's address was stored"
            subprocess.run([sys.executable, "-m", "memlane", "capture", "--once"], env=menv,
                           capture_output=True, timeout=120)
            time.sleep(1)
        stored = [f for f in _frames(home) if f[2]]
        assert stored[-1][2] == page.as_uri() and "Tide notes" in stored[-1][1]
        found = json.loads(subprocess.run(
            [sys.executable, "-m", "memlane", "search", "tide-notes", "--json"], env=menv,
            capture_output=True, text=True, timeout=120).stdout)
        assert found and found[0]["title"].startswith("Tide notes")
        # the same browser on an excluded address: nothing stored, and the reason says why
        before = len(_frames(home))
        browser.terminate()
        browser.wait(30)
        browser = firefox(env, tmp_path, secret)
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run([sys.executable, "-m", "memlane", "capture", "--once"],
                                  env=menv, capture_output=True, text=True, timeout=120)
            if "address matches" in done.stderr:
                break
            assert time.monotonic() < deadline, done.stderr
            time.sleep(1)
        assert all("Ledger" not in title for _, title, _ in _frames(home)[before:])
    finally:
        browser.kill()
        browser.wait(30)
    assert os.path.exists(home / "memlane.db")
