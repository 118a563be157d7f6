"""Webhooks: every scheme signed and verified, over HTTP in Flask, Django and
FastAPI, and cross-checked against the official libraries in both directions."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

import gatepass

SCHEMES = ["standard", "stripe", "github", "slack", "shopify", "twilio", "token"]
TIMESTAMPED = {"standard", "stripe", "slack"}
SIGNS_BODY = set(SCHEMES) - {"token"}
URL = "https://bots.example.com/hooks/twilio?channel=ch_1"
BODY = json.dumps({"event": "message.created", "text": "héllo", "n": 1}).encode()


def url_for(scheme):
    return URL if scheme == "twilio" else None


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip_and_failures(scheme):
    secret = gatepass.generate_secret(scheme)
    signer = gatepass.WebhookSigner(scheme, secret)
    headers = signer.sign(BODY, url=url_for(scheme))
    verifier = gatepass.WebhookVerifier(scheme, secret)
    msg = verifier.verify(BODY, headers, url=url_for(scheme))
    assert msg.scheme == scheme
    if scheme in TIMESTAMPED:
        assert abs(msg.timestamp - time.time()) < 5
    # body in every accepted form
    for body in (bytearray(BODY), memoryview(BODY), BODY.decode()):
        verifier.verify(body, headers, url=url_for(scheme))
    # tampering
    if scheme in SIGNS_BODY:
        with pytest.raises(gatepass.WebhookError) as e:
            verifier.verify(BODY + b" ", headers, url=url_for(scheme))
        assert e.value.code == "invalid_signature" and e.value.status == 401
    other = gatepass.WebhookVerifier(scheme, gatepass.generate_secret(scheme))
    with pytest.raises(gatepass.WebhookError) as e:
        other.verify(BODY, headers, url=url_for(scheme))
    assert e.value.code == "invalid_signature"
    with pytest.raises(gatepass.WebhookError) as e:
        verifier.verify(BODY, {}, url=url_for(scheme))
    assert e.value.code == "missing_header" and e.value.status == 400
    assert e.value.problem["code"] == "missing_header"
    # rotation: the old and the new secret both verify
    rotated = gatepass.WebhookVerifier(scheme, [gatepass.generate_secret(scheme), secret])
    rotated.verify(BODY, headers, url=url_for(scheme))
    # secrets stay out of reprs and errors
    for text in (repr(signer), repr(verifier), repr(msg), str(e.value)):
        assert secret not in text


@pytest.mark.parametrize("scheme", sorted(TIMESTAMPED))
def test_timestamp_window(scheme):
    secret = gatepass.generate_secret(scheme)
    now = int(time.time())
    headers = gatepass.WebhookSigner(scheme, secret).sign(BODY, timestamp=now - 301)
    with pytest.raises(gatepass.WebhookError) as e:
        gatepass.WebhookVerifier(scheme, secret).verify(BODY, headers)
    assert e.value.code == "timestamp_too_old"
    gatepass.WebhookVerifier(scheme, secret, tolerance="10m").verify(BODY, headers)
    gatepass.WebhookVerifier(scheme, secret, tolerance=None).verify(BODY, headers)
    future = gatepass.WebhookSigner(scheme, secret).sign(BODY, timestamp=now + 400)
    with pytest.raises(gatepass.WebhookError) as e:
        gatepass.WebhookVerifier(scheme, secret).verify(BODY, future)
    assert e.value.code == "timestamp_too_new"
    # an aware datetime is accepted as the timestamp
    at = datetime.fromtimestamp(now, timezone.utc)
    fixed = {"id": "msg_fixed"} if scheme == "standard" else {}
    signer = gatepass.WebhookSigner(scheme, secret)
    assert signer.sign(BODY, timestamp=at, **fixed) == signer.sign(BODY, timestamp=now, **fixed)


def test_replay_guard():
    secret = gatepass.generate_secret("standard")
    verifier = gatepass.WebhookVerifier("standard", secret, replay_guard=True)
    headers = gatepass.WebhookSigner("standard", secret).sign(BODY)
    verifier.verify(BODY, headers)
    with pytest.raises(gatepass.WebhookError) as e:
        verifier.verify(BODY, headers)
    assert e.value.code == "replayed" and e.value.status == 409


def test_config_errors():
    for args, kwargs in [
        (("nope", "x"), {}),
        (("standard", []), {}),
        (("standard", ""), {}),
        (("standard", ["x"] * 17), {}),
    ]:
        with pytest.raises(gatepass.ConfigError) as e:
            gatepass.WebhookVerifier(*args, **kwargs)
        assert e.value.code == "config_error"
    with pytest.raises(TypeError):
        gatepass.WebhookVerifier("standard", "whsec_x", colour="red")
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookSigner("twilio", "secret").sign(b"x")  # needs url=
    with pytest.raises(gatepass.ConfigError):
        gatepass.generate_secret("carrier-pigeon")
    with pytest.raises(TypeError):
        gatepass.WebhookVerifier("standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").verify({"not": "bytes"}, {})
    # the chat platforms' schemes are tested in test_chat_webhooks.py
    assert sorted(gatepass.WEBHOOK_SCHEMES) == sorted(SCHEMES + ["meta", "line", "discord", "intercom", "chatwoot"])


def test_hostile_headers_never_crash():
    verifier = gatepass.WebhookVerifier("standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    for sig in ["", "v1,", "v1," + "A" * 10_000, "v1,@@@", " , , ", "v2,abc", "\x00", "v1,abc===="]:
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": sig}
        with pytest.raises(gatepass.WebhookError):
            verifier.verify(b"{}", headers)
    with pytest.raises(gatepass.WebhookError):
        verifier.verify(b"{}", {"webhook-id": "x" * 100_000, "webhook-timestamp": "1e9", "webhook-signature": "v1,x"})


# ----- every scheme over HTTP ------------------------------------------------


def _secrets():
    return {scheme: gatepass.generate_secret(scheme) for scheme in SCHEMES}


#: The public base every helper is configured with (twilio signs the URL; the
#: helpers never take its host from the request).
PUBLIC = "https://hooks.example.com"


def test_every_scheme_in_flask():
    flask = pytest.importorskip("flask")
    from gatepass.flask import Gatepass

    secrets = _secrets()
    app = flask.Flask(__name__)
    gp = Gatepass(app, gate=gatepass.Gate("memory://"))
    for scheme in SCHEMES:

        def view(scheme=scheme):
            return {"scheme": gp.current_webhook.scheme, "len": len(flask.request.get_data())}

        hook = gp.webhook(scheme, secrets=[secrets[scheme]], base_url=PUBLIC)
        app.add_url_rule(f"/hooks/{scheme}", f"hook_{scheme}", hook(view), methods=["POST"])
    client = app.test_client()
    for scheme in SCHEMES:
        url = f"http://localhost/hooks/{scheme}"
        headers = gatepass.WebhookSigner(scheme, secrets[scheme]).sign(BODY, url=f"{PUBLIC}/hooks/{scheme}")
        r = client.post(url, data=BODY, headers=headers)
        assert r.status_code == 200 and r.json == {"scheme": scheme, "len": len(BODY)}, (scheme, r.data)
        if scheme in SIGNS_BODY:
            r = client.post(url, data=BODY + b"x", headers=headers)
            assert r.status_code == 401 and r.get_json(force=True)["code"] == "invalid_signature", scheme


def test_every_scheme_in_django():
    pytest.importorskip("django")
    from django.http import JsonResponse
    from django.test import RequestFactory

    import test_django  # noqa: F401  (configures the Django test project)
    from gatepass.django import webhook

    secrets = _secrets()
    factory = RequestFactory()
    for scheme in SCHEMES:

        @webhook(scheme, secrets=[secrets[scheme]], base_url=PUBLIC)
        def view(request):
            return JsonResponse({"scheme": request.gatepass_webhook.scheme})

        url = f"{PUBLIC}/hooks/x?channel=ch_1"
        headers = gatepass.WebhookSigner(scheme, secrets[scheme]).sign(BODY, url=url)
        request = factory.post("/hooks/x?channel=ch_1", BODY, content_type="application/json", headers=headers)
        r = view(request)
        assert r.status_code == 200 and json.loads(r.content) == {"scheme": scheme}, (scheme, r.content)
        if scheme in SIGNS_BODY:
            bad = factory.post("/hooks/x?channel=ch_1", BODY + b"x", content_type="application/json", headers=headers)
            assert view(bad).status_code == 401


def test_every_scheme_in_fastapi():
    pytest.importorskip("fastapi")
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from gatepass.fastapi import WebhookDependency, install

    secrets = _secrets()
    app = FastAPI()
    install(app)
    for scheme in SCHEMES:
        dep = WebhookDependency(scheme, secrets=[secrets[scheme]], base_url=PUBLIC)

        async def view(msg: gatepass.VerifiedWebhook = Depends(dep)):
            return {"scheme": msg.scheme}

        app.add_api_route(f"/hooks/{scheme}", view, methods=["POST"])
    client = TestClient(app)
    for scheme in SCHEMES:
        url = f"http://testserver/hooks/{scheme}"
        headers = gatepass.WebhookSigner(scheme, secrets[scheme]).sign(BODY, url=f"{PUBLIC}/hooks/{scheme}")
        r = client.post(url, content=BODY, headers=headers)
        assert r.status_code == 200 and r.json() == {"scheme": scheme}, (scheme, r.text)
        if scheme in SIGNS_BODY:
            r = client.post(url, content=BODY + b"x", headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "invalid_signature"


# ----- cross-checks with the official libraries ------------------------------


def test_standardwebhooks_both_ways():
    standardwebhooks = pytest.importorskip("standardwebhooks.webhooks")
    secret = gatepass.generate_secret("standard")
    theirs = standardwebhooks.Webhook(secret)
    now = datetime.now(timezone.utc)
    sig = theirs.sign("msg_official", now, BODY.decode())
    headers = {"webhook-id": "msg_official", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": sig}
    assert gatepass.WebhookVerifier("standard", secret).verify(BODY, headers).id == "msg_official"
    ours = gatepass.WebhookSigner("standard", secret).sign(BODY)
    assert theirs.verify(BODY, ours) == json.loads(BODY)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        theirs.verify(BODY + b" ", ours)


def test_svix_both_ways():
    svix = pytest.importorskip("svix.webhooks")
    secret = gatepass.generate_secret("standard")
    theirs = svix.Webhook(secret)
    now = datetime.now(timezone.utc)
    sig = theirs.sign("msg_svix", now, BODY.decode())
    headers = {"svix-id": "msg_svix", "svix-timestamp": str(int(now.timestamp())), "svix-signature": sig}
    assert gatepass.WebhookVerifier("standard", secret).verify(BODY, headers).id == "msg_svix"
    ours = gatepass.WebhookSigner("standard", secret).sign(BODY)
    theirs.verify(BODY, ours)
    svix_style = {k.replace("webhook-", "svix-"): v for k, v in ours.items()}
    theirs.verify(BODY, svix_style)


def test_stripe_both_ways():
    stripe = pytest.importorskip("stripe")
    secret = gatepass.generate_secret("stripe")
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), secret)
    msg = gatepass.WebhookVerifier("stripe", secret).verify(BODY, {"Stripe-Signature": header})
    assert abs(msg.timestamp - time.time()) < 5
    ours = gatepass.WebhookSigner("stripe", secret).sign(BODY)
    assert stripe.WebhookSignature.verify_header(BODY.decode(), ours["Stripe-Signature"], secret, tolerance=300)
    event_body = json.dumps({"id": "evt_1", "object": "event", "type": "bot.created", "data": {"object": {}}})
    event = stripe.Webhook.construct_event(
        event_body, gatepass.WebhookSigner("stripe", secret).sign(event_body)["Stripe-Signature"], secret
    )
    assert event["id"] == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY.decode() + " ", ours["Stripe-Signature"], secret, tolerance=300)


def test_slack_sdk_both_ways():
    signature = pytest.importorskip("slack_sdk.signature")
    secret = gatepass.generate_secret("slack")
    theirs = signature.SignatureVerifier(secret)
    ts = str(int(time.time()))
    sig = theirs.generate_signature(timestamp=ts, body=BODY)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
    assert gatepass.WebhookVerifier("slack", secret).verify(BODY, headers).timestamp == int(ts)
    ours = gatepass.WebhookSigner("slack", secret).sign(BODY)
    assert theirs.is_valid(BODY, ours["X-Slack-Request-Timestamp"], ours["X-Slack-Signature"])
    assert not theirs.is_valid(BODY + b"x", ours["X-Slack-Request-Timestamp"], ours["X-Slack-Signature"])


def test_github_and_shopify_against_hmac():
    """No official Python library signs these; the documented recipe is a
    plain HMAC, so check both directions against hashlib/hmac."""
    import base64
    import hashlib
    import hmac

    secret = gatepass.generate_secret("github")
    expected = "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    assert gatepass.WebhookSigner("github", secret).sign(BODY)["X-Hub-Signature-256"] == expected
    gatepass.WebhookVerifier("github", secret).verify(BODY, {"X-Hub-Signature-256": expected})
    secret = gatepass.generate_secret("shopify")
    expected = base64.b64encode(hmac.new(secret.encode(), BODY, hashlib.sha256).digest()).decode()
    assert gatepass.WebhookSigner("shopify", secret).sign(BODY)["X-Shopify-Hmac-Sha256"] == expected
    gatepass.WebhookVerifier("shopify", secret).verify(BODY, {"X-Shopify-Hmac-Sha256": expected})


def test_only_the_schemes_headers_are_read():
    secret = gatepass.generate_secret("standard")
    verifier = gatepass.WebhookVerifier("standard", secret)
    assert verifier.header_names[:3] == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    assert "svix-signature" in verifier.header_names
    signed = gatepass.WebhookSigner("standard", secret).sign(BODY)
    noisy = {k.title(): v for k, v in signed.items()}
    noisy.update({"User-Agent": "x", "X-Junk": "\udcff", "Cookie": "a=b"})  # unread, so never converted
    assert verifier.verify(BODY, noisy).scheme == "standard"
    assert verifier.verify(BODY, [(k.encode(), v.encode()) for k, v in noisy.items() if k != "X-Junk"])
    for scheme in SCHEMES:
        assert gatepass.WebhookVerifier(scheme, gatepass.generate_secret(scheme)).header_names
