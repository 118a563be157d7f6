"""The policy is found everywhere: Python, Node and the command line, each in
a fresh process on one SQLite file, work under the same policy whether it
comes from ``$GATEPASS_POLICY``, from ``./gatepass.toml`` or from the record
the store keeps of the last policy it was opened with; a different policy is
used, reported (a warning and ``policy_mismatch``), and never refused.

Each run reports what the core says: the policy's source, the kind a key
gets by default, and the kinds the policy knows (from the message an unknown
kind is refused with, which lists them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]

APP = """
realm = "botpress"
default_kind = "pat"
scopes = ["bots:read", "bots:write"]

[kinds.pat]
prefix = "bp_pat"
rate_limit = "1000/hour"

[kinds.bot]
prefix = "bp_bot"
scopes = ["bots:read"]
"""

# The next release of the app: the bot kind became an agent kind.
NEXT = APP.replace("[kinds.bot]", "[kinds.agent]").replace("bp_bot", "bp_agent")

PYTHON = """
import json, gatepass
g = gatepass.Gate()
out = {"source": g.policy_source, "mismatch": g.policy_mismatch}
out["default"] = g.issue("d").key.kind
try:
    g.issue("x", kind="nope")
except gatepass.GatepassError as e:
    out["unknown"] = [e.code, e.message]
g.close()
print(json.dumps(out))
"""

NODE = """
const gatepass = require(process.argv[1])
async function main () {
  const g = await gatepass.Gate.open()
  const out = { source: g.policySource, mismatch: g.policyMismatch }
  out.default = (await g.issue({ name: 'd' })).key.kind
  try {
    await g.issue({ name: 'x', kind: 'nope' })
  } catch (e) {
    out.unknown = [e.code, e.message]
  }
  await g.close()
  process.stdout.write(JSON.stringify(out) + '\\n')
}
main()
"""


def node_command() -> list:
    node = shutil.which("node")
    if node is None or not list((ROOT / "bindings-node").glob("*.node")):
        if os.environ.get("CI") == "true":
            pytest.fail("node and the built addon are needed")
        pytest.skip("node or the built addon missing")
    return [node, "-e", NODE, str(ROOT / "bindings-node" / "index.js")]


def run(language: str, cwd: Path, store: str, policy: Optional[Path]) -> Dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env["GATEPASS_STORE"] = store
    if policy is not None:
        env["GATEPASS_POLICY"] = str(policy)
    if language == "cli":
        return run_cli(cwd, env)
    cmd = [sys.executable, "-c", PYTHON] if language == "python" else node_command()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    out["stderr"] = done.stderr
    return out


def run_cli(cwd: Path, env: Dict[str, str]) -> Dict[str, object]:
    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "gatepass", *args]
        return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)

    issued = cli("keys", "issue", "d", "--json")
    assert issued.returncode == 0, issued.stderr
    refused = cli("keys", "issue", "x", "--kind", "nope", "--json")
    assert refused.returncode == 4, refused.stdout
    error = json.loads(refused.stdout)["error"]
    source = re.search(r"policy in force: (.*); its kinds:", error["message"])
    assert source is not None, error
    return {
        "source": source.group(1),
        "default": json.loads(issued.stdout)["key"]["kind"],
        "unknown": [error["code"], error["message"]],
        "stderr": issued.stderr + refused.stderr,
    }


def kinds(out: Dict[str, object]) -> str:
    code, message = out["unknown"]  # type: ignore[misc]
    assert code == "unknown_kind", out
    found = re.search(r"its kinds: (.*)\)$", str(message))
    assert found is not None, message
    return found.group(1)


LANGUAGES = ["python", "node", "cli"]


@pytest.fixture
def app(tmp_path: Path) -> Dict[str, object]:
    (tmp_path / "app.toml").write_text(APP)
    (tmp_path / "next.toml").write_text(NEXT)
    return {"dir": tmp_path, "store": f"sqlite:///{tmp_path / 'shared.db'}"}


def test_with_gatepass_policy_and_without_every_tool_agrees(app) -> None:
    cwd, store = app["dir"], str(app["store"])
    assert isinstance(cwd, Path)
    policy = cwd / "app.toml"
    runs = {}
    # The app's processes start with the variable set: the policy is recorded.
    for language in LANGUAGES:
        out = run(language, cwd, store, policy)
        assert out["source"] == f"$GATEPASS_POLICY={policy}", out
        runs[(language, "env")] = out
    # Tools (another shell, a cron job) open the same store with nothing set.
    for language in LANGUAGES:
        out = run(language, cwd, store, None)
        assert out["source"] == "the policy recorded in the store", out
        runs[(language, "store")] = out
    for key, out in runs.items():
        assert kinds(out) == "bot (bp_bot), pat (bp_pat)", key
        assert out["default"] == "pat", key
        assert "differs" not in str(out["stderr"]), key
    # A store no policy was recorded in: the default, for every tool alike.
    fresh = f"sqlite:///{cwd / 'fresh.db'}"
    for language in LANGUAGES:
        out = run(language, cwd, fresh, None)
        assert kinds(out) == "default (gp)" and out["default"] == "default", (language, out)
        assert str(out["source"]).startswith("no policy"), out


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_different_policy_is_used_reported_and_recorded(app, language: str) -> None:
    cwd, store = app["dir"], str(app["store"])
    assert isinstance(cwd, Path)
    run("python", cwd, store, cwd / "app.toml")
    out = run(language, cwd, store, cwd / "next.toml")
    # Used: the new kinds are in force…
    assert kinds(out) == "agent (bp_agent), pat (bp_pat)", out
    # …the difference is reported on stderr (a logged warning in Python, a
    # process warning in Node, the CLI's stderr), naming both policies…
    stderr = str(out["stderr"])
    assert "differs from the one in the store" in stderr, stderr
    assert "agent (bp_agent), pat (bp_pat) here" in stderr, stderr
    assert "bot (bp_bot), pat (bp_pat) recorded" in stderr, stderr
    if language != "cli":
        assert out["mismatch"] is not None and "differs" in str(out["mismatch"]), out
    # …and recorded: a tool with nothing set now works under it.
    after = run("python", cwd, store, None)
    assert kinds(after) == "agent (bp_agent), pat (bp_pat)", after
    assert after["mismatch"] is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_gatepass_toml_in_the_working_directory_is_found(app, language: str) -> None:
    cwd = app["dir"]
    assert isinstance(cwd, Path)
    project = cwd / "project"
    project.mkdir()
    (project / "gatepass.toml").write_text(APP)
    out = run(language, project, f"sqlite:///{cwd / 'local.db'}", None)
    assert out["source"] == "./gatepass.toml in the working directory", out
    assert kinds(out) == "bot (bp_bot), pat (bp_pat)"
    # $GATEPASS_POLICY wins over the file.
    out = run(language, project, f"sqlite:///{cwd / 'local2.db'}", cwd / "next.toml")
    assert kinds(out) == "agent (bp_agent), pat (bp_pat)", out
