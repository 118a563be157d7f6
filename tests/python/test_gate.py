"""Gate: lifecycle, every outcome code, conversions, errors, secrets kept secret."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

import gatepass
from conftest import EXPECTED_STATUS, check_response_for, foreign_token, tokens_for_every_outcome
from gatepass.exceptions import CLASS_BY_CODE


def test_issue_returns_token_once_and_a_record(gate):
    issued = gate.issue(
        "Production Server",
        scopes=["bots:read", "channels:write"],
        subject="agent_42",
        metadata={"team": "core", "n": [1, 2]},
        expires_in="90d",
        rate_limit="1000/hour",
        remaining=5,
    )
    key = issued.key
    assert issued.token.startswith("gp_") and len(issued.token) == 3 + 36
    assert key.id.startswith("key_") and len(key.id) == 20
    assert key.start == issued.token[:7]
    assert key.name == "Production Server"
    assert key.kind == "default"
    assert key.scopes == ["bots:read", "channels:write"]
    assert key.subject == "agent_42"
    assert key.resource is None
    assert key.metadata == {"team": "core", "n": [1, 2]}
    assert key.status == "active"
    assert key.rate_limit == "1000/hour"
    assert key.remaining == 5
    assert key.usage_count == 0
    assert key.last_used_at is None and key.revoked_at is None
    assert key.created_at.tzinfo is not None
    assert key.created_at.utcoffset() == timedelta(0)
    assert abs((key.created_at - datetime.now(timezone.utc)).total_seconds()) < 5
    assert abs((key.expires_at - key.created_at) - timedelta(days=90)) < timedelta(seconds=1)
    assert gate.get(key.id) == key


def test_secrets_never_in_repr_or_errors(gate):
    issued = gate.issue("x", scopes=["bots:read"])
    secret_body = issued.token.split("_", 1)[1]
    texts = [repr(issued), str(issued), repr(issued.key), repr(gate.verify(issued.token))]
    v = gate.verify(f"Bearer {issued.token}", scopes=["admin"])
    texts += [repr(v), v.detail, str(v.problem()), str(v.headers)]
    try:
        gate.authenticate(f"Bearer {issued.token}", scopes=["admin"])
    except gatepass.Forbidden as e:
        texts += [str(e), repr(e), str(e.problem)]
    broken = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    texts.append(gate.verify(broken).detail)
    for text in texts:
        assert secret_body not in text, text
        assert secret_body[:10] not in text, text
    assert "redacted" in repr(issued)


def test_durations_accept_strings_and_timedeltas_never_bare_numbers(gate):
    for value in ("1h", "3600s", timedelta(hours=1)):
        key = gate.issue("d", expires_in=value).key
        assert abs((key.expires_at - key.created_at) - timedelta(hours=1)) < timedelta(seconds=1)
    # A number has no unit (seconds here, milliseconds in Node?): refused.
    for number in (3600, 3600.0, 300):
        with pytest.raises(gatepass.InvalidArgument) as e:
            gate.issue("d", expires_in=number)
        assert e.value.code == "invalid_argument" and '"300s"' in e.value.message
    with pytest.raises(gatepass.InvalidArgument):
        gatepass.WebhookVerifier("standard", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], tolerance=300)
    with pytest.raises(gatepass.InvalidArgument) as e:
        gate.issue("d", expires_in="soon")
    assert e.value.code == "invalid_argument"
    with pytest.raises(TypeError):
        gate.issue("d", expires_in=[1])
    with pytest.raises(gatepass.InvalidArgument):
        gate.issue("d", expires_in=timedelta(seconds=-5))


def test_expires_at_must_be_aware(gate):
    at = datetime.now(timezone.utc) + timedelta(days=1)
    key = gate.issue("a", expires_at=at).key
    assert abs(key.expires_at - at) < timedelta(milliseconds=1)
    other_zone = at.astimezone(timezone(timedelta(hours=5)))
    assert abs(gate.issue("b", expires_at=other_zone).key.expires_at - at) < timedelta(milliseconds=1)
    with pytest.raises(gatepass.InvalidArgument, match="timezone-aware"):
        gate.issue("naive", expires_at=datetime.now() + timedelta(days=1))
    with pytest.raises(gatepass.InvalidArgument):
        gate.issue("past", expires_at=datetime.now(timezone.utc) - timedelta(days=1))


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_every_outcome_code(store, gate, sqlite_gate):
    g = gate if store == "memory" else sqlite_gate
    cases = tokens_for_every_outcome(g)
    assert set(cases) == set(EXPECTED_STATUS)
    for code, header in cases.items():
        v = g.verify(header, scopes=["bots:read"], resource="channel:ch_1")
        assert v.code == code, (code, v.code, v.detail)
        assert v.ok is (code == "valid") and bool(v) is v.ok
        assert v.status == EXPECTED_STATUS[code]
        body = v.problem()
        if code == "valid":
            assert body is None and v.problem_json() is None
            assert v.key.name == "good"
            continue
        check_response_for(code, v.status, v.headers, body)
        import json

        assert json.loads(v.problem_json()) == body
        if code in ("inactive", "revoked", "expired", "forbidden_resource", "insufficient_scope"):
            assert v.key is not None
        if code in ("missing_credentials", "invalid_request", "malformed_token", "unknown_key"):
            assert v.key is None


def test_authenticate_raises_the_matching_subclass(gate):
    cases = tokens_for_every_outcome(gate)
    for code, header in cases.items():
        if code == "valid":
            assert gate.authenticate(header, scopes=["bots:read"], resource="channel:ch_1").name == "good"
            continue
        with pytest.raises(gatepass.AuthError) as caught:
            gate.authenticate(header, scopes=["bots:read"], resource="channel:ch_1")
        e = caught.value
        assert isinstance(e, gatepass.GatepassError)
        assert type(e) is CLASS_BY_CODE[code]
        assert e.code == code and e.status == EXPECTED_STATUS[code]
        expected = {
            400: gatepass.BadRequest,
            401: gatepass.Unauthorized,
            403: gatepass.Forbidden,
            429: gatepass.RateLimited,
        }[e.status]
        assert isinstance(e, expected)
        check_response_for(code, e.status, e.headers, e.problem)
        assert e.verification is not None and e.verification.code == code


def test_scopes_list_expression_any_and_implications(gate):
    token = gate.issue("t", scopes=["bots:write", "channels:read"]).token
    assert gate.verify(token, scopes=["bots:read"]).ok  # write implies read
    assert gate.verify(token, scopes="bots:read and (channels:write or channels:read)").ok
    assert gate.verify(token, scopes="bots:read").ok
    assert gate.verify(token, any_scopes=["admin", "channels:read"]).ok
    v = gate.verify(token, any_scopes=["admin", "agents:read"])
    assert v.code == "insufficient_scope" and v.missing_scopes == ["admin", "agents:read"]
    v = gate.verify(token, scopes=["bots:read"], any_scopes=["agents:read", "admin"])
    assert v.code == "insufficient_scope"
    admin = gate.issue("admin", scopes=["admin"]).token
    assert gate.verify(admin, scopes=["agent-loops:write", "bots:delete"]).ok
    wildcard = gate.issue("w", scopes=["bots:*"]).token
    assert gate.verify(wildcard, scopes=["bots:delete"]).ok
    assert not gate.verify(wildcard, scopes=["channels:read"]).ok
    with pytest.raises(gatepass.InvalidArgument) as e:
        gate.verify(token, scopes="bots:read and (")
    assert e.value.code == "invalid_scope_expression"
    with pytest.raises(gatepass.InvalidArgument) as e:
        gate.verify(token, scopes=["Bots:Read"])
    assert e.value.code == "invalid_scope"
    with pytest.raises(TypeError):
        gate.verify(token, any_scopes="bots:read")


def test_requirement_checked_against_the_catalogue_at_declaration():
    g = gatepass.Gate("memory://", policy={"scopes": ["bots:read", "bots:write"]})
    r = g.check_requirement(["bots:read"])
    assert isinstance(r, gatepass.Requirement) and r.scopes == ["bots:read"]
    with pytest.raises(gatepass.InvalidArgument) as e:
        g.check_requirement(["bots:raed"])
    assert e.value.code == "unknown_scope"
    with pytest.raises(gatepass.InvalidArgument) as e:
        g.issue("x", scopes=["bots:delete"])
    assert e.value.code == "unknown_scope"
    token = g.issue("x", scopes=["bots:write"]).token
    assert g.verify(token, scopes=r).ok
    assert g.verify(token, g.check_requirement("bots:read or admin")).ok
    assert g.check_requirement(any_scopes=["bots:read", "admin"]).scopes == ["bots:read", "admin"]


def test_policy_as_dict_toml_text_and_file(tmp_path):
    toml = """
