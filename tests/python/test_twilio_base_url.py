"""Twilio signs the public URL it calls. Every framework helper builds that URL
from configuration (``base_url``) plus the request's path and query, never
from the client's ``Host`` header; a twilio route without ``base_url`` is a
configuration error at declaration. Checked over real HTTP servers with a
spoofed ``Host``."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

import gatepass

TOKEN = "twilio-auth-token-for-tests"
BASE = "https://hooks.example.com"
FORM = b"MessageSid=SM1&From=%2B14155550100&Body=hello"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def signed_for(url: str) -> Dict[str, str]:
    return {**gatepass.WebhookSigner("twilio", TOKEN).sign(FORM, url=url), **FORM_HEADERS}


def post(server: str, path: str, headers: Dict[str, str]) -> Tuple[int, bytes]:
    req = urllib.request.Request(f"{server}{path}", data=FORM, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check_server(server: str, path: str) -> None:
    """Genuine: signed for the configured base, whatever Host says. Forged
    host: a delivery Twilio signed for another host (another endpoint of the
    same account) does not verify here by claiming that host."""
    genuine = signed_for(BASE + path)
    for host in ("hooks.example.com", "attacker.example", "127.0.0.1"):
        status, body = post(server, path, {**genuine, "Host": host})
        assert status == 200, (host, status, body)
    # http: what these plain-HTTP servers would have rebuilt from Host
    for origin in ("http://other.example", "https://other.example"):
        other = signed_for(origin + path)
        status, body = post(server, path, {**other, "Host": "other.example"})
        assert status == 401 and b"invalid_signature" in body, (origin, status, body)
    # the path and query are the request's own: a different query is another URL
    status, body = post(server, path + "&extra=1" if "?" in path else path + "?extra=1", genuine)
    assert status == 401, (status, body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- Flask -----------------------------------------------------------------


@pytest.fixture
def flask_server() -> Iterator[str]:
    pytest.importorskip("flask")
    from flask import Flask
    from werkzeug.serving import make_server

    from gatepass.flask import Gatepass

    app = Flask(__name__)
    gp = Gatepass(app, gate=gatepass.Gate("memory://"))

    @app.post("/twilio/sms")
    @gp.webhook("twilio", secrets=[TOKEN], base_url=BASE + "/")
    def sms():
        return {"ok": True}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_the_core_says_which_schemes_sign_the_url():
    assert gatepass.WebhookVerifier("twilio", TOKEN).signs_url is True
    assert gatepass.WebhookVerifier("github", "gh").signs_url is False


def test_flask_uses_the_configured_base_not_host(flask_server):
    check_server(flask_server, "/twilio/sms?tenant=7")
    check_server(flask_server, "/twilio/sms")


def test_flask_twilio_without_base_url_is_a_config_error():
    pytest.importorskip("flask")
    from gatepass.flask import Gatepass

    gp = Gatepass(gate=gatepass.Gate("memory://"))
    with pytest.raises(gatepass.ConfigError, match="base_url"):
        gp.webhook("twilio", secrets=[TOKEN])
    with pytest.raises(gatepass.ConfigError, match="base_url"):
        gp.webhook("twilio", secrets=[TOKEN], base_url="hooks.example.com")
    # other schemes do not sign the URL and need none
    gp.webhook("github", secrets=["gh"])


# -- FastAPI ---------------------------------------------------------------


@pytest.fixture
def fastapi_server() -> Iterator[str]:
    pytest.importorskip("fastapi")
    uvicorn = pytest.importorskip("uvicorn")
    from fastapi import Depends, FastAPI

    from gatepass.fastapi import WebhookDependency, install

    app = FastAPI()
    install(app)
    hook = WebhookDependency("twilio", secrets=[TOKEN], base_url=BASE)

    @app.post("/twilio/sms")
    async def sms(msg: gatepass.VerifiedWebhook = Depends(hook)):
        return {"ok": True}

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_fastapi_uses_the_configured_base_not_host(fastapi_server):
    check_server(fastapi_server, "/twilio/sms?tenant=7")


def test_fastapi_twilio_without_base_url_is_a_config_error():
    pytest.importorskip("fastapi")
    from gatepass.fastapi import WebhookDependency

    with pytest.raises(gatepass.ConfigError, match="base_url"):
        WebhookDependency("twilio", secrets=[TOKEN])


# -- Django and DRF --------------------------------------------------------


@pytest.fixture
def django_server() -> Iterator[str]:
    django = pytest.importorskip("django")
    pytest.importorskip("rest_framework")
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
    django.setup()
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


def test_django_uses_the_configured_base_not_host(django_server):
    check_server(django_server, "/hooks/twilio/sms?tenant=7")


def test_drf_view_uses_the_configured_base_not_host(django_server):
    check_server(django_server, "/drf/hooks/twilio")


def test_django_twilio_without_base_url_is_a_config_error(django_server):
    from gatepass.django import webhook

    with pytest.raises(gatepass.ConfigError, match="base_url"):
        webhook("twilio", secrets=[TOKEN])
