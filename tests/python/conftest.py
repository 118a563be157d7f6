"""Shared fixtures: gates over memory and real SQLite files, and tokens in
every state an outcome code needs."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

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


# ----- store failures -------------------------------------------------------


def break_sqlite_store(db: Path) -> None:
    """Overwrites a SQLite store's files (database, WAL, shared memory) in
    place under an open gate: every later read of the store fails with
    ``store_unavailable`` ("file is not a database"), at once. In place, not
    truncated: the shared-memory file is mapped by SQLite."""
    for path in db.parent.glob(db.name + "*"):
        with open(path, "r+b") as f:
            f.write(b"not a database " * 4096)


@pytest.fixture
def broken_store(tmp_path: Path) -> Tuple[gatepass.Gate, str]:
    """A gate on a real SQLite file that then breaks, and the Authorization
    value of a key issued before it broke (never verified, so not cached)."""
    db = tmp_path / "broken.db"
    gate = gatepass.Gate(f"sqlite:///{db}")
    token = gate.issue("good", scopes=["bots:read", "channels:read"], resource="channel:ch_1").token
    break_sqlite_store(db)
    return gate, f"Bearer {token}"


def check_store_failure(status: int, headers, body: dict, code: str = "store_unavailable") -> None:
    """The HTTP answer for a store failure, the same in every framework: 503,
    an RFC 9457 body with the code, and ``Retry-After``."""
    assert status == 503, (status, body)
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Retry-After"] == "1"
    assert body == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": body["detail"],
        "code": code,
    }
    assert body["detail"] and "gp_" not in body["detail"] and "whsec_" not in body["detail"]
    # A generic detail, the core's for the code: the backend's own text
    # ("file is not a database", a host name) goes to the log, not the client.
    assert body["detail"] == gatepass._native.render_error(code, "backend text")[2]["detail"]
    assert "database" not in body["detail"] and "redis" not in body["detail"].lower()


@pytest.fixture
def failing_redis_url() -> Iterator[str]:
    """A ``redis://`` URL for a webhook replay guard whose server answers the
    connection handshake (``CLIENT SETINFO``, ``PING``) and then drops the
    connection on the first real command: the guard is built, and every
    ``verify`` of a correctly signed delivery fails with ``replay_guard_failed``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    conns: List[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                replies = b""
                for command in _resp_command_names(data):
                    if command == b"PING":
                        replies += b"+PONG\r\n"
                    elif command in (b"CLIENT", b"HELLO", b"SELECT", b"AUTH"):
                        replies += b"+OK\r\n"
                    else:
                        return  # close: the guard's SET fails with an I/O error
                conn.sendall(replies)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/"
    try:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
    except OSError:
        pass
    server.close()
    for conn in conns:
        try:
            conn.close()
        except OSError:
            pass


def _resp_command_names(data: bytes) -> List[bytes]:
    """The command names in a buffer of pipelined RESP arrays."""
    lines = data.split(b"\r\n")
    names, i = [], 0
    while i < len(lines) and lines[i].startswith(b"*"):
        count = int(lines[i][1:])
        names.append(lines[i + 2].upper())
        i += 1 + 2 * count
    return names