realm = "platform"
scopes = ["bots:read", "bots:write"]
default_kind = "personal"

[kinds.personal]
prefix = "bp_pat"
max_lifetime = "365d"
default_lifetime = "90d"

[kinds.bot]
prefix = "bp_bot"
scopes = ["bots:*"]
rate_limit = "2/minute"
"""
    path = tmp_path / "gatepass.toml"
    path.write_text(toml)
    for policy in (toml, path, str(path)):
        g = gatepass.Gate("memory://", policy=policy)
        assert g.realm == "platform"
        assert dict(g.kinds) == {"bot": "bp_bot", "personal": "bp_pat"}
        issued = g.issue("pat")
        assert issued.token.startswith("bp_pat_") and issued.key.kind == "personal"
        assert abs((issued.key.expires_at - issued.key.created_at) - timedelta(days=90)) < timedelta(seconds=1)
        bot = g.issue("bot", kind="bot", scopes=["bots:read"])
        assert bot.token.startswith("bp_bot_")
        assert g.verify(bot.token).ok and g.verify(bot.token).ok
        v = g.verify(bot.token)
        assert v.code == "rate_limited" and v.headers["RateLimit-Policy"] == '"key";q=2;w=60'
        v = g.verify(None)
        assert v.headers["WWW-Authenticate"] == 'Bearer realm="platform", Token realm="platform"'
    g = gatepass.Gate("memory://", policy={"kinds": {"bot": {"prefix": "bp_bot"}}, "schemes": ["Bearer"]})
    assert g.schemes == ["Bearer"]
    with pytest.raises(gatepass.InvalidArgument) as e:
        gatepass.Gate("memory://", policy={"kinds": {"bot": {"prefix": "bp_bot", "max_lifetime": "1d"}}}).issue(
            "x", expires_in="2d"
        )
    assert e.value.code == "lifetime_exceeded"
    with pytest.raises(gatepass.InvalidArgument) as e:
        g.issue("x", kind="nope")
    assert e.value.code == "unknown_kind"
    for bad in ({"realms": "x"}, {"kinds": {"b": {"prefix": "Bad"}}}, "realm = ", tmp_path / "missing.toml"):
        with pytest.raises(gatepass.ConfigError) as e:
            gatepass.Gate("memory://", policy=bad)
        assert e.value.code == "config_error" and isinstance(e.value, ValueError)


def test_store_urls_and_errors(tmp_path, monkeypatch):
    with pytest.raises(gatepass.ConfigError) as e:
        gatepass.Gate("mysql://localhost/db")
    assert e.value.code == "config_error"
    with pytest.raises(gatepass.StoreError) as e:
        gatepass.Gate(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    assert e.value.code == "store_unavailable"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEPASS_STORE", raising=False)
    assert gatepass.default_store_url() == "sqlite:///gatepass.db"
    gatepass.Gate().issue("default store")
    assert (tmp_path / "gatepass.db").exists()
    monkeypatch.setenv("GATEPASS_STORE", f"sqlite:///{tmp_path}/env.db")
    gatepass.Gate().issue("env store")
    assert (tmp_path / "env.db").exists()
    assert "env.db" not in repr(gatepass.Gate())


def test_lifecycle(sqlite_gate):
    g = sqlite_gate
    issued = g.issue("k", scopes=["bots:read"], subject="agent_1")
    kid = issued.key.id
    assert g.deactivate(kid).status == "inactive"
    assert g.verify(issued.token).code == "inactive"
    assert g.activate(kid).status == "active"
    assert g.verify(issued.token).ok
    updated = g.update(kid, name="renamed", scopes=["bots:write"], metadata={"x": 1}, rate_limit="5/second")
    assert (updated.name, updated.scopes, updated.metadata, updated.rate_limit) == (
        "renamed",
        ["bots:write"],
        {"x": 1},
        "5/second",
    )
    assert g.update(kid, rate_limit=None, expires_in="1d").rate_limit is None
    assert g.get(kid).expires_at is not None
    assert g.update(kid, expires_at=None).expires_at is None
    with pytest.raises(TypeError):
        g.update(kid, colour="red")
    rotated = g.rotate(kid, grace="1h")
    assert rotated.key.id == kid and rotated.token != issued.token
    assert g.verify(issued.token).ok and g.verify(rotated.token).ok
    rotated2 = g.rotate(kid)
    assert g.verify(rotated.token).code == "revoked"
    assert g.verify(rotated2.token).ok
    revoked = g.revoke(kid)
    assert revoked.status == "revoked" and revoked.revoked_at is not None
    assert g.revoke(kid).status == "revoked"
    with pytest.raises(gatepass.InvalidState) as e:
        g.activate(kid)
    assert e.value.code == "invalid_state"
    with pytest.raises(gatepass.InvalidState):
        g.rotate(kid)
    g.delete(kid)
    with pytest.raises(gatepass.NotFound) as e:
        g.get(kid)
    assert e.value.code == "not_found" and isinstance(e.value, LookupError)
    with pytest.raises(gatepass.NotFound):
        g.delete(kid)


def test_list_filters_and_pages(gate):
    ids = [gate.issue(f"k{i}", subject="agent_1" if i % 2 else "agent_2", kind=None).key.id for i in range(7)]
    ordered = [k.id for k in gate.list(limit=100)]  # (created_at, id) order
    assert sorted(ordered) == sorted(ids)
    page = gate.list(limit=3)
    assert len(page) == 3 and page.next is not None
    assert [k.id for k in page] == ordered[:3]
    page2 = gate.list(limit=3, after=page.next)
    assert [k.id for k in page2.keys] == ordered[3:6]
    assert gate.list(limit=3, after=page2.next).next is None
    assert [k.id for k in gate.iter_keys(page_size=2)] == ordered
    assert {k.subject for k in gate.list(subject="agent_1")} == {"agent_1"}
    gate.revoke(ids[0])
    assert [k.id for k in gate.list(status="revoked")] == [ids[0]]
    with pytest.raises(gatepass.InvalidArgument):
        gate.list(status="deleted")
    with pytest.raises(gatepass.InvalidArgument):
        gate.list(after="garbage")


def test_usage_is_counted_and_flushed(sqlite_url):
    g = gatepass.Gate(sqlite_url)
    issued = g.issue("u")
    for _ in range(5):
        assert g.verify(issued.token).ok
    assert g.get(issued.key.id).usage_count == 5
    for _ in range(3):
        g.verify(issued.token)
    g.close()
    other = gatepass.Gate(sqlite_url)
    key = other.get(issued.key.id)
    assert key.usage_count == 8 and key.last_used_at is not None


def test_usage_survives_process_exit(sqlite_url):
    """Counts batched in memory are written by the atexit hook."""
    script = f"""
