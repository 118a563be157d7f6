"""HTTP benchmark (not a test): what gatepass costs a real app, per framework.

Each framework serves one app (``*_app.py``, ``express_app.js``) with its usual
production server -- Flask and Django/DRF under gunicorn, FastAPI under uvicorn,
Express under node, one worker process each -- with three routes that give the
same small JSON answer: ``/none`` (no authentication), ``/header`` (a
header-only check written the framework's own way) and ``/gatepass``
(``authenticate`` + one scope, on a ``sqlite://`` file of its own). ``wrk``
loads one route at a time, in interleaved rounds: every round measures every
route of every server once, rotating the order, so load from other processes
falls on all of them alike.

gatepass's share, per round, is ``(header - gatepass) / none`` in points of
the no-auth throughput: what verifying a key costs beyond reading the header.
It is given twice: from wrk's throughput, and from the servers' CPU time per
request (read from /proc around each wrk run), which load from other
processes disturbs far less on a shared machine.

    python benchmarks/http/run.py                     # all four, 5 rounds x 5 s
    python benchmarks/http/run.py --frameworks express --rounds 7
    python benchmarks/http/run.py --frameworks express --express-build old=/tmp/old-pkg

Needs ``wrk``, gunicorn and uvicorn, and the gatepass wheel and the packages of
``benchmarks/python/requirements.txt`` in the running Python. Servers run on
``--server-cpu``, wrk on ``--wrk-cpu`` (``taskset``); both under ``chrt -f 10``
with ``--chrt`` (see below why it is off by default).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ROUTES = ("none", "header", "gatepass")
FRAMEWORKS = ("flask", "fastapi", "drf", "express")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def can_chrt() -> bool:
    try:
        return subprocess.run(["chrt", "-f", "10", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


@dataclass
class Server:
    name: str
    command: List[str]
    env: Dict[str, str]
    port: int
    process: Optional[subprocess.Popen] = None
    results: Dict[str, List[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    # Server CPU time per request (µs), the server's processes together.
    cpu: Dict[str, List[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})

    def start(self, prefix: List[str], log: Path) -> None:
        out = open(log, "wb")  # noqa: SIM115 -- closed with the process
        self.process = subprocess.Popen(
            prefix + self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=HERE
        )

    def wait_ready(self, token: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.process.returncode}")
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{self.port}/gatepass", headers={"Authorization": f"Bearer {token}"}
                )
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"{self.name} did not answer 200 on /gatepass within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def servers(names: List[str], stores: Dict[str, str], builds: Dict[str, str]) -> List[Server]:
    bindir = Path(sys.executable).parent
    out = []
    for name in names:
        port = free_port()
        env = {**os.environ, "BENCH_STORE": stores[name], "PYTHONDONTWRITEBYTECODE": "1"}
        if name in ("flask", "drf"):
            target = "flask_app:app" if name == "flask" else "drf_app:application"
            # gthread: the worker class that keeps connections alive (the
            # default sync worker closes each one after a request).
            cmd = [
                str(bindir / "gunicorn"),
                "-w",
                "1",
                "-k",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                target,
            ]
        elif name == "fastapi":
            cmd = [
                str(bindir / "uvicorn"),
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                "fastapi_app:app",
            ]
        elif name.startswith("express"):
            build = builds.get(name.partition("-")[2] or "", "")
            if build:
                env["GATEPASS_PACKAGE"] = build
            cmd = ["node", "express_app.js", str(port)]
        else:
            raise SystemExit(f"unknown framework {name}")
        out.append(Server(name, cmd, env, port))
    return out


WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_COUNT = re.compile(r"(\d+) requests in ")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and its descendants (gunicorn's
    worker is a child of its arbiter), from /proc."""
    parents: Dict[int, int] = {}
    times: Dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


WRK_BAD = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*")


def wrk(prefix: List[str], port: int, route: str, token: str, seconds: float, connections: int) -> tuple:
    cmd = prefix + [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "-H",
        f"Authorization: Bearer {token}",
        f"http://127.0.0.1:{port}/{route}",
    ]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    bad = WRK_BAD.search(text)
    if bad and not bad.group(0).startswith("Socket errors: connect 0, read 0, write 0, timeout 0"):
        raise SystemExit(f"wrk on /{route} port {port}: {bad.group(0)}\n{text}")
    m = WRK_RATE.search(text)
    n = WRK_COUNT.search(text)
    if not m or not n:
        raise SystemExit(f"no rate in wrk output:\n{text}")
    return float(m.group(1)), int(n.group(1))


ISSUE_WITH_NODE = """
const { Gate } = require('gatepass')
Gate.open(process.argv[1]).then(async (gate) => {
  const { token } = await gate.issue({ name: 'bench', scopes: ['bots:read'] })
  await gate.close()
  process.stdout.write(token)
})
"""


