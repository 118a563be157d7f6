"""``GatepassMiddleware``: sync and async capable.

- Sets ``request.gatepass_key`` (``None`` until a key is accepted).
- Adds the ``RateLimit``/``RateLimit-Policy`` headers of a valid request
  checked against a rate limit (DRF views included) to the response.
- Under ``GATEPASS["PROTECT_PATHS"]`` prefixes, requires a valid key (no
  particular scope) for views without their own ``@require`` (those verify
  once, themselves) and for non-DRF views (DRF views authenticate through
  ``gatepass.drf.GatepassAuthentication``).
- Turns an :class:`gatepass.AuthError`, :class:`gatepass.WebhookError` or
  :class:`gatepass.StoreError` raised by a view (e.g. from
  ``get_gate().authenticate(...)``) into its problem response; a store
  failure is 503 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from ..exceptions import AuthError, StoreError, WebhookError
from .conf import protected_paths
from .decorators import add_rate_headers, verify_request
from .responses import problem_response


class GatepassMiddleware(MiddlewareMixin):
    sync_capable = True
    async_capable = True

    def process_request(self, request: HttpRequest) -> None:
        request.gatepass_key = None  # type: ignore[attr-defined]
        request.gatepass = None  # type: ignore[attr-defined]

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> Optional[HttpResponse]:
        if getattr(view_func, "gatepass_requirement", None) is not None or hasattr(view_func, "cls"):
            return None
        if getattr(view_func, "gatepass_exempt", False):
            return None
        if not any(request.path.startswith(p) for p in protected_paths()):
            return None
        return verify_request(request, None, None)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        # A valid request checked against a rate limit (a DRF view, a
        # protected path) answers with its RateLimit headers.
        return add_rate_headers(request, response)  # type: ignore[no-any-return]

    def process_exception(self, request: HttpRequest, exception: Exception) -> Optional[HttpResponse]:
        if isinstance(exception, (AuthError, WebhookError, StoreError)):
            return problem_response(exception)
        return None


def exempt(view: Any) -> Any:
    """Marks a view under a protected path as public."""
    view.gatepass_exempt = True
    return view