import gatepass
g = gatepass.Gate({sqlite_url!r})
t = g.issue("exit").token
for _ in range(7):
    assert g.verify(t).ok
print(g.verify(t).key.id)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    kid = out.stdout.strip()
    assert gatepass.Gate(sqlite_url).get(kid).usage_count == 8


def test_revocation_is_seen_by_another_gate_on_the_same_store(sqlite_url):
    a, b = gatepass.Gate(sqlite_url), gatepass.Gate(sqlite_url)
    issued = a.issue("shared", scopes=["bots:read"])
    assert b.verify(issued.token, scopes=["bots:read"]).ok
    a.revoke(issued.key.id)
    assert b.verify(issued.token, scopes=["bots:read"]).code == "revoked"


def test_header_forms(gate):
    token = gate.issue("h").token
    assert gate.verify(token).ok
    assert gate.verify(f"bearer {token}").ok
    assert gate.verify(f"  Bearer   {token}  ").ok
    assert gate.verify(f"Token {token}").ok
    assert gate.verify(f"Bearer {token}".encode()).ok
    assert gate.verify(bytearray(f"Bearer {token}".encode())).ok
    assert gate.verify(f"Basic {token}").code == "missing_credentials"
    assert gate.verify("").code == "missing_credentials"
    assert gate.verify("Bearer").code == "invalid_request"
    assert gate.verify(f"Bearer {token}, Bearer {token}").code == "invalid_request"
    assert gate.verify("Bearer tökén").code == "invalid_request"
    assert gate.verify("Bearer \udcff").code == "invalid_request"
    assert gate.verify("Bearer " + "a" * 10_000).code == "invalid_request"
    assert gate.verify(b"Bearer \xff\xfe").code == "invalid_request"
    with pytest.raises(TypeError):
        gate.verify(42)


