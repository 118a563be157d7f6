"""The environment variables, read by the core the same way in Python and
Node: GATEPASS_STORE, GATEPASS_POLICY, GATEPASS_RATE_LIMITER and
GATEPASS_REPLAY_GUARD. Each language runs in a fresh process with only the
variables under test set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

import gatepass

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

PYTHON = """
import json, sys, gatepass
out = {"store": gatepass.default_store_url()}
try:
    g = gatepass.Gate()
    out["token"] = g.issue("x", kind="bot").token
    g.close()
except gatepass.GatepassError as e:
    out["error"] = [e.code, e.message]
try:
    v = gatepass.WebhookVerifier("standard", [sys.argv[1]], replay_guard=True)
    body = b"{}"
    v.verify(body, gatepass.WebhookSigner("standard", sys.argv[1]).sign(body, id="msg_env"))
    out["webhook"] = "valid"
except gatepass.GatepassError as e:
    out["webhook"] = e.code
print(json.dumps(out))
"""

NODE = """
const gatepass = require(process.argv[1])
async function main () {
  const out = {}
  try {
    const g = await gatepass.Gate.open()
    out.token = (await g.issue({ name: 'x', kind: 'bot' })).token
    await g.close()
  } catch (e) {
    out.error = [e.code, e.message]
  }
  try {
    const v = new gatepass.WebhookVerifier('standard', { secrets: [process.argv[2]], replayGuard: true })
    const body = '{}'
    v.verify(body, new gatepass.WebhookSigner('standard', process.argv[2]).sign(body, { id: 'msg_env' }))
    out.webhook = 'valid'
  } catch (e) {
    out.webhook = e.code
  }
  process.stdout.write(JSON.stringify(out) + '\\n')
}
main()
"""


def run(language: str, env: Dict[str, str], cwd: Path) -> Dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    if language == "python":
        cmd = [sys.executable, "-c", PYTHON, SECRET]
    else:
        node = shutil.which("node")
        if node is None or not list((ROOT / "bindings-node").glob("*.node")):
            if os.environ.get("CI") == "true":
                pytest.fail("node and the built addon are needed")
            pytest.skip("node or the built addon missing")
        cmd = [node, "-e", NODE, str(ROOT / "bindings-node" / "index.js"), SECRET]
    done = subprocess.run(cmd, env={**base, **env}, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("language", ["python", "node"])
def test_store_and_policy_come_from_the_environment(language, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[kinds.bot]\nprefix = "envbot"\n')
    db = tmp_path / "env.db"
    out = run(language, {"GATEPASS_STORE": f"sqlite:///{db}", "GATEPASS_POLICY": str(policy)}, tmp_path)
    assert str(out["token"]).startswith("envbot_"), out
    assert db.exists()
    if language == "python":
        assert out["store"] == f"sqlite:///{db}"
    assert out["webhook"] == "valid"  # no GATEPASS_REPLAY_GUARD: memory


@pytest.mark.parametrize("language", ["python", "node"])
def test_without_variables_the_default_store_is_gatepass_db(language, tmp_path):
    out = run(language, {}, tmp_path)
    # No policy: the kind is unknown, and the default store was opened here.
    assert out["error"][0] == "unknown_kind", out
    assert (tmp_path / "gatepass.db").exists()


@pytest.mark.parametrize("language", ["python", "node"])
def test_a_broken_policy_file_or_limiter_is_reported_not_ignored(language, tmp_path):
    out = run(language, {"GATEPASS_STORE": "memory://", "GATEPASS_POLICY": str(tmp_path / "nope.toml")}, tmp_path)
    assert out["error"][0] == "config_error" and "GATEPASS_POLICY" in out["error"][1], out
    out = run(language, {"GATEPASS_STORE": "memory://", "GATEPASS_RATE_LIMITER": "ftp://x"}, tmp_path)
    assert out["error"][0] == "config_error", out


@pytest.mark.parametrize("language", ["python", "node"])
def test_replay_guard_true_uses_gatepass_replay_guard(language, tmp_path, failing_redis_url):
    out = run(language, {"GATEPASS_STORE": "memory://", "GATEPASS_REPLAY_GUARD": failing_redis_url}, tmp_path)
    # The guard named by the variable was used (and its server failed).
    assert out["webhook"] == "replay_guard_failed", out


def test_default_store_url_is_the_cores():
    assert gatepass.default_store_url() == gatepass._native.store_url(None)
