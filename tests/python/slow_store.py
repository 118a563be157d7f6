"""The scenario the async-framework tests share: an ASGI app on
``postgres://`` served by uvicorn (one event loop), a request whose key must
be looked up waiting on a locked table, and a concurrent request with a
cached key that must still be answered."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import urllib.request
from typing import Any, Iterator, List, Optional

import gatepass


def get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.status


def psql_value(postgres: str, sql: str) -> str:
    return subprocess.run(
        ["psql", postgres, "-tAc", sql], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def assert_cached_request_not_delayed(postgres: str, gate: gatepass.Gate, url: str, cached: str, uncached: str) -> None:
    """While ``uncached``'s lookup waits on a locked table, ``cached`` is
    answered: the loop was not blocked by the waiting lookup."""
    assert get(url, cached) == 200  # now in this process's cache
    # The cache is trusted once the gate listens for changes (LISTEN),
    # whose start empties it: fill it again until memory answers.
    while gate.verify_in_memory(f"Bearer {cached}") is None:
        assert gate.verify(f"Bearer {cached}").ok
        time.sleep(0.05)

    locker: Optional[subprocess.Popen] = None
    slow: List[Any] = []
    try:
        # Another connection locks the key tables until told to commit.
        locker = subprocess.Popen(["psql", postgres, "-q"], stdin=subprocess.PIPE, text=True)
        assert locker.stdin is not None
        locker.stdin.write(
            "BEGIN; LOCK TABLE gatepass_keys, gatepass_secrets IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n"
        )
        locker.stdin.flush()
        held = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted"
        while psql_value(postgres, held) == "0":
            time.sleep(0.05)

        def slow_request() -> None:
            try:
                slow.append(get(url, uncached))
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                slow.append(e)

        waiting = threading.Thread(target=slow_request)
        waiting.start()
        # Until the lookup is actually waiting on the lock.
        while psql_value(postgres, "SELECT count(*) FROM pg_locks WHERE NOT granted") == "0":
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
