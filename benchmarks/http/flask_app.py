"""Flask app for benchmarks/http/run.py: the same answer behind no
authentication, a header-only decorator, and gatepass (one scope).

Served by gunicorn: ``gunicorn -w 1 -k gthread flask_app:app``; the store is
``$BENCH_STORE`` (a ``sqlite://`` URL).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from flask import Flask, abort, g, request

from gatepass.flask import Gatepass

app = Flask(__name__)
app.config["GATEPASS_STORE"] = os.environ["BENCH_STORE"]
gp = Gatepass(app)


def bearer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The header-only check, written the Flask way: a decorator that reads
    ``Authorization`` and keeps the token, checking nothing else."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or len(header) == len("Bearer "):
            abort(401)
        g.token = header[len("Bearer ") :]
        return view(*args, **kwargs)

    return wrapper


@app.get("/none")
def no_auth() -> Any:
    return {"bots": [], "key": "none"}


@app.get("/header")
@bearer_required
def header_only() -> Any:
    return {"bots": [], "key": "header"}


@app.get("/gatepass")
@gp.require("bots:read")
def with_gatepass() -> Any:
    key = gp.current_key
    return {"bots": [], "key": key.id if key else None}
