"""Key records show the rate limit that applies (the key's own, else its
kind's default in the policy): through the Python API and through the command
line in subprocesses, on real SQLite files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gatepass

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


def test_keys_show_and_json_give_the_effective_rate_limit(cli) -> None:
    personal = issued(cli("keys", "issue", "p", "--json"))["key"]
    own = issued(cli("keys", "issue", "o", "--rate-limit", "5/minute", "--json"))["key"]
    bot = issued(cli("keys", "issue", "b", "--kind", "bot", "--json"))["key"]
    assert (personal["rate_limit"], personal["effective_rate_limit"]) == (None, "1000/hour")
    assert (own["rate_limit"], own["effective_rate_limit"]) == ("5/minute", "5/minute")
    assert (bot["rate_limit"], bot["effective_rate_limit"]) == (None, None)

    def line(key_id: str) -> str:
        shown = cli("keys", "show", key_id).stdout.splitlines()
        return next(row for row in shown if row.startswith("rate_limit:"))

    assert line(personal["id"]).split(None, 1)[1] == "1000/hour (default of kind pat)"
    assert line(own["id"]).split(None, 1)[1] == "5/minute"
    assert line(bot["id"]).split(None, 1)[1] == "-"
    shown = json.loads(cli("keys", "show", personal["id"], "--json").stdout)
    assert shown["effective_rate_limit"] == "1000/hour"
    listed = json.loads(cli("keys", "list", "--json").stdout)["keys"]
    assert {k["id"]: k["effective_rate_limit"] for k in listed} == {
        personal["id"]: "1000/hour",
        own["id"]: "5/minute",
        bot["id"]: None,
    }
    # Opened under a policy without the kind's default, the same key has none.
    assert line(personal["id"]).endswith("(default of kind pat)")
    assert cli("keys", "show", personal["id"], policy="nobots.toml").stdout.count("1000/hour") == 0


def test_key_info_effective_rate_limit_in_python(tmp_path: Path) -> None:
    gate = gatepass.Gate(f"sqlite:///{tmp_path / 'k.db'}", policy=POLICY)
    try:
        personal = gate.issue("p", scopes=["bots:read"])
        own = gate.issue("o", rate_limit="5/minute")
        assert personal.key.rate_limit is None
        assert personal.key.effective_rate_limit == "1000/hour"
        assert personal.key.to_dict()["effective_rate_limit"] == "1000/hour"
        assert gate.get(own.key.id).effective_rate_limit == "5/minute"
        listed = {k.id: k.effective_rate_limit for k in gate.list()}
        assert listed == {personal.key.id: "1000/hour", own.key.id: "5/minute"}
        cleared = gate.update(own.key.id, rate_limit=None)
        assert cleared.rate_limit is None and cleared.effective_rate_limit == "1000/hour"
        v = gate.verify(f"Bearer {personal.token}", ["bots:read"])
        assert v.ok and v.key is not None and v.key.effective_rate_limit == "1000/hour"
    finally:
        gate.close()
