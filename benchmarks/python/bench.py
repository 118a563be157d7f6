"""Python benchmarks: gatepass against the alternatives, in one run, as ratios.

    python benchmarks/python/bench.py            # needs the packages in benchmarks/python/requirements.txt

Not a test: numbers depend on the machine. Each figure is the median of
several timed rounds, in microseconds per call; "×" is how many times faster
gatepass is (alternative time / gatepass time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from datetime import datetime, timezone
from typing import Callable, Dict, List, Tuple

import gatepass

ROUNDS = 9


def measure_group(candidates: Dict[str, Callable[[], object]], round_time: float = 0.15) -> Dict[str, float]:
    """Median µs per call for each candidate. Rounds are interleaved (A, B, C,
    A, B, C, …) so that load from other processes on a shared machine hits
    every candidate alike and the ratios stay meaningful."""
    plans = {}
    for name, fn in candidates.items():
        fn()
        timer = timeit.Timer(fn)
        number, elapsed = timer.autorange()
        plans[name] = (timer, max(1, int(number * round_time / max(elapsed, 1e-9))))
    samples: Dict[str, List[float]] = {name: [] for name in candidates}
    for _ in range(ROUNDS):
        for name, (timer, number) in plans.items():
            samples[name].append(timer.timeit(number) / number * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


Row = Tuple[str, float]


def report(title: str, ours: Row, others: List[Row], target: Dict[str, float] | None = None) -> List[str]:
    lines = [f"\n{title}", f"  {ours[0]:<52} {ours[1]:>9.2f} µs"]
    for name, t in others:
        ratio = t / ours[1]
        goal = (target or {}).get(name)
        goal_text = f"   (target ≥ {goal:g}×: {'met' if ratio >= goal else 'NOT met'})" if goal else ""
        lines.append(f"  {name:<52} {t:>9.2f} µs   gatepass {ratio:6.1f}× faster{goal_text}")
    print("\n".join(lines))
    return lines


# ----- webhooks ----------------------------------------------------------------


def body_1k() -> bytes:
    payload = {"type": "message.created", "data": {"text": "x" * 900, "bot": "bot_1", "channel": "ch_1"}}
    body = json.dumps(payload).encode()
    return body[:1024].ljust(1024, b" ") if len(body) >= 1024 else body + b" " * (1024 - len(body))


def bench_standard() -> List[str]:
    from standardwebhooks.webhooks import Webhook as StandardWebhook
    from svix.webhooks import Webhook as SvixWebhook

    body = body_1k()
    secret = gatepass.generate_secret("standard")
    headers = gatepass.WebhookSigner("standard", secret).sign(body)
    verifier = gatepass.WebhookVerifier("standard", secret)
    sw = StandardWebhook(secret)
    sv = SvixWebhook(secret)
    key = base64.b64decode(secret[len("whsec_") :])

    def hand_rolled() -> None:
        ts = int(headers["webhook-timestamp"])
        if abs(time.time() - ts) > 300:
            raise ValueError("timestamp")
        signed = f"{headers['webhook-id']}.{ts}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for part in headers["webhook-signature"].split(" "):
            version, _, sig = part.partition(",")
            if version == "v1" and hmac.compare_digest(sig, expected):
                return
        raise ValueError("signature")

    sw.verify(body, headers)
    sv.verify(body, headers)
    hand_rolled()
    t = measure_group(
        {
            "ours": lambda: verifier.verify(body, headers),
            "sw": lambda: sw.verify(body, headers),
            "sw_raw": lambda: sw.verify(body, headers, json_parse=False),
            "svix": lambda: sv.verify(body, headers),
            "hmac": hand_rolled,
        }
    )
    return report(
        "Standard Webhooks verify, 1 KiB body",
        ("gatepass WebhookVerifier('standard').verify", t["ours"]),
        [
            ("standardwebhooks 1.1 Webhook.verify", t["sw"]),
            ("standardwebhooks 1.1 Webhook.verify(json_parse=False)", t["sw_raw"]),
            ("svix Webhook.verify", t["svix"]),
            ("hand-rolled hmac + hashlib + base64", t["hmac"]),
        ],
        {"standardwebhooks 1.1 Webhook.verify": 6, "hand-rolled hmac + hashlib + base64": 2},
    )


def bench_stripe() -> List[str]:
    import stripe

    body = body_1k()
    text = body.decode()
    secret = gatepass.generate_secret("stripe")
    header = gatepass.WebhookSigner("stripe", secret).sign(body)["Stripe-Signature"]
    headers = {"Stripe-Signature": header}
    verifier = gatepass.WebhookVerifier("stripe", secret)
    stripe.WebhookSignature.verify_header(text, header, secret, tolerance=300)
    t = measure_group(
        {
            "ours": lambda: verifier.verify(body, headers),
            "stripe": lambda: stripe.WebhookSignature.verify_header(text, header, secret, tolerance=300),
        }
    )
    return report(
        "Stripe verify, 1 KiB body",
        ("gatepass WebhookVerifier('stripe').verify", t["ours"]),
        [("stripe WebhookSignature.verify_header", t["stripe"])],
    )


# ----- API keys ----------------------------------------------------------------


def bench_gate_memory() -> List[str]:
    gate = gatepass.Gate("memory://")
    token = gate.issue("bench", scopes=["bots:read"]).token
    header = f"Bearer {token}"
    requirement = gate.check_requirement(["bots:read"])
    native = gate._native
    assert gate.verify(header, requirement).ok
    rows = measure_group(
        {
            "Gate.verify(header, Requirement) on memory://": lambda: gate.verify(header, requirement),
            "Gate.verify(header, scopes=['bots:read']) on memory://": lambda: gate.verify(header, ["bots:read"]),
            "native Gate.verify(header, Requirement) (no wrapper)": lambda: native.verify(header, requirement),
        }
    ).items()
    gate.flush()
    lines = ["\nGate.verify on memory:// (target ≤ 3 µs)"]
    for name, t in rows:
        lines.append(f"  {name:<52} {t:>9.2f} µs   ({'met' if t <= 3 else 'NOT met'})")
    print("\n".join(lines))
    return lines


def bench_drf_api_key() -> List[str]:
    import django
    from django.conf import settings

    tmp = tempfile.mkdtemp(prefix="gatepass-bench-")
    db = os.path.join(tmp, "bench.db")
    settings.configure(
        SECRET_KEY="bench",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "rest_framework_api_key",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.core.management import call_command
    from rest_framework_api_key.models import APIKey

    call_command("migrate", verbosity=0)
    _, drf_key = APIKey.objects.create_key(name="bench")
    assert APIKey.objects.is_valid(drf_key)

    gate = gatepass.Gate(f"sqlite:///{db}")  # the same SQLite database file
    token = gate.issue("bench", scopes=["bots:read"]).token
    header = f"Bearer {token}"
    requirement = gate.check_requirement(["bots:read"])
    assert gate.verify(header, requirement).ok
    t = measure_group(
        {"ours": lambda: gate.verify(header, requirement), "drf": lambda: APIKey.objects.is_valid(drf_key)},
        round_time=0.3,
    )
    gate.flush()
    return report(
        "API key check on one SQLite database",
        ("gatepass Gate.verify on sqlite:// (same DB file)", t["ours"]),
        [("djangorestframework-api-key APIKey.objects.is_valid", t["drf"])],
        {"djangorestframework-api-key APIKey.objects.is_valid": 50},
    )


def main() -> int:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"Python {platform.python_version()} · {platform.machine()} · {os.cpu_count()} CPUs"
    print(f"gatepass {gatepass.__version__} · {machine} · {started}")
    lines: List[str] = []
    lines += bench_gate_memory()
    lines += bench_standard()
    lines += bench_stripe()
    lines += bench_drf_api_key()
    return 0


if __name__ == "__main__":
    sys.exit(main())
