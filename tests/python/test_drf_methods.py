"""A DRF ``required_scopes`` dict by HTTP method, over a real served app: a
method the dict leaves out (no ``"*"``) is refused for every key instead of
open to any valid key, HEAD and OPTIONS need what GET needs, and the system
check reports the refused methods at start-up. With and without
``GatepassMiddleware`` (which verifies DRF views before DRF runs)."""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

django = pytest.importorskip("django")
pytest.importorskip("rest_framework")

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
django.setup()

from django.test import override_settings  # noqa: E402

from gatepass.django import get_gate, reset_gate  # noqa: E402

WITHOUT_MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]


@pytest.fixture(params=["middleware", "drf-only"])
def server(request):
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.handlers.wsgi import WSGIHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    changes = {"ROOT_URLCONF": "djangoapp.method_urls"}
    if request.param == "drf-only":
        changes["MIDDLEWARE"] = WITHOUT_MIDDLEWARE
    with override_settings(**changes):
        reset_gate()
        httpd = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=Quiet)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_port}"
        httpd.shutdown()
        thread.join(5)
        reset_gate()


def call(url, method, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = b"{}" if method in ("POST", "PUT", "PATCH") else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, h, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, h, body = e.code, e.headers, e.read()
    return status, h, (json.loads(body) if body else None)


def test_documented_viewset_refuses_methods_its_dict_leaves_out(server):
    gate = get_gate()
    nothing = gate.issue("no scopes").token
    everything = gate.issue("all", scopes=["bots:read", "bots:write", "bots:admin"]).token
    for token in (nothing, everything):
        for method in ("PUT", "PATCH", "DELETE"):
            status, headers, body = call(f"{server}/v1/bots/b1/", method, token)
            assert status == 403, (method, status, body)
            assert headers["Content-Type"] == "application/problem+json"
            assert body["code"] == "insufficient_scope" and method in body["detail"]
    # Named methods work as declared.
    assert call(f"{server}/v1/bots/", "GET", nothing)[0] == 403
    assert call(f"{server}/v1/bots/", "GET", everything)[0] == 200
    assert call(f"{server}/v1/bots/", "POST", everything)[0] == 201
    # Without a usable key, a refused method still answers 401 with the challenge.
    status, headers, body = call(f"{server}/v1/bots/b1/", "DELETE")
    assert status == 401 and body["code"] == "missing_credentials"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, _, body = call(f"{server}/v1/bots/b1/", "DELETE", "gp_live_not_a_real_token_at_all")
    assert status == 401 and body["code"] != "valid"


def test_refused_method_spends_no_usage(server):
    issued = get_gate().issue("counted", scopes=["bots:read"], remaining=1)
    assert call(f"{server}/v1/bots/b1/", "DELETE", issued.token)[0] == 403
    assert call(f"{server}/v1/bots/b1/", "GET", issued.token)[0] == 200  # the one use is still there


def test_head_and_options_need_what_get_needs(server):
    gate = get_gate()
    # A valid key without bots:read (bots:write would imply it).
    other = gate.issue("other", scopes=["channels:write"]).token
    reader = gate.issue("reader", scopes=["bots:read"]).token
    for method in ("HEAD", "OPTIONS"):
        status, headers, _ = call(f"{server}/v1/bots/b1/", method, other)
        assert status == 403, method
        assert call(f"{server}/v1/bots/b1/", method, reader)[0] == 200, method
    status, headers, _ = call(f"{server}/v1/bots/", "HEAD")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")


def test_star_entry_covers_unnamed_methods(server):
    gate = get_gate()
    reader = gate.issue("reader", scopes=["bots:read"]).token
    admin = gate.issue("admin", scopes=["bots:admin"]).token
    assert call(f"{server}/v1/star-bots/b1/", "GET", reader)[0] == 200  # "get": names are case-blind
    assert call(f"{server}/v1/star-bots/b1/", "HEAD", reader)[0] == 200  # HEAD follows GET, not "*"
    assert call(f"{server}/v1/star-bots/b1/", "DELETE", reader)[0] == 403
    assert call(f"{server}/v1/star-bots/b1/", "DELETE", admin)[0] == 204
    assert call(f"{server}/v1/star-bots/b1/", "PUT", admin)[0] == 200


def test_system_check_warns_about_refused_methods():
    from gatepass.django.apps import check_scopes
    from gatepass.drf import check_refused_methods

    with override_settings(ROOT_URLCONF="djangoapp.method_urls"):
        reset_gate()
        found = check_refused_methods()
        assert len(found) == 1, found
        assert "djangoapp.method_views.BotViewSet" in found[0]
        for method in ("PUT", "PATCH", "DELETE"):
            assert method in found[0]
        assert "GET" not in found[0] and "POST" not in found[0] and "HEAD" not in found[0]
        messages = check_scopes()
        assert [m.id for m in messages] == ["gatepass.W001"]
        assert messages[0].msg == found[0]
    reset_gate()
