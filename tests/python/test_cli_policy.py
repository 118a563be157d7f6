"""The policy in force, through the command line in subprocesses on a real
SQLite file: ``$GATEPASS_POLICY`` is honoured, the store remembers the policy
it was last opened with (so the command line without the variable works
under the app's kinds), a different policy draws a warning naming both, and a
kind or token prefix the policy does not know says where that policy came
from."""

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

    def run(
        *args: str, expect: int = 0, policy: str | None = "app.toml", store: str = "cli.db"
    ) -> subprocess.CompletedProcess:
        extra = {"GATEPASS_STORE": f"sqlite:///{tmp_path / store}"}
        if policy is not None:
            extra["GATEPASS_POLICY"] = str(tmp_path / policy)
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


def test_issue_under_gatepass_policy_refuses_an_unknown_scope(cli) -> None:
    out = cli("keys", "issue", "x", "--scope", "nope:read", "--json", expect=4)
    assert json.loads(out.stdout)["error"]["code"] == "unknown_scope"
    assert cli("keys", "list", "--json").stdout.count('"id"') == 0
    # The policy's kinds and prefixes apply to what is issued.
    key = issued(cli("keys", "issue", "p", "--scope", "bots:read", "--json"))
    assert key["token"].startswith("bp_pat_") and key["key"]["kind"] == "pat"
    # Without the variable the store's policy (the app's, recorded when the
    # variable was set) refuses it too; a store never opened with a policy
    # accepts it under the default.
    again = cli("keys", "issue", "x", "--scope", "nope:read", "--json", expect=4, policy=None)
    assert json.loads(again.stdout)["error"]["code"] == "unknown_scope"
    plain = issued(cli("keys", "issue", "x", "--scope", "nope:read", "--json", policy=None, store="fresh.db"))
    assert plain["key"]["kind"] == "default" and plain["token"].startswith("gp_")


def test_rotate_a_bot_key_under_gatepass_policy(cli) -> None:
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--scope", "bots:read", "--json"))
    assert bot["token"].startswith("bp_bot_")
    rotated = issued(cli("keys", "rotate", bot["key"]["id"], "--json"))
    assert rotated["token"].startswith("bp_bot_") and rotated["token"] != bot["token"]
    assert rotated["key"]["id"] == bot["key"]["id"]


def test_an_unknown_kind_says_where_the_policy_came_from(cli, tmp_path: Path) -> None:
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--json"))["key"]["id"]

    # No policy anywhere: the default, said as such.
    none = cli("keys", "issue", "c", "--kind", "bot", expect=4, policy=None, store="fresh.db")
    assert "unknown_kind" in none.stderr
    assert 'the default single kind "default", token prefix gp' in none.stderr

    env = cli("keys", "rotate", bot, expect=4, policy="nobots.toml")
    assert f"$GATEPASS_POLICY={tmp_path / 'nobots.toml'}; its kinds: pat (bp_pat)" in env.stderr

    # --policy wins over the variable, and the message names it.
    flag = cli("keys", "issue", "c", "--kind", "bot", "--policy", "nobots.toml", "--json", expect=4)
    error = json.loads(flag.stdout)["error"]
    assert error["code"] == "unknown_kind" and "--policy nobots.toml" in error["message"]


def test_without_the_variable_the_store_remembers_the_apps_policy(cli) -> None:
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--scope", "bots:read", "--json"))
    rotated = issued(cli("keys", "rotate", bot["key"]["id"], "--json", policy=None))
    assert rotated["token"].startswith("bp_bot_")
    # The command line with $GATEPASS_POLICY and without it agree on the same store.
    for args in (
        ("keys", "list"),
        ("keys", "show", bot["key"]["id"], "--json"),
        ("verify", rotated["token"], "--scopes", "bots:read"),
        ("verify", bot["token"], "--scopes", "chat:write", "--json"),
        ("keys", "issue", "x", "--kind", "nope"),
    ):
        with_variable = subprocess_result(cli, args, "app.toml")
        without = subprocess_result(cli, args, None)
        assert with_variable[:2] == without[:2], args
    # Only where the policy came from differs.
    assert "$GATEPASS_POLICY=" in subprocess_result(cli, ("keys", "issue", "x", "--kind", "nope"), "app.toml")[2]
    assert (
        "the policy recorded in the store" in subprocess_result(cli, ("keys", "issue", "x", "--kind", "nope"), None)[2]
    )


def subprocess_result(cli, args: tuple, policy: str | None) -> tuple:
    done = cli(*args, policy=policy, expect=_expected(args))
    return done.returncode, done.stdout, done.stderr


def _expected(args: tuple) -> int:
    if "nope" in args:
        return 4
    return 1 if "chat:write" in args else 0


def test_a_different_policy_warns_naming_both_and_goes_on(cli, tmp_path: Path) -> None:
    cli("keys", "issue", "p", "--json")  # the store records app.toml
    other = cli("keys", "list", "--json", policy="nobots.toml")
    warning = next(line for line in other.stderr.splitlines() if line.startswith("gatepass: warning:"))
    assert f"$GATEPASS_POLICY={tmp_path / 'nobots.toml'}" in warning
    assert f"$GATEPASS_POLICY={tmp_path / 'app.toml'}" in warning
    assert "kinds pat (bp_pat) here, bot (bp_bot), pat (bp_pat) recorded" in warning
    assert len(json.loads(other.stdout)["keys"]) == 1
    # The same policy again: nothing to say.
    assert "warning" not in cli("keys", "list", policy="nobots.toml").stderr


def test_verify_with_the_policys_prefixes(cli) -> None:
    token = issued(cli("keys", "issue", "p", "--scope", "bots:read", "--json"))["token"]
    ok = json.loads(cli("verify", f"Bearer {token}", "--scopes", "bots:read", "--json").stdout)
    assert ok["ok"] is True and ok["code"] == "valid"
    assert "policy" not in ok

    # Under the default policy the prefix is unknown; the answer says which policy was in force.
    text = cli("verify", f"Bearer {token}", expect=1, policy=None, store="fresh.db").stdout
    assert text.startswith("malformed_token")
    assert "policy in force: no policy (none given, none in $GATEPASS_POLICY, ./gatepass.toml or the store)" in text
    assert "token prefixes it knows: gp" in text
    assert token not in text
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--scope", "bots:read", "--json"))["token"]
    assert json.loads(cli("verify", bot, "--json").stdout)["ok"] is True
    bad = json.loads(cli("verify", bot, "--json", "--policy", "nobots.toml", expect=1).stdout)
    assert bad["code"] == "malformed_token" and bad["policy"] == "--policy nobots.toml"

    plain = issued(cli("keys", "issue", "g", "--json", policy=None, store="fresh.db"))["token"]
    unknown = json.loads(cli("verify", plain, "--json", expect=1).stdout)
    assert unknown["code"] == "malformed_token"
    assert unknown["policy"].startswith("$GATEPASS_POLICY=")
