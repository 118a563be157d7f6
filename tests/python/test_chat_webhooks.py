"""Webhooks from the chat platforms: meta, line, discord, intercom, chatwoot,
``token`` with ``header=`` (Telegram) and Standard Webhooks' Ed25519 form —
round trips, Meta's subscription handshake in Flask, Django and FastAPI, and
cross-checks in both directions with line-bot-sdk, discord-interactions and
PyNaCl (libsodium)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

import gatepass

NEW = ["meta", "line", "discord", "intercom", "chatwoot"]
BODY = json.dumps({"event": "message_created", "text": "héllo"}).encode()
TG = "X-Telegram-Bot-Api-Secret-Token"
META_QUERY = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatpacking"
# A rejected webhook is a 4xx; which one (400, or 401 for a bad signature) is
# the core's error table's to say, so these tests pin the code, not the number.
REJECTED = (400, 401)


def keys(scheme):
    """(signing key, verifying key): a key pair for discord, else one secret."""
    if scheme == "discord":
        return gatepass.generate_keypair(scheme)
    secret = gatepass.generate_secret(scheme)
    return secret, secret


@pytest.mark.parametrize("scheme", NEW)
def test_round_trip_and_failures(scheme):
    signing, verifying = keys(scheme)
    headers = gatepass.WebhookSigner(scheme, signing).sign(BODY, id="delivery-1")
    verifier = gatepass.WebhookVerifier(scheme, verifying)
    assert verifier.verify(BODY, headers).scheme == scheme
    with pytest.raises(gatepass.WebhookError) as e:
        verifier.verify(BODY + b" ", headers)
    assert e.value.code == "invalid_signature" and e.value.status in REJECTED
    with pytest.raises(gatepass.WebhookError) as e:
        verifier.verify(BODY, {})
    assert e.value.code == "missing_header" and e.value.status == 400
    other = gatepass.WebhookVerifier(scheme, keys(scheme)[1])
    with pytest.raises(gatepass.WebhookError):
        other.verify(BODY, headers)
    rotated = gatepass.WebhookVerifier(scheme, [keys(scheme)[1], verifying])
    msg = rotated.verify(BODY, headers)
    if scheme in ("discord", "chatwoot"):
        assert abs(msg.timestamp - time.time()) < 60
    if scheme == "chatwoot":
        assert msg.id == "delivery-1"
    for text in (repr(verifier), repr(msg), str(e.value)):
        assert signing not in text


def test_discord_keys_are_pairs():
    signing, verifying = gatepass.generate_keypair("discord")
    assert len(signing) == 64 and len(verifying) == 64 and signing != verifying
    assert gatepass.public_key("discord", signing) == verifying
    with pytest.raises(gatepass.ConfigError):
        gatepass.generate_secret("discord")
    # a small-order public key (the identity point) is refused at construction
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookVerifier("discord", "01" + "00" * 31)
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookVerifier("discord", "not hex")


def test_standard_asymmetric_keys():
    sk, pk = gatepass.generate_keypair("standard")
    assert sk.startswith("whsk_") and pk.startswith("whpk_")
    assert gatepass.public_key("standard", sk) == pk
    headers = gatepass.WebhookSigner("standard", sk).sign(BODY)
    assert headers["webhook-signature"].startswith("v1a,")
    assert gatepass.WebhookVerifier("standard", pk).verify(BODY, headers).id == headers["webhook-id"]
    # a verifier holding both an HMAC secret and a public key takes either form
    hmac_secret = gatepass.generate_secret("standard")
    both = gatepass.WebhookVerifier("standard", [hmac_secret, pk])
    both.verify(BODY, headers)
    both.verify(BODY, gatepass.WebhookSigner("standard", hmac_secret).sign(BODY))
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookVerifier("standard", sk)  # the signing key does not verify
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookSigner("standard", pk)  # nor does the public key sign


def test_token_in_a_custom_header():
    secret = "Tg_secret-123"
    verifier = gatepass.WebhookVerifier("token", secret, header=TG)
    assert verifier.header_names == [TG.lower()]
    headers = gatepass.WebhookSigner("token", secret, header=TG).sign(b"{}")
    assert headers == {TG.lower(): secret}
    verifier.verify(b"{}", {TG: secret})
    for bad in ({TG: "Bearer " + secret}, {TG: secret + "x"}):
        with pytest.raises(gatepass.WebhookError) as e:
            verifier.verify(b"{}", bad)
        assert e.value.code == "invalid_signature"
    with pytest.raises(gatepass.WebhookError) as e:
        verifier.verify(b"{}", {"Authorization": secret})
    assert e.value.code == "missing_header" and TG.lower() in str(e.value)
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookVerifier("token", secret, header="not a header")
    with pytest.raises(gatepass.ConfigError):
        gatepass.WebhookVerifier("github", secret, header=TG)


def test_meta_challenge():
    assert gatepass.meta_challenge(META_QUERY, "meatpacking") == "1158201444"
    assert gatepass.meta_challenge(META_QUERY, ["old", "meatpacking"]) == "1158201444"
    with pytest.raises(gatepass.WebhookError) as e:
        gatepass.meta_challenge(META_QUERY, "meatpackin")
    assert e.value.code == "invalid_signature" and e.value.status in REJECTED
    with pytest.raises(gatepass.ConfigError):
        gatepass.meta_challenge(META_QUERY, [])


# ----- frameworks --------------------------------------------------------------


def _signed(scheme):
    signing, verifying = keys(scheme)
    return verifying, gatepass.WebhookSigner(scheme, signing).sign(BODY)


def test_flask_helpers():
    flask = pytest.importorskip("flask")
    from gatepass.flask import Gatepass, meta_subscription

    app = flask.Flask(__name__)
    gp = Gatepass(app, gate=gatepass.Gate("memory://"))
    app.add_url_rule("/hooks/meta", "meta_subscribe", meta_subscription("meatpacking"), methods=["GET"])
    signed = {scheme: _signed(scheme) for scheme in NEW}
    for scheme in NEW:

        def view(scheme=scheme):
            return {"scheme": gp.current_webhook.scheme}

        app.add_url_rule(
            f"/hooks/{scheme}", f"hook_{scheme}", gp.webhook(scheme, signed[scheme][0])(view), methods=["POST"]
        )
    app.add_url_rule(
        "/hooks/telegram", "telegram", gp.webhook("token", "Tg_secret-123", header=TG)(lambda: "ok"), methods=["POST"]
    )
    client = app.test_client()
    r = client.get("/hooks/meta?" + META_QUERY)
    assert r.status_code == 200 and r.data == b"1158201444" and r.mimetype == "text/plain"
    r = client.get("/hooks/meta?" + META_QUERY.replace("meatpacking", "guess"))
    assert r.status_code in REJECTED and r.get_json(force=True)["code"] == "invalid_signature"
    assert b"meatpacking" not in r.data
    for scheme in NEW:
        r = client.post(f"/hooks/{scheme}", data=BODY, headers=signed[scheme][1])
        assert r.status_code == 200 and r.json == {"scheme": scheme}, (scheme, r.data)
        r = client.post(f"/hooks/{scheme}", data=BODY + b"x", headers=signed[scheme][1])
        assert r.status_code in REJECTED and r.get_json(force=True)["code"] == "invalid_signature", scheme
    assert client.post("/hooks/telegram", data=b"{}", headers={TG: "Tg_secret-123"}).status_code == 200
    assert client.post("/hooks/telegram", data=b"{}", headers={TG: "wrong"}).status_code in REJECTED
    with pytest.raises(gatepass.ConfigError):
        meta_subscription([])


def test_django_helpers():
    pytest.importorskip("django")
    from django.http import JsonResponse
    from django.test import RequestFactory

    import test_django  # noqa: F401  (configures the Django test project)
    from gatepass.django import meta_subscription, webhook

    factory = RequestFactory()
    view = meta_subscription(["meatpacking"])
    r = view(factory.get("/hooks/meta?" + META_QUERY))
    assert r.status_code == 200 and r.content == b"1158201444" and r["Content-Type"] == "text/plain"
    r = view(factory.get("/hooks/meta?" + META_QUERY.replace("subscribe", "unsubscribe")))
    assert r.status_code == 400 and json.loads(r.content)["code"] == "invalid_header"
    assert view(factory.post("/hooks/meta?" + META_QUERY)).status_code == 405
    # one URL for both: the handshake on GET, the events view on POST
    meta_secret = gatepass.generate_secret("meta")

    @webhook("meta", meta_secret)
    def meta_events(request):
        return JsonResponse({"scheme": request.gatepass_webhook.scheme})

    both = meta_subscription("meatpacking", events=meta_events)
    assert both(factory.get("/hooks/meta?" + META_QUERY)).content == b"1158201444"
    signed = gatepass.WebhookSigner("meta", meta_secret).sign(BODY)
    r = both(factory.post("/hooks/meta", BODY, content_type="application/json", headers=signed))
    assert r.status_code == 200 and json.loads(r.content) == {"scheme": "meta"}
    r = both(factory.post("/hooks/meta", BODY + b"x", content_type="application/json", headers=signed))
    assert r.status_code in REJECTED
    for scheme in NEW:
        verifying, headers = _signed(scheme)

        @webhook(scheme, verifying)
        def hook(request):
            return JsonResponse({"scheme": request.gatepass_webhook.scheme})

        r = hook(factory.post("/hooks/x", BODY, content_type="application/json", headers=headers))
        assert r.status_code == 200 and json.loads(r.content) == {"scheme": scheme}, (scheme, r.content)
        bad = factory.post("/hooks/x", BODY + b"x", content_type="application/json", headers=headers)
        assert hook(bad).status_code in REJECTED


def test_fastapi_helpers():
    pytest.importorskip("fastapi")
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from gatepass.fastapi import WebhookDependency, install, meta_subscription

    app = FastAPI()
    install(app)
    app.add_api_route("/hooks/meta", meta_subscription("meatpacking"), methods=["GET"], include_in_schema=False)
    signed = {scheme: _signed(scheme) for scheme in NEW}
    for scheme in NEW:
        dep = WebhookDependency(scheme, signed[scheme][0])

        async def view(msg: gatepass.VerifiedWebhook = Depends(dep)):
            return {"scheme": msg.scheme}

        app.add_api_route(f"/hooks/{scheme}", view, methods=["POST"])
    client = TestClient(app)
    r = client.get("/hooks/meta?" + META_QUERY)
    assert r.status_code == 200 and r.text == "1158201444" and r.headers["content-type"].startswith("text/plain")
    r = client.get("/hooks/meta?hub.mode=subscribe&hub.verify_token=meatpacking")
    assert r.status_code == 400 and r.json()["code"] == "missing_header"
    for scheme in NEW:
        r = client.post(f"/hooks/{scheme}", content=BODY, headers=signed[scheme][1])
        assert r.status_code == 200 and r.json() == {"scheme": scheme}, (scheme, r.text)
        r = client.post(f"/hooks/{scheme}", content=BODY + b"x", headers=signed[scheme][1])
        assert r.status_code in REJECTED and r.json()["code"] == "invalid_signature"


# ----- cross-checks with the official libraries --------------------------------


def test_line_bot_sdk_both_ways():
    webhook = pytest.importorskip("linebot.v3.webhook")
    secret = gatepass.generate_secret("line")
    body = BODY.decode()
    # gatepass signs -> line-bot-sdk's validator accepts
    sig = gatepass.WebhookSigner("line", secret).sign(BODY)["x-line-signature"]
    assert webhook.SignatureValidator(secret).validate(body, sig)
    assert not webhook.SignatureValidator(secret + "x").validate(body, sig)
    # line-bot-sdk has no signer: a signature its validator accepts verifies with gatepass
    theirs = base64.b64encode(hmac.new(secret.encode(), BODY, hashlib.sha256).digest()).decode()
    assert webhook.SignatureValidator(secret).validate(body, theirs)
    gatepass.WebhookVerifier("line", secret).verify(BODY, {"X-Line-Signature": theirs})


def test_discord_interactions_and_pynacl_both_ways():
    di = pytest.importorskip("discord_interactions")
    signing = pytest.importorskip("nacl.signing")
    # gatepass signs -> discord-interactions (PyNaCl) accepts
    sk, pk = gatepass.generate_keypair("discord")
    h = gatepass.WebhookSigner("discord", sk).sign(BODY)
    assert di.verify_key(BODY, h["X-Signature-Ed25519"], h["X-Signature-Timestamp"], pk)
    assert not di.verify_key(BODY + b" ", h["X-Signature-Ed25519"], h["X-Signature-Timestamp"], pk)
    # PyNaCl signs (as Discord's servers would) -> gatepass accepts
    key = signing.SigningKey.generate()
    ts = str(int(time.time()))
    sig = key.sign(ts.encode() + BODY).signature.hex()
    verifier = gatepass.WebhookVerifier("discord", bytes(key.verify_key).hex())
    verifier.verify(BODY, {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts})
    assert di.verify_key(BODY, sig, ts, bytes(key.verify_key).hex())
    # S + L: libsodium refuses the non-canonical signature, and so does gatepass
    raw = bytes.fromhex(sig)
    order = 2**252 + 27742317777372353535851937790883648493
    s = (int.from_bytes(raw[32:], "little") + order).to_bytes(32, "little")
    malleated = (raw[:32] + s).hex()
    assert not di.verify_key(BODY, malleated, ts, bytes(key.verify_key).hex())
    with pytest.raises(gatepass.WebhookError) as e:
        verifier.verify(BODY, {"X-Signature-Ed25519": malleated, "X-Signature-Timestamp": ts})
    assert e.value.code == "invalid_signature"


def test_standard_v1a_with_pynacl_both_ways():
    signing = pytest.importorskip("nacl.signing")
    # gatepass signs v1a -> PyNaCl verifies with the whpk_ key's bytes
    sk, pk = gatepass.generate_keypair("standard")
    h = gatepass.WebhookSigner("standard", sk).sign(BODY)
    verify_key = signing.VerifyKey(base64.b64decode(pk[len("whpk_") :]))
    content = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + BODY
    verify_key.verify(content, base64.b64decode(h["webhook-signature"].split(",", 1)[1]))
    # PyNaCl signs -> gatepass verifies; its 64-byte secret key is a valid whsk_ too
    key = signing.SigningKey.generate()
    ts = str(int(time.time()))
    sig = base64.b64encode(key.sign(f"msg_1.{ts}.".encode() + BODY).signature).decode()
    whpk = "whpk_" + base64.b64encode(bytes(key.verify_key)).decode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": ts, "webhook-signature": "v1a," + sig}
    gatepass.WebhookVerifier("standard", whpk).verify(BODY, headers)
    whsk = "whsk_" + base64.b64encode(bytes(key) + bytes(key.verify_key)).decode()
    assert gatepass.public_key("standard", whsk) == whpk
    mine = gatepass.WebhookSigner("standard", whsk).sign(BODY, id="msg_1", timestamp=int(ts))
    assert mine["webhook-signature"] == "v1a," + sig  # Ed25519 is deterministic: same bytes as libsodium
