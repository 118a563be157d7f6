"""The shared vectors in tests/vectors/*.json, loaded by the Rust, Python and
Node suites alike. A vector file that is missing fails under CI."""

from __future__ import annotations

import base64
import os
from typing import Any, Dict

import pytest

import gatepass
from conftest import EXPECTED_STATUS, VECTORS, load_vectors, tokens_for_every_outcome

EXPECTED_FILES = ["tokens", "headers", "scopes", "outcomes", "webhooks", "errors"]
# Loaded by the management API's mount tests: manage.json replayed over HTTP
# (manage_http.py), manage_scenario.json by test_manage_same_answers.py.
EXPECTED_FILES += ["manage", "manage_scenario"]


def vectors(name: str) -> Dict[str, Any]:
    data = load_vectors(name)
    if data is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"tests/vectors/{name}.json is missing")
        pytest.skip(f"tests/vectors/{name}.json not written yet")
    return data


def test_every_vector_file_is_loaded_here():
    present = sorted(p.stem for p in VECTORS.glob("*.json"))
    assert set(present) <= set(EXPECTED_FILES), (
        f"new vector files need a Python test: {set(present) - set(EXPECTED_FILES)}"
    )


# ----- tokens ---------------------------------------------------------------

TOKEN_ERROR_WORDS = {
    "missing_separator": "'_'",
    "invalid_prefix": "prefix",
    "invalid_body": "body",
    "checksum_mismatch": "checksum",
}


def test_token_vectors():
    """Well-formed tokens pass the offline checks (and are then unknown to an
    empty store); malformed ones are refused before any lookup, for the
    reason the vector names. (``start`` and ``sha256`` are internal to core
    and checked by the Rust suite.)"""
    data = vectors("tokens")
    prefixes = sorted({case["prefix"] for case in data["valid"]})
    kinds = {f"k{i}": {"prefix": p} for i, p in enumerate(prefixes)}
    gate = gatepass.Gate("memory://", policy={"kinds": kinds, "default_kind": "k0"})
    for case in data["valid"]:
        v = gate.verify(case["token"])
        assert v.code == "unknown_key", case
        # A prefix this deployment does not issue is refused offline too.
        assert gatepass.Gate("memory://").verify(case["token"]).code == (
            "unknown_key" if case["prefix"] == "gp" else "malformed_token"
        )
    for case in data["invalid"]:
        v = gate.verify(case["token"] or None)
        if case["token"] == "":
            assert v.code == "missing_credentials"
            continue
        assert v.code == "malformed_token", case
        assert TOKEN_ERROR_WORDS[case["error"]] in v.detail, (case, v.detail)


# ----- headers --------------------------------------------------------------


def test_header_vectors():
    data = vectors("headers")
    gate = gatepass.Gate("memory://", policy={"schemes": data["schemes"]})
    for case in data["cases"]:
        v = gate.verify(case["header"])
        if case["expect"] == "ok":
            # The header parsed; the token itself is not a gatepass token.
            assert v.code == "malformed_token", case
            assert v.scheme == case["scheme"], case
        else:
            assert v.code == case["expect"], case


def test_header_vectors_with_a_real_token():
    """The accepted header forms carry a real token to a valid outcome."""
    data = vectors("headers")
    gate = gatepass.Gate("memory://", policy={"schemes": data["schemes"]})
    token = gate.issue("h").token
    for case in data["cases"]:
        if case["expect"] == "ok" and case["token"] == "abc":
            header = case["header"].replace("abc", token)
            assert gate.verify(header).ok, case


# ----- scopes ---------------------------------------------------------------


def test_scope_grammar_vectors():
    data = vectors("scopes")
    for s in data["valid_scopes"]:
        assert gatepass.Requirement([s]).scopes == [s]
    for s in data["invalid_scopes"]:
        with pytest.raises(gatepass.InvalidArgument) as e:
            gatepass.Requirement([s])
        assert e.value.code == "invalid_scope", s
    for expr in data["invalid_expressions"]:
        with pytest.raises(gatepass.InvalidArgument) as e:
            gatepass.Requirement(expr)
        assert e.value.code in ("invalid_scope_expression", "invalid_scope"), expr


def test_scope_requirement_vectors():
    data = vectors("scopes")
    gate = gatepass.Gate("memory://")
    for case in data["cases"]:
        token = gate.issue("s", scopes=case["granted"]).token
        if "all" in case:
            v = gate.verify(token, scopes=case["all"])
        elif "any" in case:
            v = gate.verify(token, any_scopes=case["any"])
        else:
            v = gate.verify(token, scopes=case["expr"])
        assert v.missing_scopes == case["missing"], case
        assert v.ok is (not case["missing"]), case
        if case["missing"]:
            assert v.code == "insufficient_scope"
            assert v.headers["WWW-Authenticate"].endswith(f'scope="{" ".join(case["missing"])}"')


# ----- outcomes -------------------------------------------------------------


def test_outcome_vectors():
    data = vectors("outcomes")
    table = {o["code"]: o for o in data["outcomes"]}
    assert set(table) == set(EXPECTED_STATUS)
    gate = gatepass.Gate("memory://")
    for code, header in tokens_for_every_outcome(gate).items():
        v = gate.verify(header, scopes=["bots:read"], resource="channel:ch_1")
        expected = table[code]
        assert (v.code, v.status) == (code, expected["status"])
        www = v.headers.get("WWW-Authenticate")
        if expected["challenge_error"] is None:
            assert www is None, code
        elif expected["challenge_error"] == "challenges":
            assert www == expected["www_authenticate"]
        else:
            assert f'error="{expected["challenge_error"]}"' in www, code
        if expected["status"] == 429:
            assert "RateLimit-Policy" in v.headers and "RateLimit" in v.headers
            assert ("Retry-After" in v.headers) is expected["retry_after"]


