"""FastAPI never blocks its event loop on the store: with a FastAPI app on
``postgres://`` served by uvicorn (one event loop), a request whose key must
be looked up waits on a locked table while a concurrent request with a
cached key is answered."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from typing import Any, Dict, List, Optional

import pytest

import gatepass

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="GATEPASS_TEST_POSTGRES_URL is not set (scripts/services.sh)")


def get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.status


def psql_value(sql: str) -> str:
    assert POSTGRES is not None
    return subprocess.run(
        ["psql", POSTGRES, "-tAc", sql], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


@needs_postgres
def test_a_slow_store_does_not_delay_a_request_that_needs_none() -> None:
    from fastapi import FastAPI, Security

    from gatepass.fastapi import GatepassSecurity, install

    assert POSTGRES is not None and shutil.which("psql"), "psql is needed to lock the table"
    issuer = gatepass.Gate(POSTGRES)
    cached = issuer.issue("cached, answered from memory").token
    uncached = issuer.issue("looked up in the store").token
    issuer.close()

    gate = gatepass.Gate(POSTGRES)
    app = FastAPI()
    key = GatepassSecurity(gate)

    @app.get("/v1/me")
    async def me(k: Any = Security(key)) -> Dict[str, str]:
        return {"id": k.id}

    install(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/me"
    locker: Optional[subprocess.Popen] = None
    slow: List[Any] = []
    try:
        assert get(url, cached) == 200  # now in this process's cache
        # The cache is trusted once the gate listens for changes (LISTEN),
        # whose start empties it: fill it again until memory answers.
        while gate.verify_in_memory(f"Bearer {cached}") is None:
            assert gate.verify(f"Bearer {cached}").ok
            time.sleep(0.05)

        # Another connection locks the key tables until told to commit.
        locker = subprocess.Popen(["psql", POSTGRES, "-q"], stdin=subprocess.PIPE, text=True)
        assert locker.stdin is not None
        locker.stdin.write(
            "BEGIN; LOCK TABLE gatepass_keys, gatepass_secrets IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n"
        )
        locker.stdin.flush()
        while psql_value("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted") == "0":
            time.sleep(0.05)

        def slow_request() -> None:
            try:
                slow.append(get(url, uncached))
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                slow.append(e)

        waiting = threading.Thread(target=slow_request)
        waiting.start()
        # Until the lookup is actually waiting on the lock.
        while psql_value("SELECT count(*) FROM pg_locks WHERE NOT granted") == "0":
            time.sleep(0.05)

        # The cached key is answered while the lookup still waits.
        assert get(url, cached) == 200
        assert slow == [] and waiting.is_alive(), "the store lookup should still be waiting on the lock"

        locker.stdin.write("COMMIT;\n")
        locker.stdin.flush()
        waiting.join(60)
        assert slow == [200]
    finally:
        if locker is not None:
            if locker.stdin is not None:
                locker.stdin.close()
            locker.wait(30)
        server.should_exit = True
        thread.join(10)
        gate.close()
