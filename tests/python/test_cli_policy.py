"""The policy in force, through the command line in subprocesses on a real
SQLite file: ``$GATEPASS_POLICY`` is honoured and recorded in the store, a
command without it works under the recorded policy, and a kind or token
prefix the policy does not know says where that policy came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

POLICY = """
realm = "botpress"
scopes = ["bots:read", "bots:write", "chat:write"]
default_kind = "pat"

[kinds.pat]
prefix = "bp_pat"
rate_limit = "1000/hour"

[kinds.bot]
prefix = "bp_bot"
scopes = ["bots:*", "chat:write"]
"""

# The same app without its bot kind: a store opened under it knows no `bot`.
NO_BOTS = """
[kinds.pat]
prefix = "bp_pat"
"""


@pytest.fixture
def cli(tmp_path: Path):
    (tmp_path / "app.toml").write_text(POLICY)
    (tmp_path / "nobots.toml").write_text(NO_BOTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env["GATEPASS_STORE"] = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str, expect: int = 0, policy: str | None = "app.toml") -> subprocess.CompletedProcess:
        extra = {} if policy is None else {"GATEPASS_POLICY": str(tmp_path / policy)}
        proc = subprocess.run(
            [sys.executable, "-m", "gatepass", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            cwd=tmp_path,
            timeout=60,
        )
        assert proc.returncode == expect, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    return run


def issued(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout)


def test_issue_under_gatepass_policy_refuses_an_unknown_scope(cli, tmp_path: Path) -> None:
    out = cli("keys", "issue", "x", "--scope", "nope:read", "--json", expect=4)
    assert json.loads(out.stdout)["error"]["code"] == "unknown_scope"
    assert cli("keys", "list", "--json").stdout.count('"id"') == 0
    # The policy's kinds and prefixes apply to what is issued.
    key = issued(cli("keys", "issue", "p", "--scope", "bots:read", "--json"))
    assert key["token"].startswith("bp_pat_") and key["key"]["kind"] == "pat"
    # Without the variable the store's recorded policy applies: refused the same way.
    out = cli("keys", "issue", "x", "--scope", "nope:read", "--json", expect=4, policy=None)
    assert json.loads(out.stdout)["error"]["code"] == "unknown_scope"
    recorded = issued(cli("keys", "issue", "q", "--json", policy=None))
    assert recorded["key"]["kind"] == "pat" and recorded["token"].startswith("bp_pat_")
    # On a store no policy was ever recorded in, the default kind issues it.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    plain = issued(cli("keys", "issue", "x", "--scope", "nope:read", "--json", "--store", other, policy=None))
    assert plain["key"]["kind"] == "default" and plain["token"].startswith("gp_")


def test_rotate_a_bot_key_under_gatepass_policy(cli) -> None:
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--scope", "bots:read", "--json"))
    assert bot["token"].startswith("bp_bot_")
    rotated = issued(cli("keys", "rotate", bot["key"]["id"], "--json"))
    assert rotated["token"].startswith("bp_bot_") and rotated["token"] != bot["token"]
    assert rotated["key"]["id"] == bot["key"]["id"]


def test_an_unknown_kind_says_where_the_policy_came_from(cli, tmp_path: Path) -> None:
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--json"))["key"]["id"]

    # Without the variable: the policy recorded in the store, which knows bots.
    cli("keys", "rotate", bot, policy=None)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    none = cli("keys", "issue", "c", "--kind", "bot", "--store", other, expect=4, policy=None)
    assert "unknown_kind" in none.stderr
    assert 'the default single kind "default", token prefix gp' in none.stderr

    # Another policy in the variable: it is used (a rolling deploy is not
    # stopped), the difference from the recorded one is reported, and an
    # unknown kind names the variable and the kinds it has.
    env = cli("keys", "rotate", bot, expect=4, policy="nobots.toml")
    assert f"$GATEPASS_POLICY={tmp_path / 'nobots.toml'}" in env.stderr
    assert "its kinds: pat (bp_pat)" in env.stderr
    assert "differs from the one in the store" in env.stderr
    assert "bot (bp_bot)" in env.stderr

    # --policy wins over the variable, and the message says so.
    flag = cli("keys", "issue", "c", "--kind", "bot", "--policy", "nobots.toml", "--json", expect=4)
    error = json.loads(flag.stdout)["error"]
    assert error["code"] == "unknown_kind" and "--policy" in error["message"]


def test_verify_with_the_policys_prefixes(cli, tmp_path: Path) -> None:
    token = issued(cli("keys", "issue", "p", "--scope", "bots:read", "--json"))["token"]
    ok = json.loads(cli("verify", f"Bearer {token}", "--scopes", "bots:read", "--json").stdout)
    assert ok["ok"] is True and ok["code"] == "valid"
    assert "policy" not in ok

    # Without the variable the store's recorded policy knows the prefix.
    ok = json.loads(cli("verify", f"Bearer {token}", "--json", policy=None).stdout)
    assert ok["ok"] is True
    # On a store without a record the prefix is unknown; the answer says which policy was in force.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    text = cli("verify", f"Bearer {token}", "--store", other, expect=1, policy=None).stdout
    assert text.startswith("malformed_token")
    assert "policy in force: no policy" in text
    assert "token prefixes it knows: gp" in text
    assert token not in text
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--scope", "bots:read", "--json"))["token"]
    assert json.loads(cli("verify", bot, "--json").stdout)["ok"] is True
    bad = json.loads(cli("verify", bot, "--json", "--policy", "nobots.toml", expect=1).stdout)
    assert bad["code"] == "malformed_token" and bad["policy"] == "--policy nobots.toml"

    plain = issued(cli("keys", "issue", "g", "--json", "--store", other, policy=None))["token"]
    unknown = json.loads(cli("verify", plain, "--json", expect=1).stdout)
    assert unknown["code"] == "malformed_token"
    assert unknown["policy"].startswith("$GATEPASS_POLICY=")
