"""Shared fixtures: gates over memory and real SQLite files, and tokens in
every state an outcome code needs."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict

import pytest

import gatepass

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"


def pytest_configure(config):
    config.addinivalue_line("markers", "no_skip_in_ci: under CI=true a skip of this test is a failure")
    config.addinivalue_line(
        "markers", "stops_postgres: stops and restarts the shared PostgreSQL server; run after every other test"
    )


def pytest_collection_modifyitems(config, items):
    """Under CI nothing may be skipped silently: a skip becomes a failure.
    Tests that stop the shared Postgres server run last, after everything
    that uses it (the suite runs in one process, never in parallel)."""
    if os.environ.get("CI") == "true":
        for item in items:
            item.add_marker(pytest.mark.no_skip_in_ci)
    items.sort(key=lambda item: item.get_closest_marker("stops_postgres") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run everything: {report.longrepr}"


@pytest.fixture
def gate() -> gatepass.Gate:
    return gatepass.Gate("memory://")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gatepass.db'}"


@pytest.fixture
def sqlite_gate(sqlite_url: str) -> gatepass.Gate:
    return gatepass.Gate(sqlite_url)


def foreign_token() -> str:
    """A well-formed token that no store of ours has ever seen."""
    return gatepass.Gate("memory://").issue("elsewhere").token


def tokens_for_every_outcome(gate: gatepass.Gate) -> Dict[str, str]:
    """An Authorization value (or None) that produces each outcome code when
    verified with ``scopes=["bots:read"], resource="channel:ch_1"``."""
    good = gate.issue("good", scopes=["bots:read"], resource="channel:ch_1")
    inactive = gate.issue("inactive", scopes=["bots:read"])
    gate.deactivate(inactive.key.id)
    revoked = gate.issue("revoked", scopes=["bots:read"])
    gate.revoke(revoked.key.id)
    expiring = gate.issue(
        "expired", scopes=["bots:read"], expires_at=datetime.now(timezone.utc) + timedelta(milliseconds=300)
    )
    other_resource = gate.issue("other", scopes=["bots:read"], resource="channel:ch_2")
    no_scope = gate.issue("noscope", scopes=["channels:read"])
    limited = gate.issue("limited", scopes=["bots:read"], rate_limit="1/hour")
    assert gate.verify(limited.token, scopes=["bots:read"]).ok
    credits = gate.issue("credits", scopes=["bots:read"], remaining=1, rate_limit="100/hour")
    assert gate.verify(credits.token, scopes=["bots:read"]).ok
    time.sleep(0.35)
    body = good.token.split("_", 1)[1]
    return {
        "valid": f"Bearer {good.token}",
        "missing_credentials": None,
        "invalid_request": f"Bearer {good.token} extra",
        "malformed_token": f"Bearer gp_{body[:-1]}{'A' if body[-1] != 'A' else 'B'}",
        "unknown_key": f"Bearer {foreign_token()}",
        "inactive": f"Bearer {inactive.token}",
        "revoked": f"Token {revoked.token}",
        "expired": f"Bearer {expiring.token}",
        "forbidden_resource": f"Bearer {other_resource.token}",
        "insufficient_scope": f"Bearer {no_scope.token}",
        "rate_limited": f"Bearer {limited.token}",
        "usage_exceeded": f"Bearer {credits.token}",
    }


EXPECTED_STATUS = {
    "valid": 200,
    "missing_credentials": 401,
    "invalid_request": 400,
    "malformed_token": 401,
    "unknown_key": 401,
    "inactive": 401,
    "revoked": 401,
    "expired": 401,
    "forbidden_resource": 403,
    "insufficient_scope": 403,
    "rate_limited": 429,
    "usage_exceeded": 429,
}


def load_vectors(name: str):
    path = VECTORS / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def check_response_for(code: str, status: int, headers, body: dict) -> None:
    """The HTTP answer for an outcome, the same in every framework."""
    assert status == EXPECTED_STATUS[code], (code, status, body)
    if code == "valid":
        return
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert "gp_" not in body.get("detail", "")
    www = headers.get("WWW-Authenticate")
    if code == "missing_credentials":
        assert www == 'Bearer realm="api", Token realm="api"'
    elif code == "invalid_request":
        assert 'error="invalid_request"' in www
    elif status == 401:
        assert 'error="invalid_token"' in www
    elif code == "insufficient_scope":
        assert www == 'Bearer realm="api", error="insufficient_scope", scope="bots:read"'
        assert body["missing_scopes"] == ["bots:read"]
    else:
        assert www is None
    if code == "rate_limited":
        assert int(headers["Retry-After"]) > 0
        assert headers["RateLimit-Policy"] == '"key";q=1;w=3600'
        assert headers["RateLimit"].startswith('"key";r=0;t=')
    if code == "usage_exceeded":
        assert "Retry-After" not in headers
        assert headers["RateLimit-Policy"] == '"key";q=100;w=3600'
    if code == "revoked":
        assert www.startswith("Token ")
