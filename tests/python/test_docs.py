"""The documentation's code runs, so the docs cannot drift from the package.

- docs/walkthrough.md and docs/policy.md: every ```python block is executed,
  in order, in one namespace (as a reader pasting them into one interpreter
  would), then every ```sh block with bash, in a scratch directory holding a
  copy of examples/policies/ (the blocks use paths relative to the
  repository's root). The blocks assert what they claim; the walkthrough's
  Flask app is then also served by a real werkzeug server and called over HTTP.
- A ```toml block right after ``<!-- file: PATH -->`` must be PATH's content,
  so the policy files the docs show are the ones in examples/policies/.
- Every file in examples/policies/ opens as a policy and is shown in the docs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest
from werkzeug.serving import make_server

import gatepass

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
POLICIES = ROOT / "examples" / "policies"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
FILE_BLOCK = re.compile(r"^<!-- file: (\S+) -->\n```toml\n(.*?)^```$", re.S | re.M)


def fenced(doc: Path, lang: str) -> List[str]:
    return [m.group(2) for m in FENCE.finditer(doc.read_text(encoding="utf-8")) if m.group(1) == lang]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(POLICIES, tmp_path / "examples" / "policies")
    monkeypatch.chdir(tmp_path)
    # What the walkthrough reads from the environment, as a deployment sets it.
    monkeypatch.setenv("LANDBOT_WEBHOOK_TOKEN", gatepass.generate_secret("token"))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", gatepass.generate_secret("stripe"))
    for name in ("GATEPASS_STORE", "GATEPASS_RATE_LIMITER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run_doc(doc: Path, cwd: Path) -> Dict[str, Any]:
    namespace: Dict[str, Any] = {"__name__": doc.stem}
    python_blocks = fenced(doc, "python")
    assert python_blocks, f"{doc.name} has no python blocks"
    try:
        for i, code in enumerate(python_blocks, 1):
            exec(compile(code, f"{doc.name}, python block {i}", "exec"), namespace)
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        for i, script in enumerate(fenced(doc, "sh"), 1):
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{doc.name}, sh block {i} exited {done.returncode}:\n{done.stderr}"
    finally:
        for value in list(namespace.values()):
            if isinstance(value, gatepass.Gate):
                value.close()
    return namespace


def test_policy_doc_blocks_run(scratch: Path) -> None:
    run_doc(DOCS / "policy.md", scratch)


def test_walkthrough_blocks_run(scratch: Path) -> None:
    ns = run_doc(DOCS / "walkthrough.md", scratch)
    # The blocks ran against the stores they name, with the kinds of each policy.
    kinds = {key.kind for key in ns["gate"].iter_keys()}
    assert kinds == {"personal", "bot"}
    assert {key.kind for key in ns["modes"].iter_keys()} == {"live", "test"}
    bound = [key for key in ns["workspace"].gate.iter_keys() if key.resource]
    assert [key.resource for key in bound] == ["channel:ch_web"]
    # The sh block's keys went into the same store as the app's.
    assert "Bob's laptop" in {key.name for key in ns["gate"].iter_keys(subject="user_bob")}
    # The page says a real server answers as the test client did: serve the app.
    server = make_server("127.0.0.1", 0, ns["app"], threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/bots"
        auth = {"Authorization": f"Bearer {ns['alice'].token}"}
        with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=30) as r:
            assert r.status == 200 and json.loads(r.read())["caller"] == "user_alice"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=30)
        assert denied.value.code == 401
        assert denied.value.headers["WWW-Authenticate"] == 'Bearer realm="chatbot-platform"'
        assert json.loads(denied.value.read())["code"] == "missing_credentials"
    finally:
        server.shutdown()
        thread.join()


def test_policy_files_shown_in_the_docs_are_the_files() -> None:
    shown = []
    for doc in sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]:
        for m in FILE_BLOCK.finditer(doc.read_text(encoding="utf-8")):
            path = ROOT / m.group(1)
            assert path.is_file(), f"{doc.name} shows {m.group(1)}, which does not exist"
            assert m.group(2) == path.read_text(encoding="utf-8"), f"{doc.name}'s copy of {m.group(1)} differs"
            shown.append(path.name)
    assert sorted(set(shown)) == sorted(p.name for p in POLICIES.glob("*.toml"))


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.toml")), ids=lambda p: p.name)
def test_example_policies_open(path: Path) -> None:
    gate = gatepass.Gate("memory://", policy=str(path))
    try:
        assert len(gate.kinds) == 2 and gate.scope_catalogue
        for name, prefix in gate.kinds:
            issued = gate.issue(f"a {name} key", kind=name)
            assert issued.token.startswith(f"{prefix}_") and issued.key.kind == name
    finally:
        gate.close()
