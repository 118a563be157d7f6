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
from typing import Any, Callable, Dict, List, Tuple

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


def bench_chat_platforms() -> List[str]:
    """The chat platforms' schemes, 1 KiB body: each official receiving
    library where one exists (line-bot-sdk, discord-interactions = PyNaCl),
    and a hand-rolled ``hmac``/PyNaCl check for every scheme."""
    import discord_interactions
    from linebot.v3.webhook import SignatureValidator
    from nacl.signing import VerifyKey

    body = body_1k()
    text = body.decode()
    lines: List[str] = []
    # Verifiers of timestamped schemes get a fixed clock at signing time, so a
    # slow run on a loaded machine cannot age the signature out of the window.
    signed_at = int(time.time())

    def hmac_hex(secret: str, msg: bytes, alg: Any = hashlib.sha256) -> str:
        return hmac.new(secret.encode(), msg, alg).hexdigest()

    # line
    secret = gatepass.generate_secret("line")
    headers = gatepass.WebhookSigner("line", secret).sign(body)
    sig = headers["x-line-signature"]
    verifier = gatepass.WebhookVerifier("line", secret)
    validator = SignatureValidator(secret)
    key = secret.encode()

    def line_hand_rolled() -> None:
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(sig, expected):
            raise ValueError("signature")

    assert validator.validate(text, sig)
    t = measure_group(
        {
            "ours": lambda: verifier.verify(body, headers),
            "sdk": lambda: validator.validate(text, sig),
            "hmac": line_hand_rolled,
        }
    )
    lines += report(
        "LINE verify, 1 KiB body",
        ("gatepass WebhookVerifier('line').verify", t["ours"]),
        [("line-bot-sdk 3.27 SignatureValidator.validate", t["sdk"]), ("hand-rolled hmac + base64", t["hmac"])],
    )

    # meta, intercom, chatwoot: no receiving library; hand-rolled hmac
    for scheme, header, prefix, alg, timed in (
        ("meta", "X-Hub-Signature-256", "sha256=", hashlib.sha256, False),
        ("intercom", "X-Hub-Signature", "sha1=", hashlib.sha1, False),
        ("chatwoot", "X-Chatwoot-Signature", "sha256=", hashlib.sha256, True),
    ):
        secret = gatepass.generate_secret(scheme)
        headers = gatepass.WebhookSigner(scheme, secret).sign(body)
        verifier = gatepass.WebhookVerifier(scheme, secret, now=signed_at)

        def hand_rolled(
            secret: str = secret,
            headers: Dict[str, str] = headers,
            header: str = header,
            prefix: str = prefix,
            alg: Any = alg,
            timed: bool = timed,
        ) -> None:
            msg = body
            if timed:
                ts = headers["X-Chatwoot-Timestamp"]
                if abs(signed_at - int(ts)) > 300:
                    raise ValueError("timestamp")
                msg = ts.encode() + b"." + body
            if not hmac.compare_digest(headers[header], prefix + hmac_hex(secret, msg, alg)):
                raise ValueError("signature")

        hand_rolled()
        t = measure_group({"ours": lambda v=verifier, h=headers: v.verify(body, h), "hmac": hand_rolled})
        lines += report(
            f"{scheme} verify, 1 KiB body (no official receiving library)",
            (f"gatepass WebhookVerifier('{scheme}').verify", t["ours"]),
            [("hand-rolled hmac + hashlib", t["hmac"])],
        )

    # discord: discord-interactions (PyNaCl underneath)
    sk, pk = gatepass.generate_keypair("discord")
    headers = gatepass.WebhookSigner("discord", sk).sign(body)
    verifier = gatepass.WebhookVerifier("discord", pk, now=signed_at)
    sig, ts = headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"]
    vk = VerifyKey(bytes.fromhex(pk))

    def nacl_direct() -> None:
        vk.verify(ts.encode() + body, bytes.fromhex(sig))

    assert discord_interactions.verify_key(body, sig, ts, pk)
    t = measure_group(
        {
            "ours": lambda: verifier.verify(body, headers),
            "di": lambda: discord_interactions.verify_key(body, sig, ts, pk),
            "nacl": nacl_direct,
        }
    )
    lines += report(
        "Discord verify (Ed25519), 1 KiB body",
        ("gatepass WebhookVerifier('discord').verify", t["ours"]),
        [("discord-interactions 0.4 verify_key", t["di"]), ("PyNaCl VerifyKey.verify (key reused)", t["nacl"])],
    )

    # standard v1a: no Standard Webhooks library implements it; PyNaCl by hand
    sk, pk = gatepass.generate_keypair("standard")
    headers = gatepass.WebhookSigner("standard", sk).sign(body)
    verifier = gatepass.WebhookVerifier("standard", pk, now=signed_at)
    svk = VerifyKey(base64.b64decode(pk[len("whpk_") :]))

    def v1a_hand_rolled() -> None:
        ts = int(headers["webhook-timestamp"])
        if abs(signed_at - ts) > 300:
            raise ValueError("timestamp")
        signed = f"{headers['webhook-id']}.{ts}.".encode() + body
        for part in headers["webhook-signature"].split(" "):
            version, _, encoded = part.partition(",")
            if version == "v1a":
                svk.verify(signed, base64.b64decode(encoded))
                return
        raise ValueError("signature")

    v1a_hand_rolled()
    t = measure_group({"ours": lambda: verifier.verify(body, headers), "nacl": v1a_hand_rolled})
    lines += report(
        "Standard Webhooks v1a (Ed25519) verify, 1 KiB body",
        ("gatepass WebhookVerifier('standard', whpk_).verify", t["ours"]),
        [("hand-rolled PyNaCl + base64", t["nacl"])],
    )

    # token in a header of its own (Telegram): no receiving library checks it
    # (python-telegram-bot compares it inside its webhook server); hand-rolled
    tg_name = "X-Telegram-Bot-Api-Secret-Token"
    tg_secret = "tg_" + "s3cr3t" * 8
    tg_headers = {tg_name: tg_secret, "Content-Type": "application/json"}
    tg_verifier = gatepass.WebhookVerifier("token", tg_secret, header=tg_name)
    tg_expected = tg_secret.encode()

    def token_hand_rolled() -> None:
        if not hmac.compare_digest(tg_headers[tg_name].encode(), tg_expected):
            raise ValueError("token")

    t = measure_group({"ours": lambda: tg_verifier.verify(body, tg_headers), "hand": token_hand_rolled})
    lines += report(
        "token in X-Telegram-Bot-Api-Secret-Token, 1 KiB body",
        ("gatepass WebhookVerifier('token', header=…).verify", t["ours"]),
        [("hand-rolled hmac.compare_digest", t["hand"])],
    )
    return lines


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
    lines += bench_chat_platforms()
    lines += bench_drf_api_key()
    return 0


if __name__ == "__main__":
    sys.exit(main())
