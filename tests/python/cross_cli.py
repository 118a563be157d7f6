"""One command line in both packages: the same scenario through ``gatepass``
(the console script pip installs) and ``npx gatepass`` (the bin of the npm
package, packed and installed into a fresh directory as a user would) against
one SQLite store, with every read compared byte for byte — stdout, stderr and
exit code — and every change made by one seen by the other.

Not collected by a plain ``pytest tests/python`` run (it needs the Node addon
built): scripts/test-cross.sh runs it with the test virtualenv once both
packages are built::

    python -m pytest tests/python/cross_cli.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]

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

NO_BOTS = """
[kinds.pat]
prefix = "bp_pat"
"""


@pytest.fixture(scope="module")
def npm_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where ``npm install <the packed package>`` was run."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not on PATH")
    if not list((ROOT / "bindings-node").glob("gatepass.*.node")):
        pytest.fail("no Node addon in bindings-node/: run `npm run build` (scripts/test-node.sh) first")
    work = tmp_path_factory.mktemp("npm")
    packed = subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    tarball = work / packed.stdout.strip().splitlines()[-1]
    app = work / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0", "private": true}\n')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", str(tarball)],
        cwd=app,
        check=True,
        timeout=600,
    )
    return app


@pytest.fixture
def both(tmp_path: Path, npm_app: Path) -> Callable[..., subprocess.CompletedProcess]:
    (tmp_path / "app.toml").write_text(POLICY)
    (tmp_path / "nobots.toml").write_text(NO_BOTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEPASS_", "npm_"))}
    env.update(
        GATEPASS_STORE=f"sqlite:///{tmp_path / 'shared.db'}",
        GATEPASS_POLICY=str(tmp_path / "app.toml"),
        NO_UPDATE_NOTIFIER="1",
    )
    script = Path(sys.executable).with_name("gatepass")
    pip_cmd = [str(script if script.exists() else shutil.which("gatepass"))]
    # As a user types it. (Not `npx --no gatepass …`: after `--no`, npx
    # takes the command's own options, `--json` and `--version`, for itself.)
    npm_cmd = ["npx", "gatepass"]

    def run(cmd: List[str], args: tuple, stdin: Optional[bytes]) -> subprocess.CompletedProcess:
        return subprocess.run([*cmd, *args], input=stdin, capture_output=True, env=env, cwd=npm_app, timeout=120)

    def one(tool: str, *args: str, stdin: Optional[bytes] = None, expect: int = 0) -> subprocess.CompletedProcess:
        done = run(pip_cmd if tool == "pip" else npm_cmd, args, stdin)
        assert done.returncode == expect, (tool, args, done.returncode, done.stdout, done.stderr)
        return done

    def compare(*args: str, stdin: Optional[bytes] = None, expect: int = 0) -> subprocess.CompletedProcess:
        pip = run(pip_cmd, args, stdin)
        npm = run(npm_cmd, args, stdin)
        assert (pip.returncode, npm.returncode) == (expect, expect), (args, pip, npm)
        assert pip.stdout == npm.stdout, (args, pip.stdout, npm.stdout)
        assert notices(pip.stderr) == notices(npm.stderr), (args, pip.stderr, npm.stderr)
        return pip

    compare.one = one  # type: ignore[attr-defined]
    return compare


def notices(stderr: bytes) -> List[bytes]:
    """stderr without the policy-change warning, which only the first of two
    runs under a policy the store has not recorded yet prints."""
    return [line for line in stderr.splitlines() if not line.startswith(b"gatepass: warning: the policy in force")]


def data(done: subprocess.CompletedProcess) -> Dict[str, Any]:
    return json.loads(done.stdout)


def test_the_same_scenario_through_pip_and_npm(both: Any, tmp_path: Path) -> None:
    one = both.one
    # Each package issues a key into the one store.
    personal = data(one("pip", "keys", "issue", "Bob’s laptop", "--scope", "bots:read", "--json"))
    bot = data(one("npm", "keys", "issue", "Billing bot", "--kind", "bot", "--scope", "chat:write", "--json"))
    assert personal["token"].startswith("bp_pat_") and bot["token"].startswith("bp_bot_")
    pid, bid = personal["key"]["id"], bot["key"]["id"]

    # Every read answers alike, in text and JSON.
    listed = both("keys", "list")
    assert pid.encode() in listed.stdout and bid.encode() in listed.stdout
    assert data(both("keys", "list", "--json"))["next"] is None
    assert b"More: --after" in both("keys", "list", "--limit", "1").stdout
    assert "Bob\\u2019s laptop" in both("--json", "keys", "show", pid).stdout.decode()
    shown = both("keys", "show", pid).stdout.decode()
    assert "rate_limit:   1000/hour (default of kind pat)" in shown
    both("keys", "list", "--kind", "bot", "--status", "active")
    assert data(both("verify", f"Bearer {personal['token']}", "--scopes", "bots:read", "--json"))["ok"]
    both("verify", bot["token"], "--scopes", "chat:write")
    both("verify", "-", "--any-scopes", "bots:write,chat:write", stdin=bot["token"].encode() + b"\n")
    refused = both("verify", personal["token"], "--scopes", "bots:read and chat:write", expect=1)
    assert refused.stdout.startswith(b"insufficient_scope (403)")
    both("verify", "gp_nope", expect=1)
    wrong = both("verify", bot["token"], "--policy", str(tmp_path / "nobots.toml"), "--json", expect=1)
    assert data(wrong)["policy"] == f"--policy {tmp_path / 'nobots.toml'}"

    # Errors: the same line, the same exit code.
    assert b"(not_found)" in both("keys", "show", "key_AAAAAAAAAAAAAAAA", expect=3).stderr
    assert b"policy in force: $GATEPASS_POLICY=" in both("keys", "issue", "x", "--kind", "nope", expect=4).stderr
    assert b"a token was given where a key id belongs" in both("keys", "revoke", bot["token"], expect=4).stderr
    both("keys", "issue", "x", "--scope", "nope:read", "--json", expect=4)
    both("keys", "frobnicate", expect=2)
    both(expect=2)
    both("--version")
    both("keys", "issue", "--help")

    # Webhooks, with everything that would differ fixed.
    secret = data(one("pip", "webhook", "secret", "standard", "--json"))["secret"]
    body = b'{"event":"bot.created"}'
    sign = ("webhook", "sign", "standard", "--secret", secret, "--id", "msg_1", "--timestamp", "1700000000")
    headers = both(*sign, stdin=body).stdout.decode().splitlines()
    hargs = [a for h in headers for a in ("-H", h)]
    both("webhook", "verify", "standard", "--secret", secret, "--tolerance", "none", *hargs, stdin=body)
    both("webhook", "verify", "standard", "--secret", secret, "--tolerance", "none", *hargs, stdin=b"{}", expect=1)
    both("webhook", "verify", "standard", *hargs, stdin=body, expect=2)  # no secret

    # What one changes, the other sees.
    one("npm", "keys", "deactivate", pid)
    assert both("verify", personal["token"], expect=1).stdout.startswith(b"inactive (401)")
    one("pip", "keys", "activate", pid)
    rotated = data(one("pip", "keys", "rotate", bid, "--grace", "1h", "--json"))
    assert rotated["key"]["id"] == bid and rotated["token"] != bot["token"]
    both("verify", rotated["token"])
    both("verify", bot["token"])  # within the grace period
    assert data(one("npm", "keys", "revoke", pid, "--json"))["status"] == "revoked"
    assert data(both("keys", "list", "--status", "revoked", "--json"))["keys"][0]["id"] == pid
    # Only --spend counts, from either package.
    one("npm", "verify", rotated["token"], "--spend")
    one("pip", "verify", rotated["token"], "--spend")
    assert data(both("keys", "show", bid, "--json"))["usage_count"] == 2
    # The audit trail and the usage history read alike, whoever wrote them.
    events = data(both("events", "--key", bid, "--json"))["events"]
    assert [e["action"] for e in events] == ["regenerated", "issued"]
    both("events")
    both("events", "--owner", "nobody", "--since", "1h")
    both("usage", bid, "--json")
    assert b"total: 2 valid, 0 refused" in both("usage", bid).stdout
    both("usage", bid, "--step", "hour", "--days", "1")
    one("npm", "keys", "delete", pid)
    one("pip", "keys", "delete", bid)
    assert both("keys", "list").stdout == b"No keys.\n"
