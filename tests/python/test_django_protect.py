"""Django's ``PROTECT_PATHS`` and DRF's declared requirements, over a real
served app: DRF views under a protected prefix need a valid key even with
``AllowAny``, a declared ``required_scopes`` is never skipped, and an app
mounted under a script prefix is protected as well."""

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

CHALLENGE = 'Bearer realm="api", Token realm="api"'


@pytest.fixture(autouse=True)
def fresh_gate():
    reset_gate()
    yield get_gate()
    reset_gate()


def _mounted(app, prefix):
    """A WSGI app served under ``prefix``, as a reverse proxy or a server's
    SCRIPT_NAME mounts it: the prefix moves from PATH_INFO to SCRIPT_NAME."""

    def mounted(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == prefix or path.startswith(prefix + "/"):
            environ["SCRIPT_NAME"] = prefix
            environ["PATH_INFO"] = path[len(prefix) :] or "/"
        return app(environ, start_response)

    return mounted


@pytest.fixture
def server():
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.handlers.wsgi import WSGIHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    app = _mounted(WSGIHandler(), "/app")
    httpd = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


def get(url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def keys(gate):
    return (
        gate.issue("admin", scopes=["admin"]).token,
        gate.issue("reader", scopes=["bots:read"]).token,
    )


@pytest.mark.parametrize("path", ["/protected/drf/admin", "/protected/drf/report"])
def test_drf_views_with_required_scopes_under_protect_paths(fresh_gate, server, path):
    admin, reader = keys(fresh_gate)
    status, headers, body = get(server + path)
    assert status == 401, body
    assert body["code"] == "missing_credentials" and "secret" not in body
    assert headers["WWW-Authenticate"] == CHALLENGE
    assert headers["Content-Type"] == "application/problem+json"
    status, headers, body = get(server + path, reader)
    assert status == 403, body
    assert body["code"] == "insufficient_scope" and body["missing_scopes"] == ["admin"]
    assert headers["WWW-Authenticate"].endswith('error="insufficient_scope", scope="admin"')
    status, _, body = get(server + path, admin)
    assert status == 200 and body["secret"].startswith("admin")


def test_a_drf_view_under_protect_paths_needs_a_key_even_with_allow_any(fresh_gate, server):
    _, reader = keys(fresh_gate)
    status, headers, body = get(server + "/protected/drf/open")
    assert status == 401 and body["code"] == "missing_credentials"
    assert headers["WWW-Authenticate"] == CHALLENGE
    status, _, body = get(server + "/protected/drf/open", "gp_not_a_token")
    assert status == 401 and body["code"] == "malformed_token"
    assert get(server + "/protected/drf/open", reader)[2] == {"key": "reader"}


def test_a_declared_requirement_holds_outside_protect_paths_and_without_drf_authentication(fresh_gate, server):
    admin, reader = keys(fresh_gate)
    status, _, body = get(server + "/drf/declared")
    assert status == 401 and body["code"] == "missing_credentials"
    status, _, body = get(server + "/drf/declared", reader)
    assert status == 403 and body["missing_scopes"] == ["admin"]
    status, _, body = get(server + "/drf/declared", admin)
    assert status == 200 and body == {"key": "admin"}


def test_a_drf_view_counts_one_use_per_request(fresh_gate, server):
    # The middleware verifies, GatepassAuthentication reuses the answer.
    issued = fresh_gate.issue("admin", scopes=["admin"])
    for _ in range(3):
        assert get(server + "/protected/drf/admin", issued.token)[0] == 200
    fresh_gate.flush()
    assert fresh_gate.get(issued.key.id).usage_count == 3


@pytest.mark.parametrize(
    "path",
    ["/app/protected/thing", "/app/protected/drf/open", "/app/protected/drf/admin", "/app/protected/drf/report"],
)
def test_an_app_under_a_script_prefix_is_protected(fresh_gate, server, path):
    _, reader = keys(fresh_gate)
    status, headers, body = get(server + path)
    assert status == 401 and body["code"] == "missing_credentials", (status, body)
    assert headers["WWW-Authenticate"] == CHALLENGE
    status, _, body = get(server + path, reader)
    assert status in (200, 403), (status, body)
    assert (status == 403) == path.endswith(("/admin", "/report"))


def test_force_script_name_is_not_part_of_the_protected_path(fresh_gate):
    from django.test import Client

    with override_settings(FORCE_SCRIPT_NAME="/mounted"):
        r = Client().get("/protected/drf/open")
        assert r.status_code == 401 and json.loads(r.content)["code"] == "missing_credentials"


def test_exempt_keeps_a_declared_requirement(fresh_gate):
    from django.test import RequestFactory

    from djangoapp import views
    from gatepass.django.middleware import GatepassMiddleware, exempt

    view = exempt(views.AdminOnly.as_view())
    middleware = GatepassMiddleware(lambda request: None)
    request = RequestFactory().get("/protected/drf/admin")
    middleware.process_request(request)
    r = middleware.process_view(request, view, (), {})
    assert r is not None and r.status_code == 401
    open_view = exempt(views.OpenUnderProtected.as_view())
    request = RequestFactory().get("/protected/drf/open")
    middleware.process_request(request)
    assert middleware.process_view(request, open_view, (), {}) is None


def test_required_scopes_goes_above_api_view():
    from gatepass.drf import required_scopes

    with pytest.raises(TypeError, match="above @api_view"):

        @required_scopes(["admin"])
        def plain(request):  # pragma: no cover - never called
            return None


def test_management_commands_never_repeat_a_token_given_as_a_key_id(tmp_path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with override_settings(GATEPASS={"STORE": f"sqlite:///{tmp_path}/mc.db"}):
        token = get_gate().issue("prod").token
        for command in ("gatepass_show", "gatepass_revoke", "gatepass_rotate", "gatepass_delete"):
            out, err = io.StringIO(), io.StringIO()
            with pytest.raises(CommandError) as e:
                call_command(command, token, stdout=out, stderr=err)
            assert "a token was given where a key id belongs" in str(e.value)
            body = token.rsplit("_", 1)[1]
            assert body[:12] not in str(e.value) + out.getvalue() + err.getvalue(), command
