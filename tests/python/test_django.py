"""Django and DRF: a real project (djangoapp/) through Django's test clients
(sync and async) and a real server; management commands."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import (
    EXPECTED_STATUS,
    break_sqlite_store,
    check_response_for,
    check_store_failure,
    tokens_for_every_outcome,
)

django = pytest.importorskip("django")
pytest.importorskip("rest_framework")

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402

import gatepass  # noqa: E402
from gatepass.django import get_gate, reset_gate  # noqa: E402

WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(autouse=True)
def fresh_gate():
    reset_gate()
    yield get_gate()
    reset_gate()


def auth(header):
    return {"HTTP_AUTHORIZATION": header} if header is not None else {}


def body_of(r):
    return json.loads(r.content)


def test_every_outcome_through_the_decorator(fresh_gate):
    client = Client()
    for code, header in tokens_for_every_outcome(fresh_gate).items():
        r = client.get("/v1/channels/ch_1/bots", **auth(header))
        if code == "valid":
            assert r.status_code == 200 and body_of(r) == {"name": "good", "channel": "ch_1"}
            continue
        assert r["Content-Type"] == "application/problem+json"
        check_response_for(code, r.status_code, r.headers, body_of(r))


def test_every_outcome_through_drf(fresh_gate):
    client = Client()
    for code, header in tokens_for_every_outcome(fresh_gate).items():
        r = client.get("/drf/channel-bots", **auth(header))
        if code == "valid":
            assert r.status_code == 200 and body_of(r) == {"key": "good"}
            continue
        assert r["Content-Type"] == "application/problem+json", (code, r.content)
        check_response_for(code, r.status_code, r.headers, body_of(r))


def test_async_view_and_async_client(fresh_gate):
    asyncio.run(_async_view_and_async_client(fresh_gate))


async def _async_view_and_async_client(fresh_gate):
    writer = fresh_gate.issue("w", scopes=["bots:write", "channels:write"]).token
    reader = fresh_gate.issue("r", scopes=["bots:read"]).token
    client = AsyncClient()
    r = await client.get("/v1/admin", headers={"Authorization": f"Bearer {writer}"})
    assert r.status_code == 200 and body_of(r) == {"name": "w", "async": True}
    r = await client.get("/v1/admin", headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and body_of(r)["code"] == "insufficient_scope"
    r = await client.get("/v1/admin")
    assert r.status_code == 401 and r["WWW-Authenticate"] == 'Bearer realm="api", Token realm="api"'
    body = b'{"a":1}'
    signed = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_a")
    r = await client.post("/hooks/async", body, content_type="application/json", headers=signed)
    assert r.status_code == 200 and body_of(r) == {"id": "msg_a"}


def test_any_of_middleware_and_exceptions(fresh_gate):
    client = Client()
    reader = fresh_gate.issue("reader", scopes=["channels:read"]).token
    assert body_of(client.get("/v1/any", **auth(f"Bearer {reader}"))) == {"name": "reader"}
    r = client.get("/protected/thing")
    assert r.status_code == 401 and body_of(r)["code"] == "missing_credentials"
    assert body_of(client.get("/protected/thing", **auth(f"Bearer {reader}"))) == {"name": "reader"}
    assert body_of(client.get("/public")) == {"key": None}
    r = client.get("/raises", **auth(f"Bearer {reader}"))
    assert r.status_code == 403 and body_of(r)["code"] == "insufficient_scope"
    assert r["WWW-Authenticate"].endswith('scope="admin"')


def test_webhook_decorator(fresh_gate):
    client = Client()
    body = b'{"event":"x"}'
    signed = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_d")
    r = client.post("/hooks/standard", body, content_type="application/json", headers=signed)
    assert r.status_code == 200 and body_of(r) == {"id": "msg_d"}
    r = client.post("/hooks/standard", b"{}", content_type="application/json", headers=signed)
    assert r.status_code == 401 and body_of(r)["code"] == "invalid_signature"


def test_store_failure_is_503_with_retry_after(tmp_path):
    db = tmp_path / "broken.db"
    with override_settings(GATEPASS={"STORE": f"sqlite:///{db}", "PROTECT_PATHS": ["/protected/"]}):
        gate = get_gate()
        token = gate.issue("good", scopes=["bots:read", "channels:read"], resource="channel:ch_1").token
        break_sqlite_store(db)
        client = Client()
        # @require (sync and async views), the middleware's protected paths,
        # a view's own gate.authenticate() (middleware process_exception), DRF.
        for path in ("/v1/channels/ch_1/bots", "/v1/admin", "/protected/thing", "/raises", "/drf/channel-bots"):
            r = client.get(path, **auth(f"Bearer {token}"))
            check_store_failure(r.status_code, r.headers, body_of(r))
        r = asyncio.run(AsyncClient().get("/v1/admin", headers={"Authorization": f"Bearer {token}"}))
        check_store_failure(r.status_code, r.headers, body_of(r))


def test_drf_store_failure_without_the_gatepass_exception_handler(tmp_path):
    db = tmp_path / "broken.db"
    drf = {"DEFAULT_AUTHENTICATION_CLASSES": ["gatepass.drf.GatepassAuthentication"], "UNAUTHENTICATED_USER": None}
    # Without GatepassMiddleware too, which would answer before DRF runs.
    middleware = ["django.middleware.common.CommonMiddleware"]
    with override_settings(GATEPASS={"STORE": f"sqlite:///{db}"}, REST_FRAMEWORK=drf, MIDDLEWARE=middleware):
        token = get_gate().issue("good", scopes=["bots:read"], resource="channel:ch_1").token
        break_sqlite_store(db)
        r = Client().get("/drf/channel-bots", **auth(f"Bearer {token}"))
        assert r.status_code == 503 and r["Retry-After"] == "1"
        # DRF's own handler sends the exception's detail: the core's generic
        # one, not the backend's text ("file is not a database").
        assert body_of(r) == {"detail": gatepass._native.render_error("store_unavailable", "x")[2]["detail"]}


def test_replay_guard_failure_is_503_with_retry_after(failing_redis_url):
    from django.test import RequestFactory

    from gatepass.django import webhook

    verifier = gatepass.WebhookVerifier("standard", [WH_SECRET], replay_guard=failing_redis_url)

    @webhook(verifier)
    def guarded(request):  # pragma: no cover - the guard fails first
        return None

    body = b'{"event":"x"}'
    signed = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_r")
    request = RequestFactory().post("/hooks/guarded", body, content_type="application/json", headers=signed)
    r = guarded(request)
    check_store_failure(r.status_code, r.headers, body_of(r), code="replay_guard_failed")


def test_drf_methods_read_write_and_throttle(fresh_gate):
    client = Client()
    reader = fresh_gate.issue("r", scopes=["bots:read", "channels:read"], subject="agent_1").token
    writer = fresh_gate.issue("w", scopes=["bots:write", "channels:write"]).token
    r = client.get("/drf/bots", **auth(f"Bearer {reader}"))
    assert r.status_code == 200 and body_of(r)["user"] == "agent_1" and body_of(r)["code"] == "valid"
    r = client.post("/drf/bots", **auth(f"Bearer {reader}"))
    assert r.status_code == 403 and body_of(r)["code"] == "insufficient_scope"
    assert r["WWW-Authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')
    assert client.post("/drf/bots", **auth(f"Bearer {writer}")).status_code == 201
    r = client.get("/drf/bots")
    assert r.status_code == 401 and r["WWW-Authenticate"] == 'Bearer realm="api", Token realm="api"'
    assert body_of(r)["code"] == "missing_credentials"
    assert client.get("/drf/channels", **auth(f"Bearer {reader}")).status_code == 200
    r = client.delete("/drf/channels", **auth(f"Bearer {reader}"))
    assert r.status_code == 403 and body_of(r)["missing_scopes"] == ["channels:write"]
    assert client.delete("/drf/channels", **auth(f"Bearer {writer}")).status_code == 204
    limited = fresh_gate.issue("l", rate_limit="1/hour").token
    assert client.get("/drf/throttled", **auth(f"Bearer {limited}")).status_code == 200
    r = client.get("/drf/throttled", **auth(f"Bearer {limited}"))
    assert r.status_code == 429 and body_of(r)["code"] == "rate_limited"
    assert int(r["Retry-After"]) > 0 and r["RateLimit-Policy"] == '"key";q=1;w=3600'


def test_settings_store_and_policy(tmp_path):
    policy = tmp_path / "gatepass.toml"
    policy.write_text('scopes = ["bots:read"]\n[kinds.bot]\nprefix = "bp_bot"\n')
    with override_settings(GATEPASS={"STORE": f"sqlite:///{tmp_path}/dj.db", "POLICY": policy}):
        gate = get_gate()
        assert gate.issue("x", scopes=["bots:read"]).token.startswith("bp_bot_")
        assert (tmp_path / "dj.db").exists()
        with pytest.raises(gatepass.InvalidArgument):
            from gatepass.django import require

            require("bots:reed")
    with override_settings(GATEPASS={"STOR": "x"}):
        with pytest.raises(gatepass.ConfigError):
            get_gate()


def test_management_commands(tmp_path):
    with override_settings(GATEPASS={"STORE": f"sqlite:///{tmp_path}/mc.db"}):
        out = io.StringIO()
        call_command("gatepass_issue", "CLI key", "--scope", "bots:read", "--json", stdout=out)
        issued = json.loads(out.getvalue())
        kid = issued["key"]["id"]
        out = io.StringIO()
        call_command("gatepass_list", stdout=out)
        assert kid in out.getvalue() and issued["token"] not in out.getvalue()
        out = io.StringIO()
        call_command("gatepass_verify", issued["token"], "--scopes", "bots:read", "--json", stdout=out)
        assert json.loads(out.getvalue())["ok"] is True
        call_command("gatepass_deactivate", kid, stdout=io.StringIO())
        call_command("gatepass_activate", kid, stdout=io.StringIO())
        out = io.StringIO()
        call_command("gatepass_rotate", kid, "--json", stdout=out)
        assert json.loads(out.getvalue())["token"] != issued["token"]
        call_command("gatepass_revoke", kid, stdout=io.StringIO())
        out = io.StringIO()
        call_command("gatepass_show", kid, "--json", stdout=out)
        assert json.loads(out.getvalue())["status"] == "revoked"
        with pytest.raises(CommandError) as e:
            call_command("gatepass_verify", issued["token"], stdout=io.StringIO())
        assert e.value.returncode == 1
        call_command("gatepass_delete", kid, stdout=io.StringIO())
        with pytest.raises(CommandError) as e:
            call_command("gatepass_show", kid, stdout=io.StringIO())
        assert e.value.returncode == 3


@pytest.fixture
def django_server():
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.handlers.wsgi import WSGIHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_every_outcome_over_a_real_server(fresh_gate, django_server):
    for code, header in tokens_for_every_outcome(fresh_gate).items():
        req = urllib.request.Request(
            f"{django_server}/drf/channel-bots", headers={"Authorization": header} if header else {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, headers, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        assert status == EXPECTED_STATUS[code], (code, body)
        if code != "valid":
            check_response_for(code, status, headers, json.loads(body))


def test_system_check_finds_unknown_drf_scopes():
    from gatepass.django.apps import check_scopes

    assert check_scopes() == []  # no catalogue: every well-formed scope is known
    with override_settings(GATEPASS={"STORE": "memory://", "POLICY": {"scopes": ["bots:read", "bots:write"]}}):
        errors = check_scopes()
        assert errors and all(e.id == "gatepass.E001" for e in errors)
        text = " ".join(e.msg for e in errors)
        assert "djangoapp.views.Bots POST" in text and "channels:write" in text
        assert "djangoapp.views.Channels GET" in text  # channels:read via ReadWriteScopes
        assert "ChannelBots" not in text


def test_management_commands_for_events_and_usage(tmp_path):
    with override_settings(GATEPASS={"STORE": f"sqlite:///{tmp_path}/ev.db"}):
        out = io.StringIO()
        call_command("gatepass_issue", "Audited", "--scope", "bots:read", "--json", stdout=out)
        issued = json.loads(out.getvalue())
        kid = issued["key"]["id"]
        call_command("gatepass_revoke", kid, "--actor", "user:42", stdout=io.StringIO())
        out = io.StringIO()
        call_command("gatepass_events", "--key", kid, "--json", stdout=out)
        events = json.loads(out.getvalue())["events"]
        assert [e["action"] for e in events] == ["revoked", "issued"]
        assert events[0]["actor"] == "user:42" and events[1]["actor"].startswith("manage.py")
        assert issued["token"] not in out.getvalue()
        assert get_gate().verify(issued["token"]).code == "revoked"
        out = io.StringIO()
        call_command("gatepass_usage", kid, "--json", stdout=out)
        usage = json.loads(out.getvalue())
        assert len(usage["buckets"]) == 30
        # The refusal this process counted is in the history the command reads.
        assert sum(b["refused"].get("revoked", 0) for b in usage["buckets"]) == 1
        with pytest.raises(CommandError) as e:
            call_command("gatepass_usage", "key_AAAAAAAAAAAAAAAA", stdout=io.StringIO())
        assert e.value.returncode == 3
