"""FastAPI never blocks its event loop on the store: with a FastAPI app on
``postgres://`` served by uvicorn (one event loop), a request whose key must
be looked up waits on a locked table while a concurrent request with a
cached key is answered."""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict

import pytest

import gatepass
from slow_store import assert_cached_request_not_delayed, served

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="GATEPASS_TEST_POSTGRES_URL is not set (scripts/services.sh)")


@needs_postgres
def test_a_slow_store_does_not_delay_a_request_that_needs_none() -> None:
    from fastapi import FastAPI, Security

    from gatepass.fastapi import GatepassSecurity, install

    assert POSTGRES is not None and shutil.which("psql"), "psql is needed to lock the table"
    issuer = gatepass.Gate(POSTGRES)
    cached = issuer.issue("cached, answered from memory").token
    uncached = issuer.issue("looked up in the store").token
    issuer.close()

    gate = gatepass.Gate(POSTGRES)
    app = FastAPI()
    key = GatepassSecurity(gate)

    @app.get("/v1/me")
    async def me(k: Any = Security(key)) -> Dict[str, str]:
        return {"id": k.id}

    install(app)
    try:
        with served(app) as base:
            assert_cached_request_not_delayed(POSTGRES, gate, f"{base}/v1/me", cached, uncached)
    finally:
        gate.close()
