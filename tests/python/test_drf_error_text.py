"""DRF without gatepass's exception handler or middleware, over a real served
app: what DRF's own handler (and an app rendering ``get_codes()``) sends is
the core's rendering, never a backend's error text or a key state the policy
hides."""

from __future__ import annotations

import contextlib
import json
import os
import socket
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

import djangoapp.urls  # noqa: E402, F401 - imported while the store works (its @require views check at import)
import gatepass  # noqa: E402
from gatepass.django import get_gate, reset_gate  # noqa: E402

WITHOUT_MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DRF_ONLY = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["gatepass.drf.GatepassAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gatepass.drf.HasScopes"],
    "UNAUTHENTICATED_USER": None,
}


@contextlib.contextmanager
def serve():
    """A real server for the current settings (Django's handler loads the
    middleware when it is built, so it is built inside override_settings)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.handlers.wsgi import WSGIHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    reset_gate()
    httpd = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)
        reset_gate()


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("handler", [None, "djangoapp.codes_handler.with_codes"])
def test_store_failure_answers_the_generic_detail(handler):
    # A Postgres store whose server is not there: the StoreError's message
    # names it ("postgres: error connecting to server: Connection refused").
    store = f"postgres://gp:secret@127.0.0.1:{closed_port()}/gp"
    drf = dict(DRF_ONLY, **({"EXCEPTION_HANDLER": handler} if handler else {}))
    with override_settings(GATEPASS={"STORE": store}, REST_FRAMEWORK=drf, MIDDLEWARE=WITHOUT_MIDDLEWARE):
        with pytest.raises(gatepass.StoreError) as raised:
            get_gate()
        assert "postgres" in raised.value.message  # the text that must not reach the client
        with serve() as server:
            status, headers, body = get(f"{server}/drf/channel-bots", "gp_live_whatever")
    assert status == 503 and headers["Retry-After"] == "1"
    generic = gatepass._native.render_error("store_unavailable", raised.value.message)[2]
    assert body["detail"] == generic["detail"]
    if handler:
        assert body["codes"] == "store_unavailable"
    text = json.dumps(body).lower()
    for leak in ("postgres", "refused", "127.0.0.1", "secret", "os error"):
        assert leak not in text, body


def test_hidden_key_state_stays_hidden_in_get_codes():
    drf = dict(DRF_ONLY, EXCEPTION_HANDLER="djangoapp.codes_handler.with_codes")
    conf = {"STORE": "memory://", "POLICY": {"disclose_key_state": False}}
    with override_settings(GATEPASS=conf, REST_FRAMEWORK=drf, MIDDLEWARE=WITHOUT_MIDDLEWARE):
        with serve() as server:
            gate = get_gate()
            issued = gate.issue("soon revoked", scopes=["bots:read"], resource="channel:ch_1")
            gate.revoke(issued.key.id)
            status, headers, body = get(f"{server}/drf/channel-bots", issued.token)
            outcome = gate.verify(f"Bearer {issued.token}")
            hidden, hidden_challenge = outcome.problem(), outcome.headers["WWW-Authenticate"]
    assert hidden is not None and hidden["code"] != "revoked"
    assert status == 401
    assert body == {"detail": hidden["detail"], "codes": hidden["code"]}
    # DRF's own handler sends the challenge too.
    assert headers["WWW-Authenticate"] == hidden_challenge
