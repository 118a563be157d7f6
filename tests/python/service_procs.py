"""Helpers for tests that run several gatepass processes on one real
PostgreSQL and one real Redis (test_processes.py, and the Python/Node
cross-check that scripts/test-cross.sh runs): fresh schemas, workers driven
over JSON lines, and latency summaries. Not a test module."""

from __future__ import annotations

import glob
import json
import queue
import secrets
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
PYTHON_WORKER = Path(__file__).resolve().with_name("process_worker.py")


# ----- Postgres schemas --------------------------------------------------


def psql() -> str:
    """psql from the newest Debian PostgreSQL (what scripts/services.sh runs), else PATH."""

    def version(path: str) -> List[int]:
        return [int(x) for x in Path(path).parts[4].split(".") if x.isdigit()]

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), key=version)
    if found:
        return found[-1]
    path = shutil.which("psql")
    if path is None:
        raise RuntimeError("psql not found (it comes with the PostgreSQL packages scripts/services.sh installs)")
    return path


def run_sql(base_url: str, sql: str) -> None:
    command = [psql(), base_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def fresh_schema(base_url: str) -> Tuple[str, str]:
    """A fresh, empty schema on the test server and a store URL whose
    connections use it (``search_path``), so tests never see each other's keys."""
    schema = f"gp_test_{secrets.token_hex(6)}"
    run_sql(base_url, f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(base_url: str, schema: str) -> None:
    try:
        run_sql(base_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    except (subprocess.SubprocessError, OSError):
        pass  # the server may be down after a failed restart test; the schema is scratch


# ----- workers -----------------------------------------------------------

NODE_WORKER = r"""
'use strict'
// One Node worker of the Python/Node cross-check: the same JSON-lines protocol
// as tests/python/process_worker.py. argv[1] is the package to require.
const readline = require('node:readline')
const { Gate } = require(process.argv[1])

const wallMs = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const reply = (m) => process.stdout.write(JSON.stringify(m) + '\n')
let gate = null

async function outcome (token) {
  try {
    return (await gate.verify(`Bearer ${token}`)).code
  } catch (e) {
    return `error:${e.code}`
  }
}

const commands = {
  async open ({ store, rate_limiter }) {
    gate = await Gate.open(store, rate_limiter ? { rateLimiter: rate_limiter } : {})
    return {}
  },
  async issue ({ name, rate_limit }) {
    const { token, key } = await gate.issue(rate_limit ? { name, rateLimit: rate_limit } : { name })
    return { token, id: key.id }
  },
  async revoke ({ id }) {
    const started = wallMs()
    await gate.revoke(id)
    return { started }
  },
  async get ({ id }) {
    const key = await gate.get(id)
    return { usage_count: key.usageCount, status: key.status }
  },
  async watch ({ token, timeout = 10 }) {
    const first = await outcome(token)
    if (first !== 'valid') throw new Error(`the token was not valid before the revoke: ${first}`)
    reply({ ok: true, watching: true })
    const deadline = Date.now() + timeout * 1000
    for (;;) {
      const code = await outcome(token)
      if (code !== 'valid') return { code, seen_at: wallMs() }
      if (Date.now() > deadline) return { code: 'still_valid', seen_at: wallMs() }
      await sleep(1)
    }
  },
  async check ({ token }) {
    const started = performance.now()
    const code = await outcome(token)
    return { code, ms: performance.now() - started }
  },
  async hammer ({ token, count }) {
    const codes = {}
    for (let i = 0; i < count; i++) {
      const code = await outcome(token)
      codes[code] = (codes[code] ?? 0) + 1
    }
    return { codes }
  },
  async close () {
    if (gate !== null) await gate.close()
    gate = null
    return {}
  }
}

async function handle (line) {
  const { cmd, ...args } = JSON.parse(line)
  try {
    reply({ ok: true, ...(await commands[cmd](args)) })
  } catch (e) {
    reply({ ok: false, error: `${e.code ?? e.name}: ${e.message}` })
  }
}

let chain = Promise.resolve()
const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => { if (line.trim()) chain = chain.then(() => handle(line)) })
rl.on('close', () => { chain.then(() => process.exit(0)) })
reply({ ok: true, started: true, lang: 'node' })
"""


class WorkerError(AssertionError):
    pass


class Worker:
    """A worker process answering JSON-line commands in order. Its stderr is
    inherited so tracebacks show in the test output."""

    def __init__(self, argv: Sequence[str], name: str, env: Optional[Dict[str, str]] = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next(timeout=60)  # {"started": true}

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, cmd: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()

    def next(self, timeout: float = 60) -> Dict[str, Any]:
        """The next reply; raises on a reported error, an exit or a timeout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(f"{self.name}: no answer within {timeout} s") from None
        if line is None:
            raise WorkerError(f"{self.name}: exited with {self.proc.wait()}")
        message = json.loads(line)
        if not message.get("ok"):
            raise WorkerError(f"{self.name}: {message.get('error')}")
        return message

    def call(self, cmd: str, timeout: float = 60, **args: Any) -> Dict[str, Any]:
        self.send(cmd, **args)
        return self.next(timeout)

    def stop(self) -> None:
        """Closes the gate (flushing usage), ends stdin and waits for the exit."""
        if self.proc.poll() is None:
            try:
                self.call("close", timeout=30)
            except (WorkerError, OSError):
                pass
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def python_worker(name: str = "python", python: Optional[str] = None) -> Worker:
    return Worker([python or sys.executable, str(PYTHON_WORKER)], name)


def node_worker(name: str = "node", package: Optional[str] = None) -> Worker:
    return Worker(["node", "-e", NODE_WORKER, package or str(ROOT / "bindings-node")], name)


def start_all(workers: List[Worker], cmd: str, **args: Any) -> List[Dict[str, Any]]:
    """Sends one command to every worker at once, then gathers the replies."""
    for w in workers:
        w.send(cmd, **args)
    return [w.next() for w in workers]


# ----- summaries ---------------------------------------------------------


def percentile(sorted_samples: Sequence[float], p: float) -> float:
    return sorted_samples[round((len(sorted_samples) - 1) * p)]


def distribution(samples: Sequence[float]) -> str:
    """``n = …: p50 …, p90 …, p99 …, max …`` in milliseconds."""
    s = sorted(samples)
    return (
        f"n = {len(s)}: p50 {percentile(s, 0.5):.1f} ms, p90 {percentile(s, 0.9):.1f} ms, "
        f"p99 {percentile(s, 0.99):.1f} ms, max {s[-1]:.1f} ms"
    )


def tally(replies: Sequence[Dict[str, Any]]) -> Dict[str, int]:
    """Adds up the ``codes`` of several ``hammer`` replies."""
    total: Dict[str, int] = {}
    for r in replies:
        for code, n in r["codes"].items():
            total[code] = total.get(code, 0) + n
    return total
