"""FastAPI app for benchmarks/http/run.py: the same answer behind no
authentication, a ``Security`` dependency that only reads the header, and
gatepass (one scope). Served by uvicorn: ``uvicorn fastapi_app:app``; the
store is ``$BENCH_STORE`` (a ``sqlite://`` URL).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from fastapi import FastAPI, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gatepass import Gate, KeyInfo
from gatepass.fastapi import GatepassSecurity, install

gate = Gate(os.environ["BENCH_STORE"])
api_key = GatepassSecurity(gate)
bearer = HTTPBearer(auto_error=False)
app = FastAPI()
install(app)


async def bearer_token(credentials: Optional[HTTPAuthorizationCredentials] = Security(bearer)) -> str:
    """The header-only check, the FastAPI way: a ``Security`` dependency
    (FastAPI's own ``HTTPBearer``) that reads the token, checking nothing else.
    ``async``, as FastAPI's docs advise for code that does not block: a plain
    ``def`` dependency runs in the thread pool, and that hop alone made this
    route slower than the gatepass one."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


@app.get("/none")
async def no_auth() -> Any:
    return {"bots": [], "key": "none"}


@app.get("/header")
async def header_only(token: str = Security(bearer_token)) -> Any:
    return {"bots": [], "key": "header"}


@app.get("/gatepass")
async def with_gatepass(key: KeyInfo = Security(api_key, scopes=["bots:read"])) -> Any:
    return {"bots": [], "key": key.id}
