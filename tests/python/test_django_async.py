"""Django under ASGI never blocks its event loop on the store: an async view
with ``@require`` on ``postgres://``, served by uvicorn (one event loop),
answers a request with a cached key while another request's key lookup
waits on a locked table. (Sync code, middleware included, already runs in
a per-request thread under ASGI; an async view's decorator runs on the loop.)"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import gatepass
from slow_store import assert_cached_request_not_delayed, get, served

django = pytest.importorskip("django")
pytest.importorskip("uvicorn")

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="GATEPASS_TEST_POSTGRES_URL is not set (scripts/services.sh)")


@needs_postgres
def test_a_slow_store_does_not_delay_a_request_that_needs_none() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
    django.setup()
    from django.core.handlers.asgi import ASGIHandler
    from django.test import override_settings

    from gatepass.django import get_gate

    assert POSTGRES is not None and shutil.which("psql"), "psql is needed to lock the table"
    issuer = gatepass.Gate(POSTGRES)
    cached = issuer.issue("cached, answered from memory", scopes=["admin"]).token
    uncached = issuer.issue("looked up in the store", scopes=["admin"]).token
    issuer.close()

    settings = override_settings(GATEPASS={"STORE": POSTGRES})
    settings.enable()
    try:
        with served(ASGIHandler()) as base:
            url = f"{base}/v1/admin"
            assert get(url, cached) == 200  # the first request creates get_gate()'s gate
            assert_cached_request_not_delayed(POSTGRES, get_gate(), url, cached, uncached)
    finally:
        settings.disable()
