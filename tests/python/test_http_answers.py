"""One answer everywhere: the same requests, sent over real HTTP to a Flask,
a Django (with a DRF view), a FastAPI and an Express app with the same
routes, get the answer the core renders — the same status, headers and
problem body in every framework and in both languages.

Covered: every webhook failure a request can cause (missing or malformed
headers, timestamps out of the window, a wrong signature, a replay, a wrong
shared token) and a key checked against a rate limit (its successes carry
the RateLimit headers, then a 429).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import gatepass

flask = pytest.importorskip("flask")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
django = pytest.importorskip("django")
pytest.importorskip("rest_framework")

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "A" * 32
SHARED_TOKEN = "landbot-shared-token-0123456789"
LIMIT = 3  # requests per minute on the test key

# The headers an answer is compared on (lower case).
COMPARED = ("www-authenticate", "retry-after", "ratelimit", "ratelimit-policy", "content-type")

Answer = Tuple[int, Dict[str, str], Any]


def fetch(base: str, method: str, path: str, headers: Any, body: bytes = b"") -> Answer:
    """One request over a fresh connection; ``headers`` is a dict or a list of
    pairs (to send a field twice)."""
    host, port = base.split("//", 1)[1].split("/", 1)[0].split(":")
    prefix = base.split(f":{port}", 1)[1]
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, prefix + path)
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        for name, value in pairs:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        status, got, raw = r.status, r.headers, r.read()
    finally:
        conn.close()
    picked = {name: got[name] for name in COMPARED if got.get(name) is not None}
    if "content-type" in picked:
        picked["content-type"] = picked["content-type"].split(";")[0]
    return status, picked, json.loads(raw) if raw else None


def signed(secret: str = SECRET, *, shift: int = 0, msg_id: str = "msg_answers") -> Tuple[Dict[str, str], bytes]:
    body = b'{"type":"message.created"}'
    headers = gatepass.WebhookSigner("standard", secret).sign(body, id=msg_id, timestamp=int(time.time()) + shift)
    return {**headers, "Content-Type": "application/json"}, body


# ----- the apps ---------------------------------------------------------------


def serve_flask(store: str) -> Tuple[str, Callable[[], None]]:
    from werkzeug.serving import make_server

    from gatepass.flask import Gatepass

    app = flask.Flask("answers")
    gp = Gatepass(app, gate=gatepass.Gate(store))
    ok = lambda: {"ok": True}  # noqa: E731
    app.post("/hooks/standard", endpoint="standard")(gp.webhook("standard", secrets=[SECRET])(ok))
    app.post("/hooks/replay", endpoint="replay")(gp.webhook("standard", secrets=[SECRET], replay_guard=True)(ok))
    app.post("/hooks/token", endpoint="token")(gp.webhook("token", secrets=[SHARED_TOKEN])(ok))
    app.get("/limited", endpoint="limited")(gp.require()(ok))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def serve_fastapi(store: str) -> Tuple[str, Callable[[], None]]:
    import uvicorn
    from fastapi import Depends, FastAPI, Security

    from gatepass.fastapi import GatepassSecurity, WebhookDependency, install

    app = FastAPI()
    key = GatepassSecurity(gatepass.Gate(store))
    standard = WebhookDependency("standard", secrets=[SECRET])
    replay = WebhookDependency("standard", secrets=[SECRET], replay_guard=True)
    token = WebhookDependency("token", secrets=[SHARED_TOKEN])

    @app.post("/hooks/standard")
    async def hook_standard(_: Any = Depends(standard)) -> Dict[str, bool]:
        return {"ok": True}

    @app.post("/hooks/replay")
    async def hook_replay(_: Any = Depends(replay)) -> Dict[str, bool]:
        return {"ok": True}

    @app.post("/hooks/token")
    async def hook_token(_: Any = Depends(token)) -> Dict[str, bool]:
        return {"ok": True}

    @app.get("/limited")
    async def limited(_: Any = Security(key)) -> Dict[str, bool]:
        return {"ok": True}

    install(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def serve_django(store: str, drf: bool) -> Iterator[str]:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    with override_settings(GATEPASS={"STORE": store}, ROOT_URLCONF="djangoapp.answers_urls"):
        server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_port}" + ("/drf" if drf else "")
        finally:
            server.shutdown()
            server.server_close()


def serve_express(store: str) -> Iterator[str]:
    node = shutil.which("node")
    native = list((ROOT / "bindings-node").glob("*.node"))
    if node is None or not native or not (ROOT / "node_modules" / "express").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("node, the built addon and node_modules are needed for the Express comparison")
        pytest.skip("node, the built addon or node_modules missing")
    proc = subprocess.Popen(
        [node, str(ROOT / "tests" / "node" / "apps" / "answers-server.js"), store, SECRET, SHARED_TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), "the Express app did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Tuple[str, str]:
    """A SQLite store every app opens, with one key limited to LIMIT/minute."""
    url = f"sqlite:///{tmp_path_factory.mktemp('answers') / 'gatepass.db'}"
    gate = gatepass.Gate(url)
    token = gate.issue("limited", rate_limit=f"{LIMIT}/minute").token
    gate.close()
    return url, token


@pytest.fixture(scope="module")
def django_ready() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
    django.setup()


# ----- the requests -----------------------------------------------------------


def requests_for(token: str) -> List[Tuple[str, str, str, Any, bytes, Optional[str], Optional[str]]]:
    """(label, method, path, headers, body, expected code or None, webhook scheme)."""
    good_headers, body = signed()
    bad_ts = {**good_headers, "webhook-timestamp": "12ab"}
    old_headers, _ = signed(shift=-3600)
    new_headers, _ = signed(shift=3600)
    wrong_headers, _ = signed(OTHER_SECRET)
    replay_headers, _ = signed(msg_id="msg_replay")
    auth = {"Authorization": f"Bearer {token}"}
    json_only = {"Content-Type": "application/json"}
    cases = [
        ("no headers", "POST", "/hooks/standard", json_only, body, "missing_header", "standard"),
        ("bad timestamp", "POST", "/hooks/standard", bad_ts, body, "invalid_header", "standard"),
        ("old", "POST", "/hooks/standard", old_headers, body, "timestamp_too_old", "standard"),
        ("future", "POST", "/hooks/standard", new_headers, body, "timestamp_too_new", "standard"),
        ("wrong secret", "POST", "/hooks/standard", wrong_headers, body, "invalid_signature", "standard"),
        ("genuine", "POST", "/hooks/standard", good_headers, body, None, "standard"),
        ("first delivery", "POST", "/hooks/replay", replay_headers, body, None, "standard"),
        ("replayed", "POST", "/hooks/replay", replay_headers, body, "replayed", "standard"),
        ("no token", "POST", "/hooks/token", json_only, body, "missing_header", "token"),
        (
            "wrong token",
            "POST",
            "/hooks/token",
            {**json_only, "Authorization": "Bearer nope"},
            body,
            "invalid_signature",
            "token",
        ),
        (
            "right token",
            "POST",
            "/hooks/token",
            {**json_only, "Authorization": f"Token {SHARED_TOKEN}"},
            body,
            None,
            "token",
        ),
    ]
    # Two Authorization fields: the core decides (invalid_request), in every
    # framework (Node keeps only the first in req.headers).
    two = [("Authorization", f"Bearer {token}"), ("Authorization", "Basic dXNlcjpwYXNz")]
    cases.append(("two authorization fields", "GET", "/limited", two, b"", "invalid_request", None))
    cases += [(f"limited #{i + 1}", "GET", "/limited", auth, b"", None, None) for i in range(LIMIT)]
    cases.append(("limited, over", "GET", "/limited", auth, b"", "rate_limited", None))
    return cases


def answers(base: str, token: str) -> Dict[str, Answer]:
    out = {}
    for label, method, path, headers, body, _code, _scheme in requests_for(token):
        if base.endswith("/drf") and not path.startswith("/limited"):
            # The DRF app serves only the rate-limited route; webhooks are Django's.
            continue
        out[label] = fetch(base, method, path, headers, body)
    return out


def check_against_core(name: str, got: Dict[str, Answer], token: str) -> None:
    """Each answer is the core's: status, headers and body as rendered."""
    for label, _method, _path, _headers, _body, code, scheme in requests_for(token):
        if label not in got:
            continue
        status, headers, body = got[label]
        where = f"{name}: {label}"
        if code is None:
            assert status == 200, (where, status, body)
            assert body == {"ok": True}, where
            if label.startswith("limited"):
                # A success checked against a rate limit carries its headers.
                n = int(label.rsplit("#", 1)[1])
                assert headers.get("ratelimit-policy") == f'"key";q={LIMIT};w=60', (where, headers)
                assert re.fullmatch(rf'"key";r={LIMIT - n};t=\d+', headers.get("ratelimit", "")), (where, headers)
            continue
        assert headers.get("content-type") == "application/problem+json", (where, headers)
        assert body["code"] == code, (where, body)
        if code == "invalid_request":
            assert status == 400 and 'error="invalid_request"' in headers["www-authenticate"], (where, headers)
            continue
        if code == "rate_limited":
            assert status == 429 and headers["retry-after"].isdigit(), (where, headers)
            assert headers.get("ratelimit-policy") == f'"key";q={LIMIT};w=60', where
            continue
        want_status, want_headers, want_problem = gatepass._native.render_error(code, body["detail"], scheme)
        assert (status, body) == (want_status, want_problem), where
        got_headers = {k: v for k, v in headers.items() if k != "content-type"}
        assert got_headers == {k.lower(): v for k, v in want_headers.items()}, where


