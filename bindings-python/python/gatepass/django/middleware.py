"""``GatepassMiddleware``: sync and async capable.

- Sets ``request.gatepass_key`` (``None`` until a key is accepted).
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
from .decorators import verify_request
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

    def process_exception(self, request: HttpRequest, exception: Exception) -> Optional[HttpResponse]:
        if isinstance(exception, (AuthError, WebhookError, StoreError)):
            return problem_response(exception)
        return None


def exempt(view: Any) -> Any:
    """Marks a view under a protected path as public."""
    view.gatepass_exempt = True
    return view
