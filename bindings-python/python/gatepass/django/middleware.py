"""``GatepassMiddleware``: sync and async capable.

- Sets ``request.gatepass_key`` (``None`` until a key is accepted).
- Adds the ``RateLimit``/``RateLimit-Policy`` headers of a valid request
  checked against a rate limit (DRF views included) to the response.
- Under ``GATEPASS["PROTECT_PATHS"]`` prefixes (matched against
  ``request.path_info``, so an app mounted under a script prefix is
  protected too), requires a valid key for every view without its own
  ``@require`` (those verify once, themselves), DRF views included.
- A DRF view that declares a requirement (``required_scopes``,
  ``required_any_scopes``, ``scope_resource`` with ``ReadWriteScopes``) is
  verified here with that requirement wherever it is mounted, whatever its
  authentication and permission classes: a declared scope can never be
  skipped by ``AllowAny`` or by another authenticator.
  ``gatepass.drf.GatepassAuthentication`` then reuses this verification, so
  usage and the rate limit count once.
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
        if getattr(view_func, "gatepass_requirement", None) is not None:
            return None  # @require verifies the request itself, once
        # path_info is the path inside this app: request.path also holds the
        # script prefix (SCRIPT_NAME, FORCE_SCRIPT_NAME) the app is mounted under.
        protected = not getattr(view_func, "gatepass_exempt", False) and any(
            request.path_info.startswith(p) for p in protected_paths()
        )
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and _is_drf_view(view_class):
            from ..drf import verify_view

            return verify_view(request, view_class, protected)
        if not protected:
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


def _is_drf_view(view_class: Any) -> bool:
    try:
        from rest_framework.views import APIView
    except ImportError:  # pragma: no cover - DRF not installed: no DRF views
        return False
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def exempt(view: Any) -> Any:
    """Marks a view under a protected path as public. A requirement the view
    declares itself (``@require``, a DRF view's ``required_scopes``) still holds."""
    view.gatepass_exempt = True
    return view
