"""The API Tokens page and its JSON API as Django URL patterns::

    import gatepass
    from gatepass.django.manage import manage_urls

    def principal(request):
        if not request.user.is_authenticated:
            return None                       # 401 login_required
        return gatepass.Principal(owner=str(request.user.profile.workspace_id),
                                  actor=f"user:{request.user.pk}")

    urlpatterns = [..., path("tokens/", include(manage_urls(principal=principal)))]

Django's CSRF protection stays on: the page reads the ``csrftoken`` cookie
(set on every answer here) and sends it as ``X-CSRFToken``; a change without
it is refused by Django before it reaches gatepass. ``/tokens`` redirects to
``/tokens/`` through ``CommonMiddleware``'s ``APPEND_SLASH``.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import Gate
from ..manage import MAX_BODY_BYTES, PrincipalCallable, answer
from .conf import get_gate

__all__ = ["manage_urls", "manage_view"]


def manage_view(principal: PrincipalCallable, gate: Optional[Gate] = None) -> Callable[..., HttpResponse]:
    """The one view behind :func:`manage_urls` (``subpath`` is the path
    below the mount point)."""

    @ensure_csrf_cookie
    def view(request: HttpRequest, subpath: str = "") -> HttpResponse:
        # At most one byte past the bound, whatever Content-Length claims:
        # the core refuses the oversized body without it being read.
        body = request.read(MAX_BODY_BYTES + 1)
        status, headers, data = answer(
            gate or get_gate(),
            principal(request),
            request.method or "GET",
            subpath,
            request.META.get("QUERY_STRING", ""),
            request.headers.items(),
            f"{request.scheme}://{request.get_host()}",
            body,
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.headers.get("User-Agent"),
        )
        response = HttpResponse(data, status=status)
        for name, value in headers:
            response[name] = value
        return response

    return view


def manage_urls(principal: PrincipalCallable, *, gate: Optional[Gate] = None) -> List[URLPattern]:
    """URL patterns for ``path("tokens/", include(manage_urls(principal=…)))``.

    ``principal(request)`` returns the logged-in user's
    :class:`gatepass.Principal`, or ``None`` (401 ``login_required``). The
    gate is ``settings.GATEPASS``'s unless one is given.
    """
    view = manage_view(principal, gate)
    return [
        path("", view, {"subpath": ""}, name="gatepass_manage"),
        re_path(r"^(?P<subpath>.+)$", view, name="gatepass_manage_path"),
    ]