def without_times(answer: Answer) -> Answer:
    """RateLimit `t=` and Retry-After count seconds from each server's clock."""
    status, headers, body = answer
    headers = dict(headers)
    if "ratelimit" in headers:
        headers["ratelimit"] = re.sub(r"t=\d+", "t=…", headers["ratelimit"])
    if "retry-after" in headers and status == 429:
        headers["retry-after"] = "…"
    return status, headers, body


def test_every_framework_gives_the_core_answer_and_python_matches_node(store, django_ready) -> None:
    url, token = store
    results: Dict[str, Dict[str, Answer]] = {}
    base, stop = serve_flask(url)
    try:
        results["flask"] = answers(base, token)
    finally:
        stop()
    base, stop = serve_fastapi(url)
    try:
        results["fastapi"] = answers(base, token)
    finally:
        stop()
    # Django and DRF share one settings' gate: the key's limit is spent once
    # per gate, so DRF gets a gate of its own (a new server, settings reset).
    for drf in (False, True):
        for base in serve_django(url, drf):
            results["drf" if drf else "django"] = answers(base, token)
    for base in serve_express(url):
        results["express"] = answers(base, token)

    for name, got in results.items():
        check_against_core(name, got, token)
    reference = {label: without_times(a) for label, a in results["express"].items()}
    for name, got in results.items():
        for label, answer in got.items():
            assert without_times(answer) == reference[label], (name, label, answer, reference[label])
