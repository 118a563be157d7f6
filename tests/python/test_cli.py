"""The gatepass command line, end to end in subprocesses, on a real SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gatepass

WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env["GATEPASS_STORE"] = store

    def run(*args, input=None, expect=0, extra_env=None):
        proc = subprocess.run(
            [sys.executable, "-m", "gatepass", *args],
            input=input,
            capture_output=True,
            env={**env, **(extra_env or {})},
            cwd=tmp_path,
            timeout=60,
        )
        assert proc.returncode == expect, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    run.store = store
    return run


def as_json(proc):
    return json.loads(proc.stdout)


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("gatepass")
    found = script if script.exists() else shutil.which("gatepass")
    assert found, "the gatepass console script is not installed next to this Python"
    out = subprocess.run([str(found), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"gatepass {gatepass.__version__}"


def test_keys_lifecycle_end_to_end(cli):
    issued = as_json(
        cli(
            "keys",
            "issue",
            "Production Server",
            "--scope",
            "bots:read,channels:write",
            "--subject",
            "agent_42",
            "--expires-in",
            "90d",
            "--rate-limit",
            "100/minute",
            "--metadata",
            '{"team":"core"}',
            "--json",
        )
    )
    token, key = issued["token"], issued["key"]
    assert token.startswith("gp_") and key["id"].startswith("key_")
    assert key["scopes"] == ["bots:read", "channels:write"] and key["subject"] == "agent_42"
    assert key["metadata"] == {"team": "core"} and key["rate_limit"] == "100/minute"
    assert key["created_at"].endswith("Z") and key["expires_at"].endswith("Z")

    # the library sees what the CLI wrote
    assert gatepass.Gate(cli.store).verify(token, scopes=["bots:read"]).ok

    listed = as_json(cli("--json", "keys", "list"))
    assert [k["id"] for k in listed["keys"]] == [key["id"]] and listed["next"] is None
    assert token not in json.dumps(listed)
    table = cli("keys", "list").stdout.decode()
    assert "Production Server" in table and key["start"] in table and "STATUS" in table
    assert token not in table
    shown = cli("keys", "show", key["id"]).stdout.decode()
    assert "agent_42" in shown and token not in shown

    v = as_json(cli("verify", f"Bearer {token}", "--scopes", "bots:read", "--json"))
    assert v["ok"] is True and v["code"] == "valid" and v["key"]["id"] == key["id"]
    v = as_json(
        cli("verify", "--scopes", "admin or bots:write", "--json", expect=1, extra_env={"GATEPASS_TOKEN": token})
    )
    assert v["code"] == "insufficient_scope" and v["status"] == 403
    assert v["headers"]["WWW-Authenticate"].startswith("Bearer realm")
    v = as_json(cli("verify", "-", "--any-scopes", "channels:read,admin", "--json", input=token.encode() + b"\n"))
    assert v["ok"]
    assert b"malformed_token" in cli("verify", "gp_nope", expect=1).stdout

    assert as_json(cli("keys", "deactivate", key["id"], "--json"))["status"] == "inactive"
    assert as_json(cli("verify", token, "--json", expect=1))["code"] == "inactive"
    assert as_json(cli("keys", "activate", key["id"], "--json"))["status"] == "active"
    rotated = as_json(cli("keys", "rotate", key["id"], "--grace", "1h", "--json"))
    assert rotated["key"]["id"] == key["id"] and rotated["token"] != token
    assert as_json(cli("verify", token, "--json"))["ok"]  # within grace
    assert as_json(cli("keys", "revoke", key["id"], "--json"))["status"] == "revoked"
    assert as_json(cli("verify", rotated["token"], "--json", expect=1))["code"] == "revoked"
    assert as_json(cli("keys", "list", "--status", "revoked", "--json"))["keys"][0]["id"] == key["id"]
    # Only the library's verify above counted: the CLI checks without spending.
    assert as_json(cli("keys", "show", key["id"], "--json"))["usage_count"] == 1
    assert as_json(cli("keys", "delete", key["id"], "--json")) == {"deleted": key["id"]}
    assert as_json(cli("keys", "list", "--json"))["keys"] == []


def test_verify_spends_nothing_unless_asked(cli):
    issued = as_json(cli("keys", "issue", "Paid", "--remaining", "1", "--json"))
    token, key_id = issued["token"], issued["key"]["id"]
    for _ in range(3):
        assert as_json(cli("verify", token, "--json"))["key"]["remaining"] == 1
    shown = as_json(cli("keys", "show", key_id, "--json"))
    assert (shown["usage_count"], shown["remaining"]) == (0, 1)
    assert as_json(cli("verify", token, "--spend", "--json"))["ok"]
    shown = as_json(cli("keys", "show", key_id, "--json"))
    assert (shown["usage_count"], shown["remaining"]) == (1, 0)
    # Out of credits: the check says so, without spending, as --spend does.
    assert as_json(cli("verify", token, "--json", expect=1))["code"] == "usage_exceeded"
    assert as_json(cli("verify", token, "--spend", "--json", expect=1))["code"] == "usage_exceeded"


def test_exit_codes(cli, tmp_path):
    err = as_json(cli("keys", "show", "key_AAAAAAAAAAAAAAAA", "--json", expect=3))
    assert err["error"]["code"] == "not_found"
    assert (
        as_json(cli("keys", "issue", "x", "--scope", "Bad Scope", "--json", expect=4))["error"]["code"]
        == "invalid_scope"
    )
    cli("keys", "issue", "x", "--expires-in", "soon", expect=4)
    kid = as_json(cli("keys", "issue", "x", "--json"))["key"]["id"]
    cli("keys", "revoke", kid)
    assert as_json(cli("keys", "activate", kid, "--json", expect=4))["error"]["code"] == "invalid_state"
    cli("keys", "list", "--store", "mysql://nope", expect=4)
    cli("keys", "list", "--store", f"sqlite:///{tmp_path}/no/such/dir.db", expect=5)
    cli("keys", "frobnicate", expect=2)
    cli(expect=2)
    cli("keys", "list", "--policy", str(tmp_path / "missing.toml"), expect=4)


def test_policy_file(cli, tmp_path):
    (tmp_path / "gatepass.toml").write_text(
        'scopes = ["bots:read"]\ndefault_kind = "pat"\n[kinds.pat]\nprefix = "bp_pat"\n[kinds.bot]\nprefix = "bp_bot"\n'
    )
    issued = as_json(cli("--policy", "gatepass.toml", "keys", "issue", "p", "--scope", "bots:read", "--json"))
    assert issued["token"].startswith("bp_pat_")
    bot = as_json(cli("keys", "issue", "b", "--kind", "bot", "--policy", "gatepass.toml", "--json"))
    assert bot["token"].startswith("bp_bot_")
    out = as_json(cli("keys", "issue", "x", "--scope", "bots:write", "--policy", "gatepass.toml", "--json", expect=4))
    assert out["error"]["code"] == "unknown_scope"


def test_pages(cli):
    for i in range(5):
        cli("keys", "issue", f"k{i}", "--subject", "agent_1")
    page = as_json(cli("keys", "list", "--limit", "2", "--json"))
    assert len(page["keys"]) == 2 and page["next"]
    page2 = as_json(cli("keys", "list", "--limit", "2", "--after", page["next"], "--json"))
    assert len(page2["keys"]) == 2
    assert len(as_json(cli("keys", "list", "--limit", "2", "--all", "--json"))["keys"]) == 5
    assert "More: --after" in cli("keys", "list", "--limit", "2").stdout.decode()


@pytest.mark.parametrize("scheme", ["standard", "stripe", "github", "slack", "shopify", "twilio", "token"])
def test_webhook_secret_sign_verify(cli, tmp_path, scheme):
    secret = as_json(cli("webhook", "secret", scheme, "--json"))["secret"]
    assert cli("webhook", "secret", scheme).stdout.strip()
    body = b'{"event":"bot.created","n":1}'
    (tmp_path / "body.json").write_bytes(body)
    url = ["--url", "https://example.com/hooks"] if scheme == "twilio" else []
    headers = as_json(cli("webhook", "sign", scheme, "--secret", secret, "--body-file", "body.json", "--json", *url))[
        "headers"
    ]
    hargs = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
    ok = as_json(
        cli(
            "webhook",
            "verify",
            scheme,
            "--json",
            *hargs,
            *url,
            input=body,
            extra_env={"GATEPASS_WEBHOOK_SECRET": secret},
        )
    )
    assert ok["ok"] is True and ok["scheme"] == scheme
    if scheme == "token":  # the shared token does not sign the body; a wrong token must fail
        wrong = as_json(cli("webhook", "secret", scheme, "--json"))["secret"]
        bad = as_json(cli("webhook", "verify", scheme, "--secret", wrong, "--json", *hargs, input=body, expect=1))
    else:
        bad = as_json(
            cli("webhook", "verify", scheme, "--secret", secret, "--json", *hargs, *url, input=body + b"x", expect=1)
        )
    assert bad["ok"] is False and bad["code"] == "invalid_signature"
    assert secret not in json.dumps(bad)


def test_webhook_needs_a_secret(cli):
    cli("webhook", "sign", "standard", input=b"{}", expect=2)
    cli("webhook", "verify", "standard", "-H", "webhook-id: x", input=b"{}", expect=2)
