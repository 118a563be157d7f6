"""The management API's HTTP checks, shared by every Python mount's tests
(Flask, FastAPI, Django): a small client over a real server, and the
scenarios issue 14 asks each mount to pass. Each framework's test only
starts its app and says how a user logs in."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

MAX_BODY_BYTES = 16 * 1024

#: The same-origin request headers a browser sends from the page.
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def problem_code(self) -> Optional[str]:
        if self.headers.get("Content-Type", "").startswith("application/problem+json"):
            return self.json.get("code")
        return None


def http(method: str, url: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None) -> Answer:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(req, timeout=30) as r:
            return Answer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


@dataclass
class User:
    """A logged-in user of the host app talking to the mount, as the page
    does: same-origin, JSON bodies, the login the app uses (``login``
    headers, e.g. a session cookie and Django's CSRF token)."""

    base: str  # http://127.0.0.1:port
    mount: str  # /tokens/
    login: Dict[str, str] = field(default_factory=dict)
    #: every answer this user got, to check where tokens appear
    seen: List[Tuple[str, str, Answer]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.base

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        raw: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        same_origin: bool = True,
    ) -> Answer:
        h: Dict[str, str] = dict(self.login)
        if same_origin:
            h["Origin"] = self.origin
            h.update(SAME_SITE)
        body = raw
        if payload is not None:
            body = json.dumps(payload).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        answer = http(method, self.base + self.mount + path, body, h)
        self.seen.append((method, path, answer))
        return answer

    def get(self, path: str) -> Answer:
        return self.call("GET", path)

    def post(self, path: str, payload: Any = None) -> Answer:
        return self.call("POST", path, {} if payload is None else payload)


def protected(base: str, token: Optional[str], route: str = "/v1/bots") -> Answer:
    return http("GET", base + route, headers={"Authorization": f"Bearer {token}"} if token else {})


def create(user: User, name: str = "Production Server", **extra: Any) -> Dict[str, Any]:
    r = user.post("keys", {"name": name, "scopes": ["bots:read"], **extra})
    assert r.status == 201, (r.status, r.body)
    assert r.headers["Cache-Control"] == "no-store"
    return r.json


def card_lifecycle(user: User, protected_base: str) -> None:
    """Create → the token once → use it → usage → deactivate → 401 inactive →
    activate → regenerate (old fails, new works) → revoke; a token appears
    only in the create and regenerate answers."""
    created = create(user)
    token, key = created["token"], created["key"]
    kid = key["id"]
    assert key["status"] == "active" and key["name"] == "Production Server"
    # The prefix people see: the token's first characters, never all of it.
    assert key["prefix"].endswith("…") and token.startswith(key["prefix"][:-1])
    assert len(key["prefix"]) < len(token) // 2

    assert protected(protected_base, token).status == 200
    assert protected(protected_base, token).status == 200

    r = user.get(f"keys/{kid}")
    assert r.status == 200 and r.json["usage_count"] == 2, r.body
    r = user.get(f"keys/{kid}/usage?step=hour")
    assert r.status == 200, r.body
    assert sum(b["valid"] for b in r.json["buckets"]) == 2, r.body

    r = user.post(f"keys/{kid}/deactivate")
    assert r.status == 200 and r.json["status"] == "inactive", r.body
    refused = protected(protected_base, token)
    assert refused.status == 401 and refused.problem_code() == "inactive"

    r = user.post(f"keys/{kid}/activate")
    assert r.status == 200 and r.json["status"] == "active", r.body
    assert protected(protected_base, token).status == 200

    r = user.post(f"keys/{kid}/regenerate")
    assert r.status == 200, r.body
    assert r.headers["Cache-Control"] == "no-store"
    new_token = r.json["token"]
    assert new_token != token and r.json["key"]["id"] == kid
    assert protected(protected_base, token).status == 401
    assert protected(protected_base, new_token).status == 200

    r = user.post(f"keys/{kid}/revoke")
    assert r.status == 200 and r.json["status"] == "revoked", r.body
    refused = protected(protected_base, new_token)
    assert refused.status == 401 and refused.problem_code() == "revoked"
    # Revoked is final: no way back through the API.
    r = user.post(f"keys/{kid}/activate")
    assert 400 <= r.status < 500 and r.problem_code() is not None, r.body

    # The card's history: one event per change, by this user.
    r = user.get(f"events?key={kid}")
    assert r.status == 200, r.body
    actions = [e["action"] for e in r.json["events"]]
    assert actions == ["revoked", "regenerated", "activated", "deactivated", "issued"], actions

    # The tokens were in exactly two answers: create and regenerate.
    for secret in (token, new_token):
        carrying = [(m, p) for m, p, a in user.seen if secret.encode() in a.body]
        assert len(carrying) == 1, carrying
        method, path = carrying[0]
        assert method == "POST" and (path == "keys" or path.endswith("/regenerate")), carrying


def other_owner_is_404(alice: User, bob: User) -> None:
    """Another owner's key id is 404 ``not_found`` on every route, and never listed."""
    theirs = create(bob, "bob's key")["key"]["id"]
    mine = create(alice, "alice's key")["key"]["id"]
    for method, path, payload in [
        ("GET", f"keys/{theirs}", None),
        ("PATCH", f"keys/{theirs}", {"name": "mine now"}),
        ("POST", f"keys/{theirs}/regenerate", {}),
        ("POST", f"keys/{theirs}/deactivate", {}),
        ("POST", f"keys/{theirs}/activate", {}),
        ("POST", f"keys/{theirs}/revoke", {}),
        ("GET", f"keys/{theirs}/usage", None),
    ]:
        r = alice.call(method, path, payload)
        assert r.status == 404 and r.problem_code() == "not_found", (method, path, r.status, r.body)
    listed = [k["id"] for k in alice.get("keys").json["keys"]]
    assert mine in listed and theirs not in listed
    events = alice.get(f"events?key={theirs}")
    assert events.status == 404 or events.json["events"] == [], events.body
    # Bob's key is untouched.
    r = bob.get(f"keys/{theirs}")
    assert r.status == 200 and r.json["name"] == "bob's key" and r.json["status"] == "active"


def changes_need_same_origin_and_json(user: User, framework_checks_origin: bool = False) -> None:
    before = len(user.get("keys").json["keys"])
    body = json.dumps({"name": "x"}).encode()
    json_type = {"Content-Type": "application/json"}
    evil = {**json_type, "Origin": "http://evil.example"}
    cross = user.call("POST", "keys", raw=body, headers=evil, same_origin=False)
    # Django's own CSRF check compares Origin with the host too and refuses
    # first, with its own page; elsewhere the core refuses.
    expected = None if framework_checks_origin else "cross_origin"
    assert cross.status == 403 and cross.problem_code() == expected, cross.body
    other_site = {**json_type, "Sec-Fetch-Site": "cross-site"}
    cross_site = user.call("POST", "keys", raw=body, headers=other_site, same_origin=False)
    assert cross_site.status == 403, cross_site.body
    neither = user.call("POST", "keys", raw=body, headers=json_type, same_origin=False)
    assert neither.status == 403, neither.body
    form = user.call("POST", "keys", raw=b"name=x", headers={"Content-Type": "text/plain"})
    assert form.status == 415 and form.problem_code() == "unsupported_media_type", form.body
    assert len(user.get("keys").json["keys"]) == before


def names_are_data(user: User) -> None:
    name = '<img src=x onerror=alert(1)> "quoted" & </script>'
    created = create(user, name)
    assert created["key"]["name"] == name
    r = user.get(f"keys/{created['key']['id']}")
    assert r.json["name"] == name
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("X-Content-Type-Options") in (None, "nosniff")
    # Control characters: refused with a clear problem, or kept exactly.
    r = user.post("keys", {"name": "tab\there\u0007bell"})
    if r.status == 201:
        assert r.json["key"]["name"] == "tab\there\u0007bell"
    else:
        assert r.status == 400 and r.problem_code() is not None, r.body


def bounds_are_4xx(user: User) -> None:
    big = json.dumps({"name": "x" * (MAX_BODY_BYTES + 10)}).encode()
    r = user.call("POST", "keys", raw=big, headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.problem_code() == "body_too_large", (r.status, r.body[:200])
    r = user.post("keys", {"name": "n" * 201})
    assert r.status == 400 and r.problem_code() is not None, r.body
    r = user.post("keys", {"name": "many", "scopes": [f"s{i}:read" for i in range(500)]})
    assert 400 <= r.status < 500 and r.problem_code() is not None, r.body
    r = user.get("keys?limit=101")
    assert r.status == 400 and r.problem_code() is not None, r.body
    r = user.get("keys?limit=100")
    assert r.status == 200


def logged_out_is_401(anonymous: User) -> None:
    r = anonymous.get("keys")
    assert r.status == 401 and r.problem_code() == "login_required", r.body
    r = anonymous.post("keys", {"name": "x"})
    assert r.status in (401, 403), r.body  # Django's CSRF may refuse first


#: OPTIONS and HEAD as the core answers them, the same in every framework:
#: (method, path, status, Allow). HEAD and 204 answers have no body; OPTIONS
#: on no route is the usual not_found problem.
OPTIONS_AND_HEAD = [
    ("OPTIONS", "keys", 204, "GET, HEAD, POST, OPTIONS"),
    ("OPTIONS", "keys/key_0000000000000000", 204, "GET, HEAD, PATCH, OPTIONS"),
    ("OPTIONS", "keys/key_0000000000000000/revoke", 204, "POST, OPTIONS"),
    ("OPTIONS", "no/such/route", 404, None),
    ("HEAD", "keys", 200, None),
    ("HEAD", "no/such/route", 404, None),
]


def options_and_head(user: User) -> None:
    for method, path, status, allow in OPTIONS_AND_HEAD:
        r = user.call(method, path, same_origin=False)
        got = (r.status, r.headers.get("Allow"))
        assert got == (status, allow), (method, path, got, dict(r.headers))
        if method == "HEAD" or status == 204:
            assert r.body == b"", (method, path, r.body)
        else:
            assert r.problem_code() == "not_found", (method, path, r.body)
        # Nothing a cross-origin preflight could take as permission.
        assert r.headers.get("Access-Control-Allow-Origin") is None


def mount_redirects_to_slash(base: str, mount: str, login: Dict[str, str]) -> None:
    r = http("GET", base + mount.rstrip("/"), headers=login)
    assert r.status in (301, 302, 307, 308), r.status
    assert r.headers["Location"].endswith(mount), r.headers["Location"]


# ----- tests/vectors/manage.json over HTTP ---------------------------------------

VECTOR = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "manage.json").read_text(encoding="utf-8"))


