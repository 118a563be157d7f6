"""Real PostgreSQL and Redis servers (started by scripts/test.sh or
scripts/test-python.sh through scripts/services.sh): several gates and
processes sharing one key store, rate limiter and replay guard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

import gatepass

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL")
REDIS = os.environ.get("GATEPASS_TEST_REDIS_URL")

needs_postgres = pytest.mark.skipif(not POSTGRES, reason="GATEPASS_TEST_POSTGRES_URL is not set (scripts/services.sh)")
needs_redis = pytest.mark.skipif(not REDIS, reason="GATEPASS_TEST_REDIS_URL is not set (scripts/services.sh)")


@needs_postgres
def test_postgres_lifecycle_and_outcomes():
    gate = gatepass.Gate(POSTGRES)
    subject = f"agent_{uuid.uuid4().hex}"
    issued = gate.issue("pg", scopes=["bots:read"], subject=subject, remaining=5)
    assert gate.verify(issued.token, scopes=["bots:read"]).ok
    assert gate.verify(issued.token, scopes=["bots:write"]).code == "insufficient_scope"
    assert [k.id for k in gate.list(subject=subject)] == [issued.key.id]
    assert gate.get(issued.key.id).remaining == 4
    gate.deactivate(issued.key.id)
    assert gate.verify(issued.token).code == "inactive"
    gate.activate(issued.key.id)
    rotated = gate.rotate(issued.key.id)
    assert gate.verify(issued.token).code == "revoked"
    assert gate.verify(rotated.token).ok
    gate.delete(issued.key.id)
    assert gate.verify(rotated.token).code == "unknown_key"


@needs_postgres
def test_postgres_revocation_reaches_another_process():
    """A gate in another process has the key cached; revoking here is seen there."""
    gate = gatepass.Gate(POSTGRES)
    issued = gate.issue("shared", scopes=["bots:read"])
    script = """
import sys, time, gatepass
g = gatepass.Gate(sys.argv[1])
token = sys.argv[2]
assert g.verify(token).ok
print("cached", flush=True)
sys.stdin.readline()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    code = g.verify(token).code
    if code != "valid":
        break
    time.sleep(0.02)
print(code, flush=True)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, POSTGRES, issued.token],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "cached"
        gate.revoke(issued.key.id)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "revoked"
    finally:
        proc.kill()
        proc.wait(10)


@needs_redis
def test_redis_rate_limit_is_shared_between_gates(tmp_path):
    store = f"sqlite:///{tmp_path}/rl.db"
    a = gatepass.Gate(store, rate_limiter=REDIS)
    b = gatepass.Gate(store, rate_limiter=REDIS)
    token = a.issue("limited", rate_limit="3/hour").token
    assert a.verify(token).ok and b.verify(token).ok and a.verify(token).ok
    v = b.verify(token)
    assert v.code == "rate_limited" and int(v.headers["Retry-After"]) > 0
    # In-process limiters would each have allowed three.
    c = gatepass.Gate(store)
    assert c.verify(token).ok


@needs_redis
def test_redis_replay_guard_is_shared_between_verifiers():
    secret = gatepass.generate_secret("standard")
    body = b'{"n":1}'
    headers = gatepass.WebhookSigner("standard", secret).sign(body, id=f"msg_{uuid.uuid4().hex}")
    first = gatepass.WebhookVerifier("standard", secret, replay_guard=REDIS)
    second = gatepass.WebhookVerifier("standard", secret, replay_guard=REDIS)
    first.verify(body, headers)
    with pytest.raises(gatepass.WebhookError) as e:
        second.verify(body, headers)
    assert e.value.code == "replayed"


def test_unsupported_limiter_and_guard_urls():
    with pytest.raises(gatepass.ConfigError):
        gatepass.Gate("memory://", rate_limiter="memcached://x")
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookVerifier("standard", gatepass.generate_secret("standard"), replay_guard="memcached://x")
    gatepass.Gate("memory://", rate_limiter="memory://")
    gatepass.WebhookVerifier("standard", gatepass.generate_secret("standard"), replay_guard="memory://")


@needs_redis
def test_redis_replay_guard_keys_on_what_was_signed():
    """Two processes' verifiers on one Redis: a captured delivery re-sent with
    its unsigned id header changed or removed (github, shopify, twilio), or a
    Stripe event signed during a rotation re-sent with one ``v1=`` dropped, is
    ``replayed``; two tenants with different secrets do not share keys."""

    def refused(verifier, body, headers, url=None):
        with pytest.raises(gatepass.WebhookError) as e:
            verifier.verify(body, headers, url=url)
        return e.value.code

    url = "https://hooks.example.com/twilio?t=1"
    for scheme, id_header in (
        ("github", "X-GitHub-Delivery"),
        ("shopify", "X-Shopify-Webhook-Id"),
        ("twilio", "I-Twilio-Idempotency-Token"),
    ):
        secret = gatepass.generate_secret(scheme)
        body = f"event={uuid.uuid4().hex}".encode()
        signed = gatepass.WebhookSigner(scheme, secret).sign(body, id="delivery-1", url=url)
        first = gatepass.WebhookVerifier(scheme, secret, replay_guard=REDIS)
        second = gatepass.WebhookVerifier(scheme, secret, replay_guard=REDIS)
        first.verify(body, signed, url=url)
        assert refused(second, body, {**signed, id_header: "delivery-2"}, url) == "replayed", scheme
        without = {k: v for k, v in signed.items() if k != id_header}
        assert refused(second, body, without, url) == "replayed", scheme

    old, new = gatepass.generate_secret("stripe"), gatepass.generate_secret("stripe")
    body = f'{{"id":"evt_{uuid.uuid4().hex}"}}'.encode()
    t = int(time.time())
    sig = {s: gatepass.WebhookSigner("stripe", s).sign(body, timestamp=t)["Stripe-Signature"] for s in (old, new)}
    v1 = {s: sig[s].split(",v1=")[1] for s in (old, new)}
    a = gatepass.WebhookVerifier("stripe", [old, new], replay_guard=REDIS)
    b = gatepass.WebhookVerifier("stripe", [new, old], replay_guard=REDIS)
    a.verify(body, {"Stripe-Signature": f"t={t},v1={v1[old]},v1={v1[new]}"})
    assert refused(b, body, {"Stripe-Signature": f"t={t},v1={v1[new]}"}) == "replayed"
    assert refused(a, body, {"Stripe-Signature": f"t={t},v1={v1[old]}"}) == "replayed"

    msg_id = f"msg_{uuid.uuid4().hex}"
    for _ in range(2):  # two tenants, one Redis, the same message id
        secret = gatepass.generate_secret("standard")
        tenant = gatepass.WebhookVerifier("standard", secret, replay_guard=REDIS)
        headers = gatepass.WebhookSigner("standard", secret).sign(b"{}", id=msg_id)
        assert tenant.verify(b"{}", headers).id == msg_id
        assert refused(tenant, b"{}", headers) == "replayed"
