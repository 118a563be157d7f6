"""The management API mounted in a Django project with sessions, auth, CSRF
and the admin (tests/python/djangomanage/), served in its own process over
real HTTP on a real SQLite store: the shared checks of manage_http.py with a
real login, Django's own CSRF refusal, and the admin's operator-mode entry."""

from __future__ import annotations

import os
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest

import manage_http as m

pytest.importorskip("django")

HERE = Path(__file__).resolve().parent


def start(tmp: Path) -> Tuple[str, subprocess.Popen[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        # Not the djangoapp settings other test modules put in os.environ.
        "DJANGO_SETTINGS_MODULE": "djangomanage.settings",
        "DJANGOMANAGE_DB": str(tmp / "django.db"),
        "GATEPASS_STORE": f"sqlite:///{tmp / 'gatepass.db'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "djangomanage.serve"],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the Django test project did not start: {line!r} {err}")
    return line.split()[-1], proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, proc = start(tmp_path_factory.mktemp("djangomanage"))
    yield url
    stop(proc)


def session(base: str, username: str) -> Dict[str, str]:
    """Logs in (a real Django session) and fetches the CSRF cookie from the
    page's GET, as the browser does; the headers the page then sends."""
    r = m.http("GET", f"{base}/login/{username}")
    assert r.status == 200, r.body
    jar = SimpleCookie()
    for value in r.headers.get_all("Set-Cookie"):
        jar.load(value)
    cookie = f"sessionid={jar['sessionid'].value}"
    page = m.http("GET", f"{base}/tokens/", headers={"Cookie": cookie})
    for value in page.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    assert "csrftoken" in jar, "the page's GET sets Django's CSRF cookie"
    csrf = jar["csrftoken"].value
    return {"Cookie": f"{cookie}; csrftoken={csrf}", "X-CSRFToken": csrf}


def user(base: str, username: str) -> m.User:
    return m.User(base, "/tokens/", session(base, username))


def test_card_lifecycle(base: str) -> None:
    m.card_lifecycle(user(base, "alice"), base)


def test_another_owners_key_is_404_on_every_route(base: str) -> None:
    m.other_owner_is_404(user(base, "alice"), user(base, "bob"))


def test_changes_need_same_origin_and_a_json_body(base: str) -> None:
    m.changes_need_same_origin_and_json(user(base, "alice"), framework_checks_origin=True)


def test_names_with_markup_round_trip_as_data(base: str) -> None:
    m.names_are_data(user(base, "alice"))


def test_oversized_inputs_are_4xx_problems(base: str) -> None:
    m.bounds_are_4xx(user(base, "alice"))


def test_no_login_is_401_login_required(base: str) -> None:
    m.logged_out_is_401(m.User(base, "/tokens/"))


def test_options_and_head_are_the_cores_answers(base: str) -> None:
    m.options_and_head(user(base, "alice"))


def test_mount_redirects_to_its_slash(base: str) -> None:
    m.mount_redirects_to_slash(base, "/tokens/", {})


def test_a_change_without_the_csrf_token_is_refused_by_django(base: str) -> None:
    alice = user(base, "alice")
    count = len(alice.get("keys").json["keys"])
    without = m.User(base, "/tokens/", {"Cookie": alice.login["Cookie"]})
    r = without.post("keys", {"name": "no csrf"})
    # Django's own 403 page, not gatepass's problem: the request never reached the core.
    assert r.status == 403 and r.problem_code() is None and b"CSRF" in r.body
    wrong = m.User(base, "/tokens/", {**alice.login, "X-CSRFToken": "x" * 32})
    assert wrong.post("keys", {"name": "wrong csrf"}).status == 403
    assert len(alice.get("keys").json["keys"]) == count


def test_admin_entry_is_operator_mode_for_permitted_staff(base: str) -> None:
    alices = m.create(user(base, "alice"), "alice's admin-visible key")["key"]["id"]
    bobs = m.create(user(base, "bob"), "bob's admin-visible key")["key"]["id"]

    ann = m.User(base, "/admin/gatepass/apitoken/", session(base, "ann"))
    index = m.http("GET", f"{base}/admin/", headers=ann.login)
    assert index.status == 200 and b'href="/admin/gatepass/apitoken/"' in index.body
    listed = {k["id"]: k for k in ann.get("keys?limit=100").json["keys"]}
    assert alices in listed and bobs in listed
    assert listed[bobs]["subject"] == "bob"
    r = ann.post(f"keys/{bobs}/deactivate")
    assert r.status == 200 and r.json["status"] == "inactive", r.body
    events = ann.get(f"events?key={bobs}").json["events"]
    assert events[0]["action"] == "deactivated" and events[0]["actor"] == "staff:ann"

    # Staff without the permission: no entry, no keys.
    sam = m.User(base, "/admin/gatepass/apitoken/", session(base, "sam"))
    index = m.http("GET", f"{base}/admin/", headers=sam.login)
    assert index.status == 200 and b"/admin/gatepass/apitoken/" not in index.body
    r = sam.get("keys")
    assert r.status in (401, 403) and alices.encode() not in r.body

    # Not staff: the admin's login page.
    alice = m.User(base, "/admin/gatepass/apitoken/", session(base, "alice"))
    r = alice.get("keys")
    assert r.status == 302 and "/admin/login/" in r.headers["Location"]


def test_the_shared_vector_over_http(tmp_path: Path) -> None:
    """tests/vectors/manage.json on a fresh store; the vector's operator is
    the admin entry (staff with the permission)."""
    url, proc = start(tmp_path)
    try:
        users: Dict[str, Optional[m.User]] = {
            "alice": user(url, "alice"),
            "bob": user(url, "bob"),
            "operator": m.User(url, "/admin/gatepass/apitoken/", session(url, "ann")),
            "nobody": None,
        }

        def outcome(token: str) -> str:
            r = m.protected(url, token, "/v1/any-key")
            return "valid" if r.status == 200 else str(r.problem_code())

        assert m.replay_vector(users, outcome, framework_checks_origin=True) > 40
    finally:
        stop(proc)