def _fill(value: Any, saved: Dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: saved[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, saved) for k, v in value.items()}
    return value


def _subset(expected: Any, actual: Any, where: str) -> None:
    """Objects: the members given; arrays: the same length, element by element."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), (where, actual)
        for k, v in expected.items():
            assert k in actual, (where, k, actual)
            _subset(v, actual[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, expected, actual)
        for i, (e, a) in enumerate(zip(expected, actual)):
            _subset(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, (where, expected, actual)


def _dotted(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value[part]
    return value


def replay_vector(
    users: Dict[str, Optional[User]],
    verify: Callable[[str], str],
    framework_checks_origin: bool = False,
) -> int:
    """Replays every step of tests/vectors/manage.json through a mount over
    HTTP. ``users`` maps the vector's principals to a logged-in user of the
    host app (``None``: nobody logged in); ``verify(token)`` is the outcome
    code of a request with that token to a route requiring no scope. With
    ``framework_checks_origin`` (Django), a change from another origin may be
    refused by the framework's own CSRF check first. Returns the steps run."""
    saved: Dict[str, str] = {}
    tokens: List[str] = []
    for n, step in enumerate(VECTOR["steps"]):
        where = f"step {n}: {step.get('as', 'verify')} {step.get('method', '')} {step.get('path', '')}"
        if "verify" in step:
            assert verify(_fill(step["verify"], saved)) == step["outcome"], where
            continue
        user = users[step["as"]]
        anonymous = user is None
        if user is None:
            user = User(next(u for u in users.values() if u is not None).base, "/tokens/")
        origin = user.origin
        saved["origin"] = origin
        headers: Dict[str, str] = {}
        if step.get("same_origin"):
            headers = {"Origin": origin, "Content-Type": "application/json"}
        headers.update(_fill(step.get("headers", {}), saved))
        body: Optional[bytes] = None
        if "body" in step:
            body = json.dumps(_fill(step["body"], saved)).encode()
        elif "raw_body" in step:
            body = _fill(step["raw_body"], saved).encode()
        elif "body_bytes" in step:
            head = b'{"name": "'
            body = head + b"a" * (step["body_bytes"] - len(head) - 2) + b'"}'
        path = _fill(step["path"], saved) + ("?" + _fill(step["query"], saved) if step.get("query") else "")
        method = step["method"]
        if body is None and method in ("POST", "PATCH"):
            body = b""
        r = http(method, user.base + user.mount + path, body, {**({} if anonymous else user.login), **headers})
        if framework_checks_origin and step.get("code") == "cross_origin" and r.problem_code() is None:
            assert r.status == 403, where  # refused by the framework's CSRF before the core
            continue
        assert r.status == step["status"], (where, r.status, r.body[:300])
        if "code" in step:
            assert r.headers["Content-Type"].startswith("application/problem+json"), where
            assert r.problem_code() == step["code"], (where, r.body)
        if "json" in step:
            _subset(_fill(step["json"], saved), r.json, where)
        if step.get("token"):
            assert r.headers["Cache-Control"] == "no-store", where
        else:
            for t in tokens:
                assert t.encode() not in r.body, (where, "a token in an answer that must not hold one")
        for name, dotted in step.get("save", {}).items():
            saved[name] = _dotted(r.json, dotted)
            if name.endswith("token") or "token" in dotted:
                tokens.append(saved[name])
    return len(VECTOR["steps"])
