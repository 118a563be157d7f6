"""Flask over a real server: an app's own ``@app.errorhandler`` renders the
exception's ``description``, which is the core's detail, never a backend's
error text."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

flask = pytest.importorskip("flask")

from werkzeug.serving import make_server  # noqa: E402

import gatepass  # noqa: E402
from conftest import break_sqlite_store  # noqa: E402
from gatepass.flask import Gatepass  # noqa: E402


def serve_app(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def make_app(gate):
    app = flask.Flask(__name__)
    gp = Gatepass(app, gate=gate)

    @app.get("/bots")
    @gp.require(["bots:read"])
    def bots():
        return {"ok": True}

    @app.errorhandler(401)
    @app.errorhandler(503)
    def on_error(e):
        # The usual app handler: the description, as werkzeug's pages show it.
        return {"error": e.description}, e.code, getattr(e, "extra_headers", {})

    return app


def test_store_failure_description_is_the_generic_detail(tmp_path):
    db = tmp_path / "broken.db"
    gate = gatepass.Gate(f"sqlite:///{db}")
    token = gate.issue("good", scopes=["bots:read"]).token
    break_sqlite_store(db)
    with pytest.raises(gatepass.StoreError) as raised:
        gate.verify(f"Bearer {token}")
    assert "not a database" in raised.value.message  # the text that must not reach the client
    server, thread, url = serve_app(make_app(gate))
    try:
        status, headers, body = get(f"{url}/bots", token)
    finally:
        server.shutdown()
        thread.join(5)
    assert status == 503 and headers["Retry-After"] == "1"
    assert body == {"error": raised.value.problem["detail"]}
    assert "database" not in body["error"]


def test_hidden_key_state_description(tmp_path):
    gate = gatepass.Gate("memory://", {"disclose_key_state": False})
    issued = gate.issue("soon revoked", scopes=["bots:read"])
    gate.revoke(issued.key.id)
    hidden = gate.verify(f"Bearer {issued.token}").problem()
    assert hidden is not None and hidden["code"] != "revoked"
    server, thread, url = serve_app(make_app(gate))
    try:
        status, _, body = get(f"{url}/bots", issued.token)
    finally:
        server.shutdown()
        thread.join(5)
    assert status == 401 and body == {"error": hidden["detail"]}
