"""One worker process of the multi-process tests (test_processes.py and
scripts/test-cross.sh): a Gate on the shared Postgres store with the shared
Redis rate limiter, driven by JSON lines on stdin. Every command gets one
reply line ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``; ``watch``
sends one extra ``{"ok": true, "watching": true}`` first.

Not a test module (pytest collects only test_*.py)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, Optional

import gatepass

gate: Optional[gatepass.Gate] = None


def reply(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def outcome(token: str) -> str:
    """The verify code, or ``error:<code>`` when the store failed."""
    assert gate is not None
    try:
        return gate.verify(f"Bearer {token}").code
    except gatepass.GatepassError as e:
        return f"error:{e.code}"


def cmd_open(store: str, rate_limiter: Optional[str] = None) -> Dict[str, Any]:
    global gate
    gate = gatepass.Gate(store, rate_limiter=rate_limiter)
    return {}


def cmd_issue(name: str, rate_limit: Optional[str] = None) -> Dict[str, Any]:
    assert gate is not None
    issued = gate.issue(name, rate_limit=rate_limit)
    return {"token": issued.token, "id": issued.key.id}


def cmd_revoke(id: str) -> Dict[str, Any]:
    """Revokes, reporting when the call started (wall clock, ms)."""
    assert gate is not None
    started = time.time() * 1000
    gate.revoke(id)
    return {"started": started}


def cmd_get(id: str) -> Dict[str, Any]:
    assert gate is not None
    key = gate.get(id)
    return {"usage_count": key.usage_count, "status": key.status}


def cmd_watch(token: str, timeout: float = 10.0) -> Dict[str, Any]:
    """Verifies once (must be valid), says so, then keeps verifying about once
    a millisecond until the token is rejected: a busy server, not a busy loop
    that would starve the store's notification thread on a small machine."""
    first = outcome(token)
    if first != "valid":
        raise RuntimeError(f"the token was not valid before the revoke: {first}")
    reply(ok=True, watching=True)
    deadline = time.monotonic() + timeout
    while True:
        code = outcome(token)
        if code != "valid":
            return {"code": code, "seen_at": time.time() * 1000}
        if time.monotonic() > deadline:
            return {"code": "still_valid", "seen_at": time.time() * 1000}
        time.sleep(0.001)


def cmd_check(token: str) -> Dict[str, Any]:
    started = time.perf_counter()
    code = outcome(token)
    return {"code": code, "ms": (time.perf_counter() - started) * 1000}


def cmd_hammer(token: str, count: int) -> Dict[str, Any]:
    """``count`` verifications as fast as this process can, tallied by code."""
    codes: Dict[str, int] = {}
    for _ in range(count):
        code = outcome(token)
        codes[code] = codes.get(code, 0) + 1
    return {"codes": codes}


def cmd_close() -> Dict[str, Any]:
    """A clean shutdown: writes the batched usage counts."""
    global gate
    if gate is not None:
        gate.close()
    gate = None
    return {}


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}


def main() -> None:
    reply(ok=True, started=True, lang="python")
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        cmd = message.pop("cmd")
        try:
            result = COMMANDS[cmd](**message)
        except Exception as e:
            reply(ok=False, error=f"{type(e).__name__}({getattr(e, 'code', '')}): {e}")
        else:
            reply(ok=True, **result)


if __name__ == "__main__":
    main()
