"""Python and Node answer the management API the same: one scenario
(tests/vectors/manage_scenario.json) run through ``gatepass.manage.answer``
here and through ``gate.manage`` in a Node process gives the same status,
headers and body once ids, tokens, times and cursors are normalised."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import gatepass
from gatepass.manage import answer

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = json.loads((ROOT / "tests" / "vectors" / "manage_scenario.json").read_text(encoding="utf-8"))

VOLATILE = [
    (re.compile(r"key_[A-Za-z0-9]{16}"), "key"),
    (re.compile(r"evt_[A-Za-z0-9]{16}"), "event"),
    (re.compile(r"\b[a-z][a-z0-9]*_[A-Za-z0-9]{20,}"), "token"),
]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def normalised(transcript: List[Dict[str, Any]]) -> List[Tuple[int, List[Tuple[str, str]], Any]]:
    """Ids, tokens and event ids become numbered placeholders in order of
    first appearance (so "the same key" stays visible), times ``<time>``,
    cursors ``<cursor>``."""
    names: Dict[str, str] = {}

    def name(kind: str, value: str) -> str:
        return names.setdefault(value, f"<{kind}{len(names) + 1}>")

    def scrub(text: str) -> str:
        for pattern, kind in VOLATILE:
            text = pattern.sub(lambda m, kind=kind: name(kind, m.group(0)), text)
        # A token's first characters, the prefix people see, likewise.
        text = re.sub(r'"prefix":"([^"]*)…"', lambda m: f'"prefix":"{name("prefix", m.group(1))}…"', text)
        return TIME.sub("<time>", text)

    def starts(value: Any) -> Any:
        """An event's ``start`` change (a token's visible start) by name."""
        if isinstance(value, list):
            return [starts(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: starts(v) for k, v in value.items()}
        change = out.get("start")
        if isinstance(change, dict):
            out["start"] = {k: name("prefix", v) if isinstance(v, str) else v for k, v in change.items()}
        return out

    out = []
    for a in transcript:
        text = scrub(a["body"])
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        if isinstance(body, dict) and isinstance(body.get("next"), str):
            body["next"] = "<cursor>"
        body = starts(body)
        headers = sorted((k.lower(), scrub(v)) for k, v in a["headers"] if k.lower() != "content-length")
        out.append((a["status"], headers, body))
    return out


def python_transcript() -> List[Dict[str, Any]]:
    gate = gatepass.Gate("memory://")
    saved: Dict[str, str] = {}
    out = []
    for step in SCENARIO["steps"]:
        target = re.sub(r"\{(\w+)\}", lambda m: saved[m.group(1)], step["path"])
        path, _, query = target.partition("?")
        headers: Dict[str, str] = {"Origin": SCENARIO["self_origin"]}
        body = b""
        if "body" in step:
            body = json.dumps(step["body"]).encode()
            headers["Content-Type"] = "application/json"
        elif "raw" in step:
            body = step["raw"].encode()
            headers["Content-Type"] = "application/json"
        for k, v in step.get("headers", {}).items():
            if v is None:
                headers.pop(k, None)
            else:
                headers[k] = v
        p = SCENARIO["principals"][step["as"]]
        who = gatepass.Principal(owner=p.get("owner"), actor=p["actor"], operator=p.get("operator", False))
        status, h, data = answer(
            gate, who, step["method"], path, query, list(headers.items()), SCENARIO["self_origin"], body
        )
        text = data.decode()
        if step.get("save") and status < 300:
            j = json.loads(text)
            saved[step["save"]] = j["key"]["id"]
            saved["token"] = j["token"]
        out.append({"status": status, "headers": [list(x) for x in h], "body": text})
    return out


def node_transcript() -> List[Dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not list((ROOT / "bindings-node").glob("*.node")):
        pytest.skip("needs node and the Node addon (scripts/test-node.sh builds it)")
    run = subprocess.run(
        [node, str(ROOT / "tests" / "node" / "manage-scenario.js")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_python_and_node_give_the_same_answers() -> None:
    ours = normalised(python_transcript())
    theirs = normalised(node_transcript())
    assert len(ours) == len(theirs) == len(SCENARIO["steps"])
    for step, mine, node in zip(SCENARIO["steps"], ours, theirs):
        assert mine == node, (step, mine, node)


def test_the_scenario_is_answered_not_stubbed() -> None:
    """The comparison means something only if the answers differ from each
    other: creation succeeded, another owner got 404, the cross-origin
    change 403, the text/plain one 415."""
    ours = python_transcript()
    by_step = {i: a for i, a in enumerate(ours)}
    statuses = [a["status"] for a in ours]
    steps = SCENARIO["steps"]
    created = next(i for i, s in enumerate(steps) if s.get("save"))
    assert by_step[created]["status"] == 201
    bob_get = next(i for i, s in enumerate(steps) if s["as"] == "bob" and s["method"] == "GET" and "{key}" in s["path"])
    assert statuses[bob_get] == 404
    evil = next(i for i, s in enumerate(steps) if s.get("headers", {}).get("Origin") == "http://evil.example")
    assert statuses[evil] == 403
    plain = next(i for i, s in enumerate(steps) if s.get("headers", {}).get("Content-Type") == "text/plain")
    assert statuses[plain] == 415
