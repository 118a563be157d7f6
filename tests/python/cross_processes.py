"""Python and Node processes on one PostgreSQL store and one Redis: the
cross-language half of the multi-process checks. Run by scripts/test-cross.sh
with the Python test virtualenv (the installed wheel) and the Node addon built
by scripts/test-node.sh; needs GATEPASS_TEST_POSTGRES_URL and
GATEPASS_TEST_REDIS_URL. Not a pytest module: prints one line per check, the
measured delays, and a closing "N passed, M failed"; exits 1 on any failure.

    python tests/python/cross_processes.py [path to the Node package]
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, List, Tuple

import gatepass
from service_procs import ROOT, Worker, distribution, drop_schema, fresh_schema, node_worker, python_worker, tally

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL", "")
REDIS = os.environ.get("GATEPASS_TEST_REDIS_URL", "")
NODE_PACKAGE = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "bindings-node")
ROUNDS = 30
LIMIT = 40


@contextmanager
def pair(store: str) -> Iterator[Tuple[Worker, Worker]]:
    """One Python and one Node worker, both on ``store`` and the shared Redis."""
    workers: List[Worker] = []
    try:
        workers.append(python_worker("python"))
        workers.append(node_worker("node", NODE_PACKAGE))
        for w in workers:
            w.call("open", store=store, rate_limiter=REDIS)
        yield workers[0], workers[1]
    finally:
        for w in workers:
            w.kill()


def revocation_delays(revoker: Worker, watcher: Worker) -> List[float]:
    """Issue in ``revoker``, let ``watcher`` cache and poll it, revoke in
    ``revoker``: ms from the start of the revoke call to the rejection."""
    delays: List[float] = []
    for round in range(ROUNDS):
        issued = revoker.call("issue", name=f"cross {round}")
        watcher.send("watch", token=issued["token"])
        assert watcher.next()["watching"]
        time.sleep(0.005)
        started = revoker.call("revoke", id=issued["id"])["started"]
        seen = watcher.next(timeout=30)
        delay = seen["seen_at"] - started
        assert seen["code"] == "revoked", f"{watcher.name} answered {seen['code']} {delay:.0f} ms after the revoke"
        assert delay < 5000, f"{watcher.name} rejected the token only after {delay:.0f} ms"
        delays.append(delay)
    return delays


def check_revoked_in_node_rejected_by_python(store: str) -> str:
    with pair(store) as (py, node):
        delays = revocation_delays(revoker=node, watcher=py)
    return f"revoked in Node, rejected by Python after {distribution(delays)}"


def check_revoked_in_python_rejected_by_node(store: str) -> str:
    with pair(store) as (py, node):
        delays = revocation_delays(revoker=py, watcher=node)
    return f"revoked in Python, rejected by Node after {distribution(delays)}"


def check_limit_and_usage(store: str) -> str:
    """One key limited to LIMIT/hour hammered by both (exactly LIMIT admitted
    together), one unlimited key hammered by both, then both close: the
    usage counts read by a third process add up exactly."""
    per = 200
    with pair(store) as (py, node):
        limited = py.call("issue", name="limited", rate_limit=f"{LIMIT}/hour")
        counted = node.call("issue", name="counted")
        both = [py, node]
        for w in both:
            w.send("hammer", token=limited["token"], count=30)
        total = tally([w.next() for w in both])
        assert total == {"valid": LIMIT, "rate_limited": 60 - LIMIT}, f"limit {LIMIT}: {total}"
        for w in both:
            w.send("hammer", token=counted["token"], count=per)
        usage = tally([w.next() for w in both])
        assert usage == {"valid": 2 * per}, usage
        for w in both:
            w.stop()  # gate.close(): writes the batched usage counts
            assert w.proc.returncode == 0, f"{w.name} exited with {w.proc.returncode}"
    reader = gatepass.Gate(store)
    count = reader.get(counted["id"]).usage_count
    assert count == 2 * per, f"usage_count {count}, expected {2 * per}"
    admitted = reader.get(limited["id"]).usage_count
    assert admitted == LIMIT, f"usage_count of the limited key {admitted}, expected {LIMIT}"
    return (
        f"{LIMIT}/hour key, 30 verifies each: {total}; unlimited key, {per} each then close(): "
        f"usage_count {count} (limited key: {admitted})"
    )


CHECKS: List[Callable[[str], str]] = [
    check_revoked_in_node_rejected_by_python,
    check_revoked_in_python_rejected_by_node,
    check_limit_and_usage,
]


def main() -> int:
    if not (POSTGRES and REDIS):
        print("cross-check: GATEPASS_TEST_POSTGRES_URL and GATEPASS_TEST_REDIS_URL must be set", file=sys.stderr)
        return 1
    print(f"gatepass {gatepass.__version__} from {gatepass.__file__}; Node package {NODE_PACKAGE}")
    passed = failed = 0
    for check in CHECKS:
        schema, store = fresh_schema(POSTGRES)
        started = time.monotonic()
        try:
            detail = check(store)
        except Exception:
            failed += 1
            print(f"FAIL {check.__name__}")
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {check.__name__} ({time.monotonic() - started:.1f} s): {detail}")
        finally:
            drop_schema(POSTGRES, schema)
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
