"""Webhook verification never blocks the event loop: with a Redis replay
guard whose server holds its answer, a FastAPI app and an async Django view,
each served by uvicorn (one event loop), answer another request while the
webhook's replay check waits on Redis.

The held server answers the replay script only when that other request has
been answered (or, so that old code ends instead of timing out, after a
bound below the client's 2 s read timeout); the other request reports
whether it ran while the webhook was still waiting."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import types
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import gatepass
from conftest import _resp_command_names

uvicorn = pytest.importorskip("uvicorn")

WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class HeldRedis:
    """Just enough Redis for a replay guard: the handshake at once, the
    replay script (``EVALSHA``/``EVAL``) answered "first delivery" once
    ``release`` is set."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.url = f"redis://127.0.0.1:{self.server.getsockname()[1]}/"
        self.received = threading.Event()
        self.release = threading.Event()
        self.holding = False
        self.conns: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                replies = b""
                for command in _resp_command_names(data):
                    if command == b"PING":
                        replies += b"+PONG\r\n"
                    elif command in (b"EVALSHA", b"EVAL"):
                        self.holding = True
                        self.received.set()
                        # Bounded so that code which blocks the loop still
                        # gets its answer before the client gives up.
                        self.release.wait(1.5)
                        self.holding = False
                        replies += b":1\r\n"
                    else:
                        replies += b"+OK\r\n"
                conn.sendall(replies)

    def close(self) -> None:
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


@pytest.fixture
def held_redis() -> Iterator[HeldRedis]:
    fake = HeldRedis()
    yield fake
    fake.close()


def serve(app: Any) -> Any:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


def held_webhook_and_ping(base: str, fake: HeldRedis) -> Dict[str, Any]:
    """Posts a signed webhook, waits until its replay check reaches Redis,
    then asks ``/ping``; returns both answers."""
    body = b'{"event":"x"}'
    headers = dict(gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_loop"))
    headers["Content-Type"] = "application/json"
    result: Dict[str, Any] = {}

    def post() -> None:
        req = urllib.request.Request(f"{base}/hook", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                result["hook"] = (r.status, json.loads(r.read()))
        except urllib.error.HTTPError as e:
            result["hook"] = (e.code, json.loads(e.read()))

    poster = threading.Thread(target=post)
    poster.start()
    assert fake.received.wait(30), "the replay check never reached Redis"
    with urllib.request.urlopen(f"{base}/ping", timeout=30) as r:
        result["ping"] = json.loads(r.read())
    poster.join(30)
    return result


def test_fastapi_webhook_dependency_does_not_block_the_loop(held_redis: HeldRedis) -> None:
    from fastapi import Depends, FastAPI

    from gatepass.fastapi import WebhookDependency, install

    verifier = gatepass.WebhookVerifier("standard", [WH_SECRET], replay_guard=held_redis.url)
    app = FastAPI()

    @app.post("/hook")
    async def hook(msg: Any = Depends(WebhookDependency(verifier))) -> Dict[str, Any]:
        return {"id": msg.id}

    @app.get("/ping")
    async def ping() -> Dict[str, Any]:
        held = held_redis.holding
        held_redis.release.set()
        return {"while_held": held}

    install(app)
    server, thread, base = serve(app)
    try:
        result = held_webhook_and_ping(base, held_redis)
    finally:
        server.should_exit = True
        thread.join(10)
    assert result["ping"] == {"while_held": True}
    assert result["hook"] == (200, {"id": "msg_loop"})


def test_django_async_webhook_does_not_block_the_loop(held_redis: HeldRedis) -> None:
    django = pytest.importorskip("django")
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
    django.setup()
    from django.core.asgi import get_asgi_application
    from django.http import JsonResponse
    from django.test import override_settings
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from gatepass.django import webhook

    verifier = gatepass.WebhookVerifier("standard", [WH_SECRET], replay_guard=held_redis.url)

    @csrf_exempt
    @webhook(verifier)
    async def hook(request: Any) -> Any:
        return JsonResponse({"id": request.gatepass_webhook.id})

    async def ping(request: Any) -> Any:
        held = held_redis.holding
        held_redis.release.set()
        return JsonResponse({"while_held": held})

    urls = types.ModuleType("loop_urls")  # a URLconf module of this test's own
    urls.urlpatterns = [path("hook", hook), path("ping", ping)]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=urls):
        server, thread, base = serve(get_asgi_application())
        try:
            result = held_webhook_and_ping(base, held_redis)
        finally:
            server.should_exit = True
            thread.join(10)
    assert result["ping"] == {"while_held": True}
    assert result["hook"] == (200, {"id": "msg_loop"})