def test_hostile_input_never_crashes(gate):
    token = gate.issue("h").token
    samples = ["", " ", "\x00", "Bearer \x00", "Bearer " + "\u0000" * 100, "_", "gp_", "gp__", "a_" + "9" * 36]
    samples += [token[:i] for i in range(len(token))] + [token + "x", token.upper(), "Bearer " + "(" * 5000]
    for s in samples:
        v = gate.verify(s)
        assert v.code in EXPECTED_STATUS
    for expr in ["(" * 100 + "admin" + ")" * 100, "a" * 5000, "admin and", "or", ")"]:
        with pytest.raises(gatepass.InvalidArgument):
            gate.verify(token, scopes=expr)


def test_verify_releases_the_gil(sqlite_gate):
    """Threads verify concurrently without errors (the GIL is released in core)."""
    tokens = [sqlite_gate.issue(f"t{i}", scopes=["bots:read"]).token for i in range(4)]
    errors = []

    def work(t):
        try:
            for _ in range(300):
                assert sqlite_gate.verify(f"Bearer {t}", scopes=["bots:read"]).ok
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sqlite_gate.flush()
    assert sum(k.usage_count for k in sqlite_gate.list()) == 1200


def test_unknown_key_from_another_store(gate):
    assert gate.verify(foreign_token()).code == "unknown_key"


