"""RFC 9457 problem responses for Django."""

from __future__ import annotations

from typing import Union

from django.http import HttpResponse

from .._http import PROBLEM_CONTENT_TYPE, problem_body
from ..exceptions import AuthError, WebhookError


def problem_response(error: Union[AuthError, WebhookError]) -> HttpResponse:
    """The answer for a gatepass failure: status, headers, problem body."""
    response = HttpResponse(problem_body(error.problem), status=error.status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (getattr(error, "headers", None) or {}).items():
        response[name] = value
    return response
