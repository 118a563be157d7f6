"""Fixtures for the browser tests: Debian's Chromium driven by Playwright,
a folder of screenshots named by the run, and helpers to start the servers
under test as real processes.

Playwright's own browser download is not used: the tests launch the system
Chromium by its path (GATEPASS_CHROMIUM, default /usr/bin/chromium)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List

import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GATEPASS_CHROMIUM", "/usr/bin/chromium")
RUN = os.environ.get("GATEPASS_BROWSER_RUN") or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
SHOTS = ROOT / "target" / "browser-shots" / RUN


def pytest_configure(config):
    config.addinivalue_line("markers", "no_skip_in_ci: under CI=true a skip of this test is a failure")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run everything: {report.longrepr}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shots_root() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def record_measurement(name: str, values: dict) -> None:
    """Appends to the run's measurements.json (measured, never asserted)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / "measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = values
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"measured {name}: {values}")


class Process:
    """A server under test: started, its first stdout line read (its URL),
    stopped at the end."""

    def __init__(self, args: List[str], env: dict | None = None, cwd: Path | None = None, ready: str = "http"):
        self.args = args
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        self.line = self._read_line(ready)
        # Some servers print their address just before they listen.
        host_port = self.line.split("//", 1)[-1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        wait_until(lambda: _accepts(host, int(port)), f"{self.line} to accept connections")

    def _read_line(self, ready: str) -> str:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"{self.args[0]} exited before it was ready: {err}")
            if ready in line:
                return line.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(condition, what: str, attempts: int = 60, pause: float = 0.25):
    """Polls `condition` until it returns something truthy. Not a timing
    assertion: the bound only keeps a broken run from hanging."""
    for _ in range(attempts):
        value = condition()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"gave up waiting for {what}")
