"""Input at the core's edge, from Python: a token passed where a key id
belongs is refused without being repeated (API and CLI), times and numbers
are bounded so every stored key stays readable, ``expires_in`` on update is
the core's, and a verified webhook's ``repr`` is Python's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from datetime import datetime, timedelta, timezone

import pytest

import gatepass

ID_CALLS = {
    "get": lambda g, i: g.get(i),
    "revoke": lambda g, i: g.revoke(i),
    "rotate": lambda g, i: g.rotate(i),
    "update": lambda g, i: g.update(i, name="x"),
    "activate": lambda g, i: g.activate(i),
    "deactivate": lambda g, i: g.deactivate(i),
    "delete": lambda g, i: g.delete(i),
}


def everything_shown(e: BaseException) -> str:
    """Every way an exception reaches a log."""
    return " ".join(
        [str(e), repr(e), repr(e.args), str(getattr(e, "message", "")), "".join(traceback.format_exception(e))]
    )


def secret_parts(token: str):
    body = token.rsplit("_", 1)[1]
    return [token, body, body[:12], body[-12:]]


@pytest.mark.parametrize("call", sorted(ID_CALLS))
def test_a_token_given_as_a_key_id_is_refused_and_never_repeated(sqlite_gate, call):
    issued = sqlite_gate.issue("prod")
    token = issued.token
    typo = token[:-1] + ("x" if token[-1] != "x" else "y")
    for given in (token, f"Bearer {token}", typo):
        with pytest.raises(gatepass.InvalidArgument) as e:
            ID_CALLS[call](sqlite_gate, given)
        assert e.value.code == "invalid_argument"
        assert "a token was given where a key id belongs" in e.value.message
        shown = everything_shown(e.value)
        for part in secret_parts(token) + secret_parts(typo):
            assert part not in shown, (call, shown)
    assert sqlite_gate.get(issued.key.id).status == "active"


@pytest.mark.parametrize("call", sorted(ID_CALLS))
def test_other_malformed_ids_are_refused_and_missing_ones_are_not_found(gate, call):
    given = "-".join(["key_short", "and", "wrong"])
    with pytest.raises(gatepass.InvalidArgument) as e:
        ID_CALLS[call](gate, given)
    assert e.value.message.startswith("not a key id") and given not in everything_shown(e.value)
    with pytest.raises(gatepass.NotFound):
        ID_CALLS[call](gate, "key_0000000000000000")


@pytest.mark.parametrize("expires_in", ["3000000d", "36526d", timedelta(days=36526), "40000d 1s"])
def test_lifetimes_past_a_hundred_years_are_refused(sqlite_gate, expires_in):
    with pytest.raises(gatepass.InvalidArgument) as e:
        sqlite_gate.issue("long", expires_in=expires_in)
    assert "100 years" in e.value.message
    # Nothing was stored, so listing still works for the whole store.
    assert list(sqlite_gate.iter_keys()) == []


def test_the_longest_lifetime_and_latest_expiry_read_back(sqlite_gate):
    century = sqlite_gate.issue("century", expires_in="36525d")
    assert sqlite_gate.get(century.key.id).expires_at.year >= 2100
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    latest = sqlite_gate.issue("latest", expires_at=last)
    assert sqlite_gate.get(latest.key.id).expires_at == last
    assert {k.name for k in sqlite_gate.iter_keys()} == {"century", "latest"}
    with pytest.raises(gatepass.InvalidArgument) as e:
        sqlite_gate.issue("later", expires_at=253_402_300_800)  # 10000-01-01, Unix seconds
    assert "9999-12-31" in e.value.message
    with pytest.raises(gatepass.InvalidArgument):
        sqlite_gate.update(latest.key.id, expires_at=253_402_300_800)
    with pytest.raises(gatepass.InvalidArgument) as e:
        sqlite_gate.rotate(latest.key.id, grace=timedelta(days=40_000))
    assert "grace" in e.value.message


@pytest.mark.parametrize("remaining", [2**53, 2**63, 2**64, 10**30])
def test_credits_past_two_to_the_53_are_refused(sqlite_gate, remaining):
    with pytest.raises(gatepass.InvalidArgument) as e:
        sqlite_gate.issue("rich", remaining=remaining)
    assert "9007199254740991" in e.value.message
    key = sqlite_gate.issue("ok", remaining=5).key
    with pytest.raises(gatepass.InvalidArgument):
        sqlite_gate.update(key.id, remaining=remaining)
    assert sqlite_gate.get(key.id).remaining == 5


def test_the_most_credits_read_back_as_given(sqlite_gate):
    key = sqlite_gate.issue("most", remaining=2**53 - 1).key
    assert key.remaining == 2**53 - 1
    assert sqlite_gate.get(key.id).remaining == 2**53 - 1
    for wrong in (-1, True, 1.5, "10"):
        with pytest.raises(TypeError):
            sqlite_gate.issue("wrong", remaining=wrong)


def test_expires_in_on_update_is_measured_by_the_core(sqlite_gate):
    key = sqlite_gate.issue("k").key
    before = datetime.now(timezone.utc)
    updated = sqlite_gate.update(key.id, expires_in="1h")
    after = datetime.now(timezone.utc)
    assert before + timedelta(hours=1) - timedelta(seconds=1) <= updated.expires_at
    assert updated.expires_at <= after + timedelta(hours=1) + timedelta(seconds=1)
    assert sqlite_gate.get(key.id).expires_at == updated.expires_at
    with pytest.raises(gatepass.InvalidArgument) as e:
        sqlite_gate.update(key.id, expires_in="1h", expires_at=None)
    assert "not both" in e.value.message
    with pytest.raises(gatepass.InvalidArgument):
        sqlite_gate.update(key.id, expires_in="3000000d")


def test_repr_of_a_verified_webhook_is_pythons():
    secret = gatepass.generate_secret("standard")
    body = b'{"a":1}'
    headers = gatepass.WebhookSigner("standard", secret).sign(body, id="msg_1")
    msg = gatepass.WebhookVerifier("standard", [secret]).verify(body, headers)
    assert repr(msg) == f"VerifiedWebhook(scheme='standard', id='msg_1', timestamp={msg.timestamp})"
    gh = gatepass.generate_secret("github")
    gh_headers = gatepass.WebhookSigner("github", gh).sign(body)
    msg = gatepass.WebhookVerifier("github", [gh]).verify(body, gh_headers)
    assert repr(msg) == "VerifiedWebhook(scheme='github', id=None, timestamp=None)"


# ----- the command line ------------------------------------------------------


def run_cli(tmp_path, *args, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    base.setdefault("GATEPASS_STORE", f"sqlite:///{tmp_path / 'cli.db'}")
    return subprocess.run(
        [sys.executable, "-m", "gatepass", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=tmp_path,
        timeout=60,
    )


def test_cli_never_repeats_a_token_given_as_a_key_id(tmp_path):
    issued = json.loads(run_cli(tmp_path, "--json", "keys", "issue", "prod").stdout)
    token = issued["token"]
    for action in ("show", "revoke", "rotate", "deactivate", "activate", "delete"):
        for as_json in ([], ["--json"]):
            proc = run_cli(tmp_path, *as_json, "keys", action, token)
            assert proc.returncode == 4, (action, proc.stdout, proc.stderr)
            assert "a token was given where a key id belongs" in proc.stderr
            for part in secret_parts(token):
                assert part not in proc.stdout + proc.stderr, (action, proc.stdout, proc.stderr)
            if as_json:
                assert json.loads(proc.stdout)["error"]["code"] == "invalid_argument"
    show = run_cli(tmp_path, "--json", "keys", "show", issued["key"]["id"])
    assert show.returncode == 0 and json.loads(show.stdout)["status"] == "active"


def test_cli_refuses_out_of_range_input(tmp_path):
    proc = run_cli(tmp_path, "keys", "issue", "long", "--expires-in", "3000000d")
    assert proc.returncode == 4 and "100 years" in proc.stderr
    proc = run_cli(tmp_path, "keys", "issue", "rich", "--remaining", str(2**63))
    assert proc.returncode == 4 and "9007199254740991" in proc.stderr
    assert run_cli(tmp_path, "keys", "list").returncode == 0


@pytest.mark.parametrize(
    "url",
    ["postgres://gatepass:hunter2pw@127.0.0.1:1/gatepass", "postgres://gatepass@127.0.0.1:1/db?password=hunter2pw"],
)
def test_cli_warns_about_a_password_in_store_and_never_repeats_it(tmp_path, url):
    proc = run_cli(tmp_path, "--store", url, "keys", "list")
    assert "warning: the --store URL holds a password" in proc.stderr
    assert "GATEPASS_STORE" in proc.stderr
    assert "hunter2pw" not in proc.stdout + proc.stderr
    # From the environment, where it belongs, there is nothing to warn about.
    proc = run_cli(tmp_path, "keys", "list", env={"GATEPASS_STORE": url})
    assert "warning" not in proc.stderr and "hunter2pw" not in proc.stdout + proc.stderr


def test_cli_warns_about_a_password_in_the_rate_limiter_url(tmp_path):
    proc = run_cli(tmp_path, "--rate-limiter", "redis://:hunter2pw@127.0.0.1:1/", "keys", "list")
    assert "warning: the --rate-limiter URL holds a password" in proc.stderr
    assert "GATEPASS_RATE_LIMITER" in proc.stderr and "hunter2pw" not in proc.stdout + proc.stderr


def test_cli_does_not_warn_without_a_password(tmp_path):
    proc = run_cli(tmp_path, "--store", f"sqlite:///{tmp_path / 'plain.db'}", "keys", "list")
    assert proc.returncode == 0 and "warning" not in proc.stderr


def test_a_key_stored_with_an_expiry_past_the_bound_stays_readable(tmp_path):
    """A store written before the bound (``expires_in="3000000d"``) used to
    break every read of the key and every ``list`` of its store."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = gatepass.Gate(url)
    key = old.issue("far").key
    old.close()
    conn = sqlite3.connect(tmp_path / "old.db")
    with conn:
        conn.execute("UPDATE gatepass_keys SET expires_at = ?", (2**63 - 1,))
    conn.close()
    gate = gatepass.Gate(url)
    latest = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
    assert gate.get(key.id).expires_at == latest
    assert [k.expires_at for k in gate.iter_keys()] == [latest]
    proc = run_cli(tmp_path, "--json", "keys", "list", env={"GATEPASS_STORE": url})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["keys"][0]["expires_at"].startswith("9999-12-31T23:59:59")