def test_every_core_code_has_a_class():
    outcome_codes = set(EXPECTED_STATUS) - {"valid"}
    assert outcome_codes <= set(CLASS_BY_CODE)
    for code, cls in CLASS_BY_CODE.items():
        status, headers, problem = gatepass._native.render_error(code, "m")
        err = gatepass.exceptions._error(code, "m", status, headers, problem)
        assert type(err) is cls and err.code == code and str(err) == "m"
        assert err.status == status and err.problem == problem
    new = gatepass.exceptions._error("something_new", "m", 500, {}, None)
    assert type(new) is gatepass.GatepassError


def test_key_info_to_dict_and_equality(gate):
    key = gate.issue("d", scopes=["bots:read"], metadata={"a": 1}).key
    d = key.to_dict()
    assert d["id"] == key.id and d["scopes"] == ["bots:read"] and d["metadata"] == {"a": 1}
    assert d["created_at"] == key.created_at
    assert key == gate.get(key.id) and hash(key) == hash(gate.get(key.id))
    assert key != "x"


def test_issue_argument_errors(gate):
    with pytest.raises(gatepass.InvalidArgument):
        gate.issue("")
    with pytest.raises(gatepass.InvalidArgument):
        gate.issue("x\n")
    with pytest.raises(TypeError):
        gate.issue("x", scopes="bots:read")
    with pytest.raises(gatepass.InvalidArgument):
        gate.issue("x", rate_limit="lots")
    with pytest.raises(TypeError):
        gate.issue("x", metadata=[1])
    with pytest.raises(gatepass.InvalidArgument):
        gate.issue("x", metadata={"x": object()})
    with pytest.raises(TypeError):
        gate.issue("x", remaining=-1)


def test_gate_is_collected_and_flushes(sqlite_url):
    g = gatepass.Gate(sqlite_url)
    issued = g.issue("gc")
    g.verify(issued.token)
    del g
    gc.collect()
    time.sleep(0.01)
    assert gatepass.Gate(sqlite_url).get(issued.key.id).usage_count == 1
