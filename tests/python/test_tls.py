"""TLS from the Python package to the real Postgres and Redis of
scripts/services.sh (a generated CA; the certificate names 127.0.0.1 and
localhost only): the URL options reach the core unchanged and its errors
arrive as the documented exception classes. Without the servers these tests
are SKIPPED (loudly); under CI=true conftest turns the skip into a failure.
    eval "$(bash scripts/services.sh start)" && pytest tests/python/test_tls.py
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

import gatepass
from service_procs import drop_schema, fresh_schema

POSTGRES = os.environ.get("GATEPASS_TEST_POSTGRES_URL")
REDIS_TLS = os.environ.get("GATEPASS_TEST_REDIS_TLS_URL")
CA = os.environ.get("GATEPASS_TEST_TLS_CA")
OTHER_CA = os.environ.get("GATEPASS_TEST_TLS_OTHER_CA")

pytestmark = pytest.mark.skipif(
    not (POSTGRES and REDIS_TLS and CA and OTHER_CA),
    reason="*** GATEPASS_TEST_POSTGRES_URL/GATEPASS_TEST_REDIS_TLS_URL/GATEPASS_TEST_TLS_CA not set: "
    'the TLS tests DID NOT RUN. Start the servers with `eval "$(bash scripts/services.sh start)"` ***',
)


@pytest.fixture
def schema_url() -> Iterator[str]:
    assert POSTGRES
    schema, url = fresh_schema(POSTGRES)
    yield url
    drop_schema(POSTGRES, schema)


def test_verify_full_postgres_and_rediss_limits(schema_url: str) -> None:
    gate = gatepass.Gate(
        f"{schema_url}&sslmode=verify-full&sslrootcert={CA}",
        rate_limiter=f"{REDIS_TLS}?sslrootcert={CA}",
    )
    try:
        issued = gate.issue("over tls", rate_limit="1/hour")
        assert gate.verify(f"Bearer {issued.token}").code == "valid"
        assert gate.verify(f"Bearer {issued.token}").code == "rate_limited"
    finally:
        gate.close()


def test_another_ca_is_a_store_error_with_the_reason(schema_url: str) -> None:
    with pytest.raises(gatepass.StoreError) as e:
        gatepass.Gate(f"{schema_url}&sslmode=verify-full&sslrootcert={OTHER_CA}")
    assert e.value.code == "store_unavailable"
    assert "UnknownIssuer" in str(e.value)
    with pytest.raises(gatepass.StoreError) as e:
        gatepass.Gate("memory://", rate_limiter=f"{REDIS_TLS}?sslrootcert={OTHER_CA}")
    assert "UnknownIssuer" in str(e.value)


def test_sslmode_prefer_is_a_config_error(schema_url: str) -> None:
    with pytest.raises(gatepass.ConfigError) as e:
        gatepass.Gate(f"{schema_url}&sslmode=prefer")
    assert e.value.code == "config_error"
    assert "plaintext" in str(e.value)