def test_key_state_concealed_vector():
    case = vectors("outcomes")["key_state_concealed"]
    gate = gatepass.Gate("memory://", policy=case["policy"])
    requests = tokens_for_every_outcome(gate)
    answers = {}
    for code, header in requests.items():
        v = gate.verify(header, scopes=["bots:read"], resource="channel:ch_1")
        assert v.code == code, "the verification keeps the precise code"
        answers[code] = v
    for code in case["outcomes"]:
        v = answers[code]
        assert v.status == case["status"], code
        assert v.problem() == case["problem"], code
        assert v.problem_json() == case["problem_json"], code
        assert list(v.headers) == ["WWW-Authenticate"], code
        # The vector's challenge is for a Bearer request; the client's scheme is echoed.
        expected = case["www_authenticate"].replace("Bearer", v.scheme, 1)
        assert v.headers["WWW-Authenticate"] == expected, code
        with pytest.raises(gatepass.Unauthorized) as e:
            gate.authenticate(requests[code], scopes=["bots:read"], resource="channel:ch_1")
        assert (e.value.status, e.value.problem) == (case["status"], case["problem"]), code
        # What a framework shows the client hides the state; the code is for logs.
        assert e.value.message == case["problem"]["detail"] and e.value.code == code
    for code in case["unchanged"]:
        assert answers[code].problem()["code"] == code
    # Without the setting the four are told apart.
    plain = gatepass.Gate("memory://")
    for code, header in tokens_for_every_outcome(plain).items():
        if code in case["outcomes"]:
            v = plain.verify(header, scopes=["bots:read"], resource="channel:ch_1")
            assert v.problem()["code"] == code


# ----- webhooks -------------------------------------------------------------


def _body(vector: Dict[str, Any]) -> bytes:
    if "body_b64" in vector:
        return base64.b64decode(vector["body_b64"])
    if "body_repeat" in vector:
        return (vector["body_repeat"]["text"] * vector["body_repeat"]["count"]).encode()
    return vector["body"].encode()


def _webhook_cases():
    data = load_vectors("webhooks")
    if data is None:
        return [pytest.param(None, id="missing")]
    return [pytest.param(v, id=v["name"]) for v in data["vectors"]]


@pytest.mark.parametrize("vector", _webhook_cases())
def test_webhook_vector(vector):
    if vector is None:
        vectors("webhooks")
        return
    options: Dict[str, Any] = {}
    if vector.get("now") is not None:
        options["now"] = vector["now"]
    if "tolerance" in vector:
        tolerance = vector["tolerance"]
        options["tolerance"] = None if tolerance is None else f"{tolerance}s"
    if "header" in vector:
        options["header"] = vector["header"]
    secrets = vector.get("secrets") or [vector["secret"]]
    verifier = gatepass.WebhookVerifier(vector["scheme"], secrets, **options)
    body = _body(vector)
    if vector["expect"] == "valid":
        msg = verifier.verify(body, vector["headers"], url=vector.get("url"))
        assert msg.scheme == vector["scheme"]
        # Header names are case-insensitive, and a list of pairs works too.
        upper = [(k.upper(), v) for k, v in vector["headers"].items()]
        verifier.verify(body, upper, url=vector.get("url"))
    else:
        with pytest.raises(gatepass.WebhookError) as e:
            verifier.verify(body, vector["headers"], url=vector.get("url"))
        assert e.value.code == vector["expect"]
        for secret in secrets:
            assert secret not in str(e.value)


# ----- error codes and their HTTP answers -----------------------------------


def test_error_vectors():
    v = vectors("errors")
    from gatepass.exceptions import CLASS_BY_CODE

    # The same class set, with the same parents, as in Node and the core.
    for name, parent in v["classes"].items():
        cls = getattr(gatepass, name)
        if parent is not None:
            assert cls.__mro__[1] is getattr(gatepass, parent), name
    rows = [*v["outcome_classes"], *v["cases"]]
    assert set(CLASS_BY_CODE) == {row["code"] for row in rows}
    for row in rows:
        assert CLASS_BY_CODE[row["code"]].__name__ == row["class"], row["code"]
    for case in v["cases"]:
        cls = CLASS_BY_CODE[case["code"]]
        err = cls(case["message"], code=case["code"], webhook_scheme=case.get("webhook_scheme"))
        assert str(err) == case["message"]
        assert err.status == case["status"], case
        assert err.headers == case["headers"], case
        assert err.problem == {
            "type": "about:blank",
            "title": case["title"],
            "status": case["status"],
            "detail": case["detail"],
            "code": case["code"],
        }, case


def _meta_challenge_cases():
    data = load_vectors("webhooks")
    if data is None:
        return [pytest.param(None, id="missing")]
    return [pytest.param(c, id=c["name"]) for c in data["meta_challenge"]]


@pytest.mark.parametrize("case", _meta_challenge_cases())
def test_meta_challenge_vector(case):
    if case is None:
        vectors("webhooks")
        return
    if case["expect"].isdigit():
        assert gatepass.meta_challenge(case["query"], case["verify_tokens"]) == case["expect"]
    else:
        with pytest.raises(gatepass.WebhookError) as e:
            gatepass.meta_challenge(case["query"], case["verify_tokens"])
        assert e.value.code == case["expect"]
        for token in case["verify_tokens"]:
            assert token not in str(e.value)
