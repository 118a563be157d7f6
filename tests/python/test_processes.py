"""Several Python processes on one real PostgreSQL store and one real Redis
(started by scripts/test.sh or scripts/test-python.sh through
scripts/services.sh): a revoke reaches every process (delay printed, not
asserted), a Redis rate limit holds across all of them, usage counts add up
after a clean shutdown, and a Postgres restart never lets a revoked key through.

Each worker is tests/python/process_worker.py in a process of its own, on a
fresh Postgres schema per test. Without the servers these tests are SKIPPED
(loudly); under CI=true conftest turns the skip into a failure.
    eval "$(bash scripts/services.sh start)" && pytest -s tests/python/test_processes.py
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Dict, Iterator, List, Tuple

import pytest

import gatepass
from service_procs import Worker, distribution, drop_schema, fresh_schema, python_worker, start_all, tally

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL")
REDIS = os.environ.get("GATEPASS_TEST_REDIS_URL")
SERVICES = os.environ.get("GATEPASS_SERVICES_SCRIPT")

MISSING = [
    name for name, value in (("GATEPASS_TEST_POSTGRES_URL", POSTGRES), ("GATEPASS_TEST_REDIS_URL", REDIS)) if not value
]
needs_services = pytest.mark.skipif(
    bool(MISSING),
    reason=f"*** {' and '.join(MISSING)} not set: the multi-process tests on real PostgreSQL/Redis DID NOT RUN. "
    'Start the servers with `eval "$(bash scripts/services.sh start)"` ***',
)

PROCESSES = 4
ROUNDS = 30


def report(capsys: pytest.CaptureFixture, text: str) -> None:
    """Printed even without ``-s``: the measurements are part of the result."""
    with capsys.disabled():
        print(f"\n{text}", flush=True)


def open_workers(n: int, store: str) -> List[Worker]:
    workers = [python_worker(f"python worker {i}") for i in range(n)]
    try:
        start_all(workers, "open", store=store, rate_limiter=REDIS)
    except BaseException:
        for w in workers:
            w.kill()
        raise
    return workers


@pytest.fixture
def schema_url() -> Iterator[str]:
    assert POSTGRES
    schema, url = fresh_schema(POSTGRES)
    yield url
    drop_schema(POSTGRES, schema)


@pytest.fixture
def cluster(schema_url: str) -> Iterator[Tuple[gatepass.Gate, List[Worker]]]:
    """This process's gate and PROCESSES workers, all on one schema and one Redis."""
    gate = gatepass.Gate(schema_url, rate_limiter=REDIS)
    workers = open_workers(PROCESSES, schema_url)
    yield gate, workers
    for w in workers:
        w.stop()
    gate.close()


@needs_services
def test_revoke_is_seen_by_every_other_process(cluster, capsys):
    gate, workers = cluster
    delays: List[float] = []
    revoke_ms: List[float] = []
    for round in range(ROUNDS):
        issued = gate.issue(f"round {round}")
        # Each worker verifies once (valid, now cached), then polls until rejected.
        for w in workers:
            w.send("watch", token=issued.token)
        for w in workers:
            assert w.next()["watching"]
        time.sleep(0.005)
        t0 = time.time() * 1000
        gate.revoke(issued.key.id)
        revoke_ms.append(time.time() * 1000 - t0)
        for w in workers:
            seen = w.next(timeout=30)
            delay = seen["seen_at"] - t0
            assert seen["code"] == "revoked", f"{w.name} answered {seen['code']} {delay:.0f} ms after the revoke"
            assert delay < 5000, f"{w.name} rejected the token only after {delay:.0f} ms"
            delays.append(delay)
    report(
        capsys,
        f"revocation seen by the other Python processes ({PROCESSES} processes, {ROUNDS} rounds) after "
        f"{distribution(delays)}; the revoke call itself {distribution(revoke_ms)}",
    )


