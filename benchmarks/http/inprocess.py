"""In-process benchmark (not a test): the CPU time each route of the HTTP
benchmark's apps costs inside its framework, with no server and no socket.

``run.py`` measures whole requests under wrk. On a shared machine the speed
of the CPU itself drifts by up to 2x from one second to the next (the same
route's CPU time per request does, not only its throughput), which is far
more than the difference being looked for. Here the same three routes of the
same app modules (``flask_app``, ``drf_app``, ``fastapi_app``) are called
directly -- WSGI for Flask and Django/DRF, ASGI for FastAPI -- in short
batches that alternate between the routes many times, and each batch's
process CPU time (every thread: gatepass's usage flusher included) is read.
Drift then falls on the three routes alike, and the difference between the
gatepass route and the header-only route, per round, is what gatepass adds
inside the framework.

    python benchmarks/http/inprocess.py                       # flask, drf, fastapi, express
    python benchmarks/http/inprocess.py --frameworks flask --rounds 40
    python benchmarks/http/inprocess.py --frameworks express --express-build old=/tmp/old/bindings-node
    python benchmarks/http/inprocess.py --http-json run.json  # also: share of a whole request

With ``--http-json`` (``run.py --json``), the added time is also given as a
share of a whole request's CPU time on the no-auth route as ``run.py``
measured it: gatepass's points under the definition ``run.py`` uses, with
the server's own cost in the denominator. Express is measured by
``inprocess.js`` (a loopback server and client in one Node process, since
Express has no request-free entry point; the client's cost is the same for
every route).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
ROUTES = ("none", "header", "gatepass")
FRAMEWORKS = ("flask", "drf", "fastapi", "express")


def wsgi_caller(app: Callable, token: str) -> Callable[[str, int], None]:
    def environ(route: str) -> dict:
        return {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": f"/{route}",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }

    prepared = {route: environ(route) for route in ROUTES}
    statuses: List[str] = []

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        statuses.append(status)

    def call(route: str, n: int) -> None:
        base = prepared[route]
        for _ in range(n):
            env = dict(base)
            env["wsgi.input"] = io.BytesIO(b"")
            result = app(env, start_response)
            b"".join(result)
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not statuses[-1].startswith("200"):
            raise SystemExit(f"/{route} answered {statuses[-1]}")
        statuses.clear()

    return call


def asgi_caller(app: Callable, token: str) -> Callable[[str, int], None]:
    loop = asyncio.new_event_loop()
    status: Dict[str, int] = {}

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status["last"] = message["status"]

    def scope(route: str) -> dict:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/{route}",
            "raw_path": f"/{route}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    async def batch(route: str, n: int) -> None:
        for _ in range(n):
            await app(scope(route), receive, send)

    def call(route: str, n: int) -> None:
        loop.run_until_complete(batch(route, n))
        if status.get("last") != 200:
            raise SystemExit(f"/{route} answered {status.get('last')}")

    return call


def measure(framework: str, rounds: int, batch: int) -> Dict[str, List[float]]:
    """Runs in a process of its own: the app modules configure their
    framework globally at import."""
    import gatepass

    work = Path(tempfile.mkdtemp(prefix="gatepass-inprocess-"))
    store = f"sqlite:///{work / 'keys.db'}"
    gate = gatepass.Gate(store)
    token = gate.issue("bench", scopes=["bots:read"]).token
    gate.close()
    os.environ["BENCH_STORE"] = store
    sys.path.insert(0, str(HERE))
    if framework == "flask":
        import flask_app

        call = wsgi_caller(flask_app.app.wsgi_app, token)
    elif framework == "drf":
        import drf_app

        call = wsgi_caller(drf_app.application, token)
    elif framework == "fastapi":
        import fastapi_app

        call = asgi_caller(fastapi_app.app, token)
    else:
        raise SystemExit(f"unknown framework {framework}")

    for route in ROUTES:  # warm-up: caches, imports, the key's cache entry
        call(route, batch)
    results: Dict[str, List[float]] = {route: [] for route in ROUTES}
    for r in range(rounds):
        k = r % len(ROUTES)
        for route in ROUTES[k:] + ROUTES[:k]:
            started = time.process_time_ns()
            call(route, batch)
            results[route].append((time.process_time_ns() - started) / 1000 / batch)
    return results


def whole_request_us(http_json: Path, framework: str) -> float:
    """The median CPU time per request of the no-auth route in a run.py run
    (for express-NAME, the Express server's)."""
    servers = json.loads(http_json.read_text())["servers"]
    server = servers.get(framework) or servers["express"]
    return statistics.median(server["cpu_us_per_request"]["none"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=1000, help="calls of one route per measurement")
    ap.add_argument("--http-json", type=Path, help="a run.py --json file, for the share of a whole request")
    ap.add_argument(
        "--express-build",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure Express with the gatepass package in DIR, as express-NAME",
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:
        print(json.dumps(measure(args.one, args.rounds, args.batch)))
        return

    print(
        f"in-process: {args.rounds} rounds x {args.batch} calls per route, routes alternating; "
        "process CPU time per call (µs), median of the rounds [min..max]"
    )
    print(f"{'framework':<12}{'no auth':>18}{'header only':>18}{'gatepass':>18}   gatepass - header, µs   share")
    builds = dict(b.split("=", 1) for b in args.express_build)
    names = [f for f in args.frameworks.split(",") if f] + [f"express-{b}" for b in builds]
    for framework in names:
        if framework.startswith("express"):
            env = dict(os.environ)
            build = builds.get(framework.partition("-")[2], "")
            if build:
                env["GATEPASS_PACKAGE"] = build
            command = ["node", str(HERE / "inprocess.js"), str(args.rounds), str(args.batch)]
        else:
            env = None
            command = [sys.executable, __file__, "--one", framework, "--rounds", str(args.rounds)]
            command += ["--batch", str(args.batch)]
        out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=HERE)
        if out.returncode != 0:
            raise SystemExit(f"{framework}: {out.stderr}")
        results = json.loads(out.stdout.strip().splitlines()[-1])
        added = [g - h for h, g in zip(results["header"], results["gatepass"])]

        def col(xs: List[float]) -> str:
            return f"{statistics.median(xs):.1f} [{min(xs):.1f}..{max(xs):.1f}]".rjust(18)

        share = ""
        if args.http_json:
            whole = whole_request_us(args.http_json, framework)
            # Throughput ~ 1 / CPU per request: (1/h - 1/g) / (1/n) with the
            # whole request's no-auth time n, and h, g = n + the route's extra.
            extra_h = statistics.median(results["header"]) - statistics.median(results["none"])
            extra_g = extra_h + statistics.median(added)
            points = 100 * whole * (1 / (whole + extra_h) - 1 / (whole + extra_g))
            share = f"{points:.1f} points of {whole:.0f} µs"
        print(
            f"{framework:<12}"
            + "".join(col(results[route]) for route in ROUTES)
            + f"   {statistics.median(added):.1f} [{min(added):.1f}..{max(added):.1f}]".ljust(24)
            + share,
            flush=True,
        )


if __name__ == "__main__":
    main()
