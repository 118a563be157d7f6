"""Flask: a real app through its test client and through a real server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from conftest import EXPECTED_STATUS, check_response_for, check_store_failure, tokens_for_every_outcome

flask = pytest.importorskip("flask")
import werkzeug.exceptions  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import gatepass  # noqa: E402
from gatepass.flask import Gatepass  # noqa: E402

WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_app(gate: gatepass.Gate):
    app = flask.Flask(__name__)
    gp = Gatepass(app, gate=gate)

    @app.get("/v1/channels/<channel_id>/bots")
    @gp.require(["bots:read"], resource=lambda channel_id: f"channel:{channel_id}")
    def bots(channel_id):
        return {"key": gp.current_key.id, "name": flask.g.gatepass_key.name, "channel": channel_id}

    @app.get("/v1/admin")
    @gp.require("admin or (bots:write and channels:write)")
    def admin():
        return {"ok": True}

    @app.get("/v1/any")
    @gp.require(any_scopes=["channels:read", "admin"])
    def any_scope():
        return {"ok": True}

    @app.post("/hooks/standard")
    @gp.webhook("standard", secrets=[WH_SECRET])
    def hook():
        return {"id": gp.current_webhook.id, "body": flask.request.get_json()}

    return app, gp


def test_every_outcome_over_the_test_client(gate):
    app, _ = make_app(gate)
    client = app.test_client()
    for code, header in tokens_for_every_outcome(gate).items():
        headers = {"Authorization": header} if header is not None else {}
        r = client.get("/v1/channels/ch_1/bots", headers=headers)
        if code == "valid":
            assert r.status_code == 200 and r.json["name"] == "good" and r.json["channel"] == "ch_1"
            continue
        assert r.content_type == "application/problem+json", code
        check_response_for(code, r.status_code, r.headers, r.get_json(force=True))


def test_expression_and_any_of(gate):
    app, _ = make_app(gate)
    client = app.test_client()
    writer = gate.issue("w", scopes=["bots:write", "channels:write"]).token
    reader = gate.issue("r", scopes=["channels:read"]).token
    assert client.get("/v1/admin", headers={"Authorization": f"Bearer {writer}"}).status_code == 200
    r = client.get("/v1/admin", headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and r.get_json(force=True)["code"] == "insufficient_scope"
    assert client.get("/v1/any", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    bots_only = gate.issue("b", scopes=["bots:write"]).token
    r = client.get("/v1/any", headers={"Authorization": f"Bearer {bots_only}"})
    assert r.status_code == 403
    assert r.headers["WWW-Authenticate"].endswith('scope="channels:read admin"')


def test_two_authorization_headers_are_an_invalid_request(gate):
    app, _ = make_app(gate)
    token = gate.issue("t", scopes=["admin"]).token
    r = app.test_client().get(
        "/v1/admin", headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")]
    )
    assert r.status_code == 400 and r.get_json(force=True)["code"] == "invalid_request"


def test_app_error_handlers_still_run(gate):
    app, _ = make_app(gate)
    seen = {}

    @app.errorhandler(401)
    def on_401(e):
        seen["error"] = e
        return {"custom": e.gatepass_error.code}, 401, e.extra_headers

    r = app.test_client().get("/v1/admin")
    assert r.status_code == 401 and r.json == {"custom": "missing_credentials"}
    assert isinstance(seen["error"].gatepass_error, gatepass.Unauthorized)
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="api", Token realm="api"'


def test_init_app_pattern_and_catalogue_check_at_declaration(tmp_path):
    gp = Gatepass(policy={"scopes": ["bots:read"]}, store="memory://")

    @gp.require("bots:reed")
    def view():  # pragma: no cover - never called
        return "x"

    app = flask.Flask(__name__)
    with pytest.raises(gatepass.InvalidArgument) as e:
        gp.init_app(app)
    assert e.value.code == "unknown_scope"
    app2 = flask.Flask(__name__)
    app2.config["GATEPASS_STORE"] = f"sqlite:///{tmp_path}/flask.db"
    gp2 = Gatepass()
    gp2.init_app(app2)
    assert (tmp_path / "flask.db").exists()
    with pytest.raises(gatepass.InvalidArgument):
        gp2.require(["not a scope"])


def test_webhook_decorator(gate):
    app, _ = make_app(gate)
    client = app.test_client()
    body = b'{"event":"bot.created"}'
    headers = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_1")
    r = client.post("/hooks/standard", data=body, headers=headers, content_type="application/json")
    assert r.status_code == 200 and r.json == {"id": "msg_1", "body": {"event": "bot.created"}}
    r = client.post("/hooks/standard", data=body + b" ", headers=headers, content_type="application/json")
    assert r.status_code == 401 and r.get_json(force=True)["code"] == "invalid_signature"
    assert r.content_type == "application/problem+json"
    r = client.post("/hooks/standard", data=body, content_type="application/json")
    assert r.status_code == 400 and r.get_json(force=True)["code"] == "missing_header"


def test_store_failure_is_503_with_retry_after(broken_store):
    gate, header = broken_store
    app, gp = make_app(gate)
    client = app.test_client()
    for path in ("/v1/channels/ch_1/bots", "/v1/admin", "/v1/any"):
        r = client.get(path, headers={"Authorization": header})
        check_store_failure(r.status_code, r.headers, r.get_json(force=True))
    # A werkzeug ServiceUnavailable, so the app's own 503 handler runs.
    app, gp = make_app(gate)
    client = app.test_client()
    seen = {}

    @app.errorhandler(503)
    def on_503(e):
        seen["error"] = e
        return {"custom": e.gatepass_error.code}, 503, e.extra_headers

    r = client.get("/v1/admin", headers={"Authorization": header})
    assert r.status_code == 503 and r.json == {"custom": "store_unavailable"}
    assert r.headers["Retry-After"] == "1"
    assert isinstance(seen["error"], werkzeug.exceptions.ServiceUnavailable)
    assert isinstance(seen["error"].gatepass_error, gatepass.StoreError)
    with app.test_request_context("/", headers={"Authorization": header}):
        with pytest.raises(werkzeug.exceptions.ServiceUnavailable):
            gp.authenticate()


def test_replay_guard_failure_is_503_with_retry_after(gate, failing_redis_url):
    app = flask.Flask(__name__)
    gp = Gatepass(app, gate=gate)
    verifier = gatepass.WebhookVerifier("standard", [WH_SECRET], replay_guard=failing_redis_url)

    @app.post("/hooks/guarded")
    @gp.webhook(verifier)
    def guarded():  # pragma: no cover - the guard fails first
        return {"ok": True}

    body = b'{"event":"x"}'
    headers = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_g")
    r = app.test_client().post("/hooks/guarded", data=body, headers=headers, content_type="application/json")
    check_store_failure(r.status_code, r.headers, r.get_json(force=True), code="replay_guard_failed")


@pytest.fixture
def live_server(gate):
    app, _ = make_app(gate)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def http_get(url, headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_every_outcome_over_a_real_server(gate, live_server):
    for code, header in tokens_for_every_outcome(gate).items():
        headers = {"Authorization": header} if header is not None else {}
        status, h, body = http_get(f"{live_server}/v1/channels/ch_1/bots", headers)
        assert status == EXPECTED_STATUS[code]
        if code != "valid":
            assert h["Content-Type"] == "application/problem+json"
            check_response_for(code, status, h, json.loads(body))
