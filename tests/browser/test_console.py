"""The page as `gatepass console` serves it: operator mode on 127.0.0.1,
logged in with the one-time URL, over a real SQLite file that a separate
process guards a route with."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest
from playwright.sync_api import Browser, BrowserContext

from conftest import Process, record_measurement
from scenario import Target, Watch, ready, run_lifecycle

# The Python the test scripts installed the release wheel into: its
# `gatepass` is the command users run (the Rust CLI behind the package's
# console script), and its gatepass module issues the keys and runs the app
# whose requests the page follows.
PYTHON = os.environ.get("GATEPASS_BROWSER_PYTHON", "")
APPS = Path(__file__).resolve().parent / "apps"


def python() -> str:
    if not PYTHON:
        pytest.skip("GATEPASS_BROWSER_PYTHON (a Python with gatepass and the frameworks) is not set")
    return PYTHON


def gatepass_command() -> str:
    cli = Path(python()).parent / "gatepass"
    if not cli.exists():
        pytest.skip(f"no gatepass command beside {PYTHON}")
    return str(cli)


ISSUE = """
import sys, gatepass
store, name, owner, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
gate = gatepass.Gate(store)
for i in range(count):
    print(gate.issue(name if count == 1 else f"{name} {i}", subject=owner).token)
gate.flush()
"""


def issue(store: str, name: str, owner: str, count: int = 1) -> List[str]:
    out = subprocess.run(
        [python(), "-c", ISSUE, store, name, owner, str(count)], check=True, capture_output=True, text=True
    )
    return out.stdout.split()


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keys.db'}"


def serve_console(store: str) -> tuple:
    """`gatepass console` as a user starts it, on a free port; its --json line
    is the one-time login URL."""
    proc = Process([gatepass_command(), "--store", store, "--json", "console", "--port", "0"], ready='"url"')
    return proc, json.loads(proc.line)["url"]


@pytest.fixture
def console(store: str) -> Iterator[str]:
    proc, url = serve_console(store)
    yield url
    proc.stop()


@pytest.fixture
def protected(store: str) -> Iterator[str]:
    """A Flask app on the same store guarding GET /protected with
    gatepass's decorator: the app whose requests the page's usage and
    statuses follow."""
    proc = Process([python(), str(APPS / "python_app.py"), "flask", store], cwd=APPS)
    yield f"{proc.line}/protected"
    proc.stop()


def test_console_lifecycle(browser: Browser, shots_root: Path, store: str, console: str, protected: str) -> None:
    issue(store, "bob's key", "bob")
    login_url = console

    def login(context: BrowserContext) -> None:
        page = context.new_page()
        page.goto(login_url)
        # Redirected home, the token out of the address bar, an HttpOnly cookie.
        assert "token=" not in page.url
        cookies = context.cookies()
        assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
        page.close()

    base = login_url.split("?", 1)[0]
    run_lifecycle(
        Target(
            name="console",
            page_url=base,
            protected_url=protected,
            operator=True,
            login=login,
            other_owner_key=("bob's key", "bob"),
        ),
        browser,
        shots_root,
    )


def test_console_login_url_is_spent(browser: Browser, console: str) -> None:
    first = browser.new_context()
    page = first.new_page()
    page.goto(console)
    ready(page)
    # The same URL in another browser (a copy in a log, a shell history) opens nothing.
    second = browser.new_context()
    other = second.new_page()
    response = other.goto(console)
    assert response is not None and response.status == 401
    assert other.locator("main").count() == 0
    first.close()
    second.close()


def test_first_render_with_100_keys(browser: Browser, store: str, shots_root: Path) -> None:
    """Measured and recorded, not asserted: time from navigation to the
    first 100 cards, and the bytes the page ships."""
    issue(store, "load", "owner-1", 100)
    proc, url = serve_console(store)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = Watch()
        watch.attach(page)
        page.goto(url)
        ready(page)
        assert page.locator(".card").count() == 100
        page.wait_for_function("performance.getEntriesByName('gatepass:first-render').length > 0")
        timings = page.evaluate(
            """() => {
              const mark = performance.getEntriesByName('gatepass:first-render')[0];
              const nav = performance.getEntriesByType('navigation')[0];
              const files = performance.getEntriesByType('resource')
                .filter(r => /\\/page\\/app\\.(js|css)$/.test(r.name));
              const api = performance.getEntriesByType('resource')
                .filter(r => /\\/(keys|meta)(\\?|$)/.test(r.name));
              return {
                first_render_ms: Math.round(mark.startTime),
                dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
                page_bytes: nav.decodedBodySize + files.reduce((n, r) => n + r.decodedBodySize, 0),
                api_bytes: api.reduce((n, r) => n + r.decodedBodySize, 0),
                files: files.length + 1,
              };
            }"""
        )
        page.screenshot(path=str(shots_root / "console-100-keys.png"))
        record_measurement("console_100_keys", timings)
        assert watch.errors == [], watch.errors
        context.close()
    finally:
        proc.stop()
