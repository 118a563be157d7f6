"""RFC 9457 problem responses for Django."""

from __future__ import annotations

from django.http import HttpResponse

from .._http import PROBLEM_CONTENT_TYPE, HTTPError, problem_body


def problem_response(error: HTTPError) -> HttpResponse:
    """The answer for a gatepass failure: status, headers, problem body (a
    :class:`gatepass.StoreError` is 503 with ``Retry-After``)."""
    response = HttpResponse(problem_body(error.problem), status=error.status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (getattr(error, "headers", None) or {}).items():
        response[name] = value
    return response
