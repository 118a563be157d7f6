"""The management API mounted in Flask and FastAPI, over real servers on a
real SQLite store: the card lifecycle, owner isolation, same-origin and JSON
rules, names as data, bounds, login, and the mount's trailing-slash redirect
(the checks themselves are in manage_http.py, shared with Django)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import pytest

import gatepass
import manage_http as m

flask = pytest.importorskip("flask")
fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
from fastapi import Request  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from gatepass.fastapi import GatepassSecurity, install, manage_router  # noqa: E402
from gatepass.flask import Gatepass, manage_blueprint  # noqa: E402

# The test apps' "login": a header naming the user, standing for a session.
LOGIN_HEADER = "X-Test-User"


def principal_for(user: Optional[str]) -> Optional[gatepass.Principal]:
    """The test apps' users: the principals of tests/vectors/manage.json
    (an owner of null is operator mode), and anyone else as their own owner."""
    if not user:
        return None
    known = m.VECTOR["principals"].get(user)
    if known is None:
        return gatepass.Principal(owner=f"workspace:{user}", actor=f"user:{user}")
    if known["owner"] is None:
        return gatepass.Principal(operator=True, actor=known["actor"])
    return gatepass.Principal(owner=known["owner"], actor=known["actor"])


def flask_app(gate: gatepass.Gate) -> Any:
    app = flask.Flask(__name__)
    gp = Gatepass(app, gate=gate)

    @app.get("/v1/bots")
    @gp.require(["bots:read"])
    def bots() -> Dict[str, Any]:
        return {"owner": gp.current_key.subject}

    @app.get("/v1/any-key")
    @gp.require()
    def any_key() -> Dict[str, Any]:
        return {"ok": True}

    app.register_blueprint(
        manage_blueprint(gp, principal=lambda request: principal_for(request.headers.get(LOGIN_HEADER))),
        url_prefix="/tokens",
    )
    return app


def fastapi_app(gate: gatepass.Gate) -> Any:
    app = fastapi.FastAPI()
    install(app)
    api_key = GatepassSecurity(gate)

    @app.get("/v1/bots")
    def bots(key: gatepass.KeyInfo = fastapi.Security(api_key, scopes=["bots:read"])) -> Dict[str, Any]:
        return {"owner": key.subject}

    @app.get("/v1/any-key")
    def any_key(key: gatepass.KeyInfo = fastapi.Security(api_key)) -> Dict[str, Any]:
        return {"ok": True}

    # A dependency standing for the app's own login dependency.
    def current_principal(request: Request) -> Optional[gatepass.Principal]:
        return principal_for(request.headers.get(LOGIN_HEADER))

    app.include_router(manage_router(gate, principal=current_principal), prefix="/tokens")
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_flask(app: Any) -> Tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(5)

    return f"http://127.0.0.1:{server.server_port}", stop


def serve_fastapi(app: Any) -> Tuple[str, Callable[[], None]]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{port}", stop


FRAMEWORKS = {"flask": (flask_app, serve_flask), "fastapi": (fastapi_app, serve_fastapi)}


@pytest.fixture(params=sorted(FRAMEWORKS))
def base(request: Any, sqlite_gate: gatepass.Gate) -> Iterator[str]:
    make, serve = FRAMEWORKS[request.param]
    url, stop = serve(make(sqlite_gate))
    yield url
    stop()


def user(base: str, name: Optional[str]) -> m.User:
    return m.User(base, "/tokens/", {LOGIN_HEADER: name} if name else {})


def outcome_at(base: str, token: str) -> str:
    r = m.protected(base, token, "/v1/any-key")
    return "valid" if r.status == 200 else str(r.problem_code())


def test_the_shared_vector_over_http(base: str) -> None:
    users = {name: user(base, name) for name in m.VECTOR["principals"]}
    assert m.replay_vector({**users, "nobody": None}, lambda token: outcome_at(base, token)) > 40


def test_card_lifecycle(base: str) -> None:
    m.card_lifecycle(user(base, "alice"), base)


def test_another_owners_key_is_404_on_every_route(base: str) -> None:
    m.other_owner_is_404(user(base, "alice"), user(base, "bob"))


def test_changes_need_same_origin_and_a_json_body(base: str) -> None:
    m.changes_need_same_origin_and_json(user(base, "alice"))


def test_names_with_markup_round_trip_as_data(base: str) -> None:
    m.names_are_data(user(base, "alice"))


def test_oversized_inputs_are_4xx_problems(base: str) -> None:
    m.bounds_are_4xx(user(base, "alice"))


def test_no_login_is_401_login_required(base: str) -> None:
    m.logged_out_is_401(user(base, None))


def test_mount_redirects_to_its_slash(base: str) -> None:
    m.mount_redirects_to_slash(base, "/tokens/", {LOGIN_HEADER: "alice"})


def test_head_is_get_without_a_body(base: str) -> None:
    r = m.http("HEAD", f"{base}/tokens/keys", headers={LOGIN_HEADER: "alice"})
    assert r.status == 200 and r.body == b""
    assert r.headers["Content-Type"].startswith("application/json")


def test_options_and_head_are_the_cores_answers(base: str) -> None:
    m.options_and_head(user(base, "alice"))


def test_principal_without_owner_needs_operator() -> None:
    with pytest.raises(ValueError, match="operator=True"):
        gatepass.Principal(owner=None, actor="user:1")
    with pytest.raises(TypeError, match="actor"):
        gatepass.Principal(owner="w1")
    operator = gatepass.Principal(operator=True, actor="staff:ann")
    assert operator.owner is None


def test_manage_releases_the_gil_while_the_store_waits(tmp_path: Any) -> None:
    """Another process holds SQLite's write lock; ``manage`` waits for it in
    the core. The main thread can tell that process to let go (Python code,
    which needs the GIL) only if that wait released the GIL; otherwise the
    core gives up after its busy timeout and answers 503. (The lock is held
    by another process because POSIX locks of one process never conflict.)"""
    import subprocess
    import sys

    from gatepass.manage import answer

    path = tmp_path / "gil.db"
    gate = gatepass.Gate(f"sqlite:///{path}")
    gate.issue("warm-up", subject="w")  # the schema exists
    hold = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.execute('COMMIT')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    result: Dict[str, Any] = {}
    entered = threading.Event()

    def work() -> None:
        entered.set()
        who = gatepass.Principal(owner="w", actor="user:w")
        headers = [("Origin", "http://app.example"), ("Content-Type", "application/json")]
        result["answer"] = answer(gate, who, "POST", "keys", "", headers, "http://app.example", b'{"name": "n"}')

    worker = threading.Thread(target=work)
    worker.start()
    entered.wait()
    time.sleep(0.3)  # lets the worker reach the lock; not an assertion
    holder.stdin.write("\n")
    holder.stdin.flush()
    worker.join(60)
    holder.wait(30)
    status, _, body = result["answer"]
    assert status == 201, body
