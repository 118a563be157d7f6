"""FastAPI: OpenAPI security entries, every outcome through TestClient and a
real uvicorn server on localhost, and the webhook dependency."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from conftest import EXPECTED_STATUS, check_response_for, check_store_failure, tokens_for_every_outcome

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
from fastapi import Depends, FastAPI, Request, Security  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import gatepass  # noqa: E402
from gatepass.fastapi import GatepassSecurity, WebhookDependency, check_routes, install  # noqa: E402

WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_app(gate: gatepass.Gate) -> FastAPI:
    api_key = GatepassSecurity(gate)
    channel_key = GatepassSecurity(gate, resource=lambda r: f"channel:{r.path_params['channel_id']}")
    app = FastAPI()
    install(app)

    @app.get("/v1/channels/{channel_id}/bots")
    def bots(channel_id: str, key: gatepass.KeyInfo = Security(channel_key, scopes=["bots:read"])):
        return {"name": key.name, "channel": channel_id}

    @app.get("/v1/admin")
    def admin(key: gatepass.KeyInfo = Depends(api_key.require("admin or (bots:write and channels:write)"))):
        return {"name": key.name}

    @app.get("/v1/any")
    def any_scope(request: Request, key=Security(api_key.require(any_scopes=["channels:read", "admin"]))):
        return {"name": key.name, "state": request.state.gatepass_key.id == key.id}

    @app.get("/v1/optional")
    def optional(key=Depends(GatepassSecurity(gate, auto_error=False))):
        return {"name": key.name if key else None}

    hook = WebhookDependency("standard", secrets=[WH_SECRET])

    @app.post("/hooks/standard")
    async def webhook(msg: gatepass.VerifiedWebhook = Depends(hook)):
        return {"id": msg.id, "scheme": msg.scheme}

    return app


def test_openapi_lists_the_scheme_and_scopes(gate):
    schema = TestClient(make_app(gate)).get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["gatepass"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "gatepass token",
        "description": "API token: `Authorization: Bearer <token>`",
    }
    op = schema["paths"]["/v1/channels/{channel_id}/bots"]["get"]
    assert op["security"] == [{"gatepass": ["bots:read"]}]
    assert schema["paths"]["/v1/admin"]["get"]["security"] == [{"gatepass": []}]


def test_every_outcome_over_testclient(gate):
    client = TestClient(make_app(gate))
    for code, header in tokens_for_every_outcome(gate).items():
        headers = {"Authorization": header} if header is not None else {}
        r = client.get("/v1/channels/ch_1/bots", headers=headers)
        if code == "valid":
            assert r.status_code == 200 and r.json() == {"name": "good", "channel": "ch_1"}
            continue
        assert r.headers["content-type"] == "application/problem+json"
        check_response_for(code, r.status_code, r.headers, r.json())


def test_expressions_any_of_optional(gate):
    client = TestClient(make_app(gate))
    writer = gate.issue("w", scopes=["bots:write", "channels:write"]).token
    bots_only = gate.issue("b", scopes=["bots:write"]).token
    assert client.get("/v1/admin", headers={"Authorization": f"Bearer {writer}"}).json() == {"name": "w"}
    r = client.get("/v1/admin", headers={"Authorization": f"Bearer {bots_only}"})
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert client.get("/v1/any", headers={"Authorization": f"Bearer {writer}"}).json() == {"name": "w", "state": True}
    assert client.get("/v1/any", headers={"Authorization": f"Bearer {bots_only}"}).status_code == 403
    assert client.get("/v1/optional").json() == {"name": None}
    assert client.get("/v1/optional", headers={"Authorization": f"Bearer {writer}"}).json() == {"name": "w"}
    assert client.get("/v1/optional", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_unknown_scope_fails_at_declaration():
    g = gatepass.Gate("memory://", policy={"scopes": ["bots:read"]})
    with pytest.raises(gatepass.InvalidArgument):
        GatepassSecurity(g).require("bots:reed")
    dep = GatepassSecurity(g)
    app = FastAPI()

    @app.get("/ok")
    def ok(key=Security(dep, scopes=["bots:read"])):
        return {}

    check_routes(app)

    @app.get("/typo")
    def typo(key=Security(dep, scopes=["bots:reed"])):
        return {}

    with pytest.raises(gatepass.InvalidArgument) as e:
        install(app)
    assert e.value.code == "unknown_scope"


def test_without_install_status_and_headers_still_right(gate):
    app = FastAPI()
    dep = GatepassSecurity(gate)

    @app.get("/x")
    def x(key=Security(dep, scopes=["bots:read"])):
        return {}

    r = TestClient(app).get("/x")
    assert r.status_code == 401 and r.json()["detail"]["code"] == "missing_credentials"
    assert r.headers["www-authenticate"] == 'Bearer realm="api", Token realm="api"'


def test_webhook_dependency(gate):
    client = TestClient(make_app(gate))
    body = b'{"event":"x"}'
    headers = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_9")
    assert client.post("/hooks/standard", content=body, headers=headers).json() == {"id": "msg_9", "scheme": "standard"}
    r = client.post("/hooks/standard", content=b"{}", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "invalid_signature"


def test_store_failure_is_503_with_retry_after(broken_store):
    gate, header = broken_store
    client = TestClient(make_app(gate))
    for path in ("/v1/channels/ch_1/bots", "/v1/admin", "/v1/any", "/v1/optional"):
        r = client.get(path, headers={"Authorization": header})
        check_store_failure(r.status_code, r.headers, r.json())
    # Without install(): FastAPI's own handler, still 503 and Retry-After.
    app = FastAPI()

    @app.get("/x")
    def x(key=Security(GatepassSecurity(gate), scopes=["bots:read"])):  # pragma: no cover
        return {}

    r = TestClient(app).get("/x", headers={"Authorization": header})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json()["detail"]["code"] == "store_unavailable"


def test_replay_guard_failure_is_503_with_retry_after(gate, failing_redis_url):
    app = FastAPI()
    install(app)
    hook = WebhookDependency(gatepass.WebhookVerifier("standard", [WH_SECRET], replay_guard=failing_redis_url))

    @app.post("/hooks/guarded")
    async def guarded(msg: gatepass.VerifiedWebhook = Depends(hook)):  # pragma: no cover
        return {}

    body = b'{"event":"x"}'
    headers = gatepass.WebhookSigner("standard", WH_SECRET).sign(body, id="msg_f")
    r = TestClient(app).post("/hooks/guarded", content=body, headers=headers)
    check_store_failure(r.status_code, r.headers, r.json(), code="replay_guard_failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def uvicorn_server(gate):
    port = free_port()
    config = uvicorn.Config(make_app(gate), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
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


def test_every_outcome_over_a_real_uvicorn_server(gate, uvicorn_server):
    with httpx.Client(base_url=uvicorn_server, timeout=10) as client:
        for code, header in tokens_for_every_outcome(gate).items():
            headers = {"Authorization": header} if header is not None else {}
            r = client.get("/v1/channels/ch_1/bots", headers=headers)
            assert r.status_code == EXPECTED_STATUS[code]
            if code != "valid":
                check_response_for(code, r.status_code, r.headers, r.json())
        body = b'{"a":1}'
        signed = gatepass.WebhookSigner("standard", WH_SECRET).sign(body)
        assert client.post("/hooks/standard", content=body, headers=signed).status_code == 200
