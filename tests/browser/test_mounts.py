"""The page under each framework mount, in a host app with its own login
and a route its tokens guard: Flask, Django, FastAPI (Python, from
GATEPASS_BROWSER_PYTHON's environment, which has gatepass installed) and
Express (node, from the repository's built addon)."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, List

import pytest
from playwright.sync_api import Browser, BrowserContext

from conftest import ROOT, Process
from scenario import Target, run_lifecycle
from test_console import issue

APPS = Path(__file__).resolve().parent / "apps"
PYTHON = os.environ.get("GATEPASS_BROWSER_PYTHON", "")
NODE = os.environ.get("GATEPASS_BROWSER_NODE") or shutil.which("node") or ""


def command(framework: str, store: str) -> List[str]:
    if framework == "express":
        addon = list((ROOT / "bindings-node").glob("*.node"))
        if not NODE or not addon or not (ROOT / "node_modules" / "express").exists():
            pytest.skip("the Node addon or express is not built/installed (npm ci && npm run build)")
        return [NODE, str(APPS / "express_app.js"), store]
    if not PYTHON:
        pytest.skip("GATEPASS_BROWSER_PYTHON (a Python with gatepass and the frameworks) is not set")
    return [PYTHON, str(APPS / "python_app.py"), framework, store]


@pytest.fixture(params=["flask", "django", "fastapi", "express"])
def app(request, tmp_path: Path) -> Iterator[tuple]:
    framework = request.param
    store = f"sqlite:///{tmp_path / 'keys.db'}"
    args = command(framework, store)
    # Another owner's key, there before the page is opened.
    issue(store, "bob's key", "bob")
    proc = Process(args, cwd=APPS)
    yield framework, proc.line
    proc.stop()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_mount_lifecycle(browser: Browser, shots_root: Path, app: tuple) -> None:
    framework, base = app
    # Not logged in: the page and the API are a 401, not a page of keys.
    assert status_of(f"{base}/tokens/") == 401
    assert status_of(f"{base}/tokens/keys") == 401

    def login(context: BrowserContext) -> None:
        page = context.new_page()
        page.goto(f"{base}/login?user=alice")
        # The mount without its slash lands on the page (relative URLs need it).
        page.goto(f"{base}/tokens")
        assert page.url == f"{base}/tokens/", page.url
        page.close()

    run_lifecycle(
        Target(
            name=framework,
            page_url=f"{base}/tokens/",
            protected_url=f"{base}/protected",
            operator=False,
            login=login,
            other_owner_key=("bob's key", "bob"),
        ),
        browser,
        shots_root,
    )