@needs_services
def test_processes_hammering_one_key_admit_exactly_the_limit(cluster):
    gate, workers = cluster
    token = gate.issue("hammered", rate_limit="40/hour").token  # nothing refills during the test
    total = tally(start_all(workers, "hammer", token=token, count=30))
    assert total == {"valid": 40, "rate_limited": PROCESSES * 30 - 40}
    # This process shares the bucket too.
    assert gate.verify(token).code == "rate_limited"


@needs_services
def test_usage_adds_up_after_every_process_closes(schema_url):
    gate = gatepass.Gate(schema_url)
    issued = gate.issue("counted")
    workers = open_workers(PROCESSES, schema_url)
    try:
        per = 250
        total = tally(start_all(workers, "hammer", token=issued.token, count=per))
        assert total == {"valid": PROCESSES * per}
        for w in workers:
            w.stop()  # gate.close() in the worker, then it exits
            assert w.proc.returncode == 0, w.name
    finally:
        for w in workers:
            w.kill()
    key = gate.get(issued.key.id)
    assert key.usage_count == PROCESSES * per
    assert key.last_used_at is not None


@needs_services
@pytest.mark.stops_postgres
def test_postgres_restart_never_lets_a_revoked_key_through(schema_url, capsys):
    """Stop Postgres under two workers that have a key cached, start it,
    revoke the moment it is back: the workers answer errors or `revoked`,
    never `valid`. Stops the shared server, so conftest runs it last."""
    if not SERVICES:
        pytest.skip("*** GATEPASS_SERVICES_SCRIPT not set (scripts/services.sh): the restart test DID NOT RUN ***")

    def services(action: str) -> None:
        subprocess.run(["bash", SERVICES, action], check=True, timeout=120)

    gate = gatepass.Gate(schema_url)
    workers = open_workers(2, schema_url)
    lines: List[str] = []
    try:
        for round in range(2):
            issued = gate.issue(f"restart {round}")
            for w in workers:
                assert w.call("check", token=issued.token)["code"] == "valid"

            services("stop-postgres")
            during: Dict[str, int] = {}
            down_ms: List[float] = []
            try:
                # Down: an error, or the cached answer while the listener has
                # not noticed yet; nothing has changed, so `valid` is right.
                # One check per worker, at once: each may wait for the pool's
                # connection timeout (5 s) before answering store_unavailable.
                for answer in start_all(workers, "check", token=issued.token):
                    code = answer["code"]
                    assert code == "valid" or code.startswith("error:"), code
                    during[code] = during.get(code, 0) + 1
                    down_ms.append(answer["ms"])
            finally:
                services("start-postgres")

            # Revoke the moment the server is back, likely before the workers'
            # listeners have reconnected: they must not answer from a cache.
            deadline = time.monotonic() + 30
            while True:
                try:
                    gate.revoke(issued.key.id)
                    break
                except gatepass.GatepassError:
                    assert time.monotonic() < deadline, "postgres did not come back"
                    time.sleep(0.02)
            after: Dict[str, int] = {}
            slowest = 0.0
            for w in workers:
                rejected = 0
                while rejected < 20:  # keep asking after the first `revoked`
                    answer = w.call("check", token=issued.token)
                    code = answer["code"]
                    assert code != "valid", f"round {round}: {w.name} accepted a revoked key after the restart"
                    assert code == "revoked" or code.startswith("error:"), code
                    after[code] = after.get(code, 0) + 1
                    slowest = max(slowest, answer["ms"])
                    if code == "revoked":
                        rejected += 1
                    else:
                        time.sleep(0.02)
                    assert time.monotonic() < deadline, "no answer after the restart"
            lines.append(
                f"round {round}: while down {during} (check took {distribution(down_ms)}); "
                f"after the revoke {after}, slowest check {slowest:.1f} ms"
            )
    finally:
        for w in workers:
            w.stop()
    report(capsys, "postgres restart: " + "; ".join(lines))