def issue_token(store: str) -> str:
    try:
        import gatepass
    except ImportError:  # an Express-only run without the wheel
        return subprocess.run(
            ["node", "-e", ISSUE_WITH_NODE, store], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout
    gate = gatepass.Gate(store)
    issued = gate.issue("bench", scopes=["bots:read"])
    gate.close()
    return issued.token


def column(xs: List[float]) -> str:
    return f"{statistics.median(xs):.0f} [{min(xs):.0f}..{max(xs):.0f}]".rjust(20)


def spread(xs: List[float]) -> str:
    return f"{min(xs):.1f}..{max(xs):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument(
        "--express-build",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also serve Express with the gatepass package in DIR, as express-NAME",
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--wrk-cpu", default="1")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--chrt", action="store_true", help="run servers and wrk under chrt -f 10")
    args = ap.parse_args()

    builds = dict(b.split("=", 1) for b in args.express_build)
    names = [n for n in args.frameworks.split(",") if n] + [f"express-{b}" for b in builds]
    work = Path(tempfile.mkdtemp(prefix="gatepass-http-bench-"))
    first = f"sqlite:///{work / 'first.db'}"
    token = issue_token(first)
    stores = {}
    for name in names:
        # A file per server: one server's usage commits would otherwise empty
        # the others' caches (a commit anywhere is seen by every process).
        shutil.copy(work / "first.db", work / f"{name}.db")
        stores[name] = f"sqlite:///{work / f'{name}.db'}"

    # Off by default: under SCHED_FIFO on one CPU a server's own threads
    # (gunicorn's threads contending for the GIL, libuv's pool, gatepass's
    # usage flusher) wait behind the thread that is busy serving, and some
    # rounds answered nothing at all.
    chrt = ["chrt", "-f", "10"] if args.chrt and can_chrt() else []
    server_prefix = chrt + ["taskset", "-c", args.server_cpu]
    wrk_prefix = chrt + ["taskset", "-c", args.wrk_cpu]
    all_servers = servers(names, stores, builds)
    loads: List[float] = []
    try:
        for s in all_servers:
            s.start(server_prefix, work / f"{s.name}.log")
        for s in all_servers:
            s.wait_ready(token)
            for route in ROUTES:  # warm-up, discarded
                wrk(wrk_prefix, s.port, route, token, 1, args.connections)
        print(
            f"gatepass HTTP benchmark: {len(all_servers)} servers, "
            f"{args.rounds} rounds x {args.seconds:g} s per route, wrk -t1 -c{args.connections}; "
            f"servers on CPU {args.server_cpu}, wrk on CPU {args.wrk_cpu}"
            f"{', chrt -f 10' if chrt else ', normal priority'}; {os.cpu_count()} CPUs",
            flush=True,
        )
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            k = r % len(all_servers)
            for s in all_servers[k:] + all_servers[:k]:
                j = r % len(ROUTES)
                for route in ROUTES[j:] + ROUTES[:j]:
                    assert s.process is not None
                    before = cpu_seconds(s.process.pid)
                    rate, count = wrk(wrk_prefix, s.port, route, token, args.seconds, args.connections)
                    s.results[route].append(rate)
                    s.cpu[route].append(1e6 * (cpu_seconds(s.process.pid) - before) / max(count, 1))
            print(
                f"  round {r + 1}: load average {loads[-1]:.1f}; "
                + "; ".join(
                    f"{s.name} " + "/".join(f"{s.results[route][-1]:.0f}" for route in ROUTES) for s in all_servers
                ),
                flush=True,
            )
        loads.append(os.getloadavg()[0])
    finally:
        for s in all_servers:
            s.stop()

    print("\nreq/s, median of the rounds [min..max]; share = (header - gatepass) / none, points, per round")
    print(f"{'server':<16}{'no auth':>20}{'header only':>20}{'gatepass':>20}   share median [min..max]")
    report = {}
    for s in all_servers:
        measured = zip(s.results["none"], s.results["header"], s.results["gatepass"])
        shares = [100 * (h - g) / n if n > 0 else float("nan") for n, h, g in measured]
        cols = "".join(column(s.results[route]) for route in ROUTES)
        rounds = ", ".join(f"{x:.1f}" for x in shares)
        print(f"{s.name:<16}{cols}   {statistics.median(shares):.1f} [{spread(shares)}]  rounds: {rounds}")
        report[s.name] = {"results": s.results, "shares": shares, "cpu_us_per_request": s.cpu}
    # The same share from the servers' CPU time per request, which other
    # processes on the machine disturb far less than throughput: a
    # single-worker server's throughput is at most 1 / (CPU per request), so
    # the share is (1/header - 1/gatepass) / (1/none) with each route's CPU
    # time per request in place of its rate.
    print("\nserver CPU µs per request, median of the rounds [min..max]; share from CPU time, points, per round")
    print(f"{'server':<16}{'no auth':>20}{'header only':>20}{'gatepass':>20}   share median [min..max]")
    for s in all_servers:
        measured = zip(s.cpu["none"], s.cpu["header"], s.cpu["gatepass"])
        shares = [100 * (1 / h - 1 / g) / (1 / n) if min(n, h, g) > 0 else float("nan") for n, h, g in measured]
        cols = "".join(column(s.cpu[route]) for route in ROUTES)
        rounds = ", ".join(f"{x:.1f}" for x in shares)
        print(f"{s.name:<16}{cols}   {statistics.median(shares):.1f} [{spread(shares)}]  rounds: {rounds}")
        report[s.name]["cpu_shares"] = shares
    print(f"load average (1 min) at each round's start and at the end: {', '.join(f'{x:.1f}' for x in loads)}")
    if args.json:
        args.json.write_text(
            json.dumps({"servers": report, "loads": loads, "chrt": bool(chrt), "seconds": args.seconds}, indent=1)
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
