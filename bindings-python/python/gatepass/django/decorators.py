"""View decorators: ``@require(...)`` for API keys, ``@webhook(...)`` for signed webhooks."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, TypeVar, Union

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from .. import Gate, Requirement, WebhookVerifier, meta_challenge
from .._http import ResourceArg, environ_keys, headers_from_environ, meta_tokens, resolve_resource, webhook_verifier
from ..exceptions import StoreError, WebhookError, auth_error
from .conf import get_gate
from .responses import problem_response

F = TypeVar("F", bound=Callable[..., Any])


def authorization_header(request: HttpRequest) -> Optional[str]:
    return request.META.get("HTTP_AUTHORIZATION")


class _RouteRequirement:
    """A route's requirement, checked against the catalogue of whichever gate
    is current (at declaration when settings are ready, again if they change)."""

    def __init__(self, scopes: Any, any_scopes: Optional[Sequence[str]]) -> None:
        self.requirement = Requirement(scopes, list(any_scopes) if any_scopes is not None else None)
        self._checked_for: Optional[Gate] = None
        from django.conf import settings

        if settings.configured:
            self.for_gate(get_gate())

    def for_gate(self, gate: Gate) -> Requirement:
        if self._checked_for is not gate:
            self.requirement = gate.check_requirement(self.requirement)
            self._checked_for = gate
        return self.requirement


def verify_request(request: HttpRequest, route: Optional[_RouteRequirement], resource: Optional[str]) -> Any:
    """Verifies the request; returns ``None`` (and sets ``request.gatepass_key``)
    when it may proceed, else the problem response (503 when the store fails)."""
    gate = get_gate()
    requirement = route.for_gate(gate) if route is not None else None
    try:
        v = gate.verify(authorization_header(request), requirement, None, resource)
    except StoreError as e:
        return problem_response(e)
    if not v.ok:
        return problem_response(auth_error(v))
    request.gatepass_key = v.key  # type: ignore[attr-defined]
    request.gatepass = v  # type: ignore[attr-defined]
    return None


def require(
    scopes: Union[str, Sequence[str], None] = None,
    *,
    any_scopes: Optional[Sequence[str]] = None,
    resource: ResourceArg = None,
) -> Callable[[F], F]:
    """The view needs a valid key with these scopes (list: all of; string: an
    expression; ``any_scopes``: any of). ``resource`` is a string or a
    callable given ``(request, *args, **kwargs)``. The key is ``request.gatepass_key``."""
    route = _RouteRequirement(scopes, any_scopes)

    def decorate(view: F) -> F:
        if iscoroutinefunction(view):

            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = verify_request(request, route, resolve_resource(resource, request, *args, **kwargs))
                if failed is not None:
                    return failed
                return await view(request, *args, **kwargs)

            wrapper: Any = functools.wraps(view)(async_wrapper)
            markcoroutinefunction(wrapper)
        else:

            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = verify_request(request, route, resolve_resource(resource, request, *args, **kwargs))
                if failed is not None:
                    return failed
                return view(request, *args, **kwargs)

            wrapper = functools.wraps(view)(sync_wrapper)
        wrapper.gatepass_requirement = route.requirement
        return wrapper  # type: ignore[no-any-return]

    return decorate


def _verify_webhook(verifier: WebhookVerifier, keys: Any, request: HttpRequest) -> Any:
    headers = headers_from_environ(request.META, keys)
    try:
        msg = verifier.verify(request.body, headers, url=request.build_absolute_uri())
    except WebhookError as e:
        return problem_response(e)
    request.gatepass_webhook = msg  # type: ignore[attr-defined]
    return None


def webhook(
    scheme: Union[str, WebhookVerifier],
    secrets: Union[str, Sequence[str], None] = None,
    **options: Any,
) -> Callable[[F], F]:
    """The request must be a genuine webhook; reads the raw ``request.body``.
    Combine with ``@csrf_exempt``. The result is ``request.gatepass_webhook``."""
    verifier = webhook_verifier("webhook()", scheme, secrets, options)
    keys = environ_keys(verifier.header_names)

    def decorate(view: F) -> F:
        if iscoroutinefunction(view):

            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = _verify_webhook(verifier, keys, request)
                return failed if failed is not None else await view(request, *args, **kwargs)

            wrapper: Any = functools.wraps(view)(async_wrapper)
            markcoroutinefunction(wrapper)
        else:

            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = _verify_webhook(verifier, keys, request)
                return failed if failed is not None else view(request, *args, **kwargs)

            wrapper = functools.wraps(view)(sync_wrapper)
        wrapper.csrf_exempt = getattr(view, "csrf_exempt", False)
        return wrapper  # type: ignore[no-any-return]

    return decorate


def meta_subscription(
    verify_tokens: Union[str, Sequence[str]], events: Optional[Callable[..., Any]] = None
) -> Callable[..., Any]:
    """A view answering Meta's ``GET`` subscription handshake (WhatsApp,
    Messenger, Instagram): ``hub.challenge`` as ``text/plain`` when
    ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is one of
    ``verify_tokens`` (compared in constant time in the core); otherwise the
    problem response. Meta posts events to the same URL: give that view as
    ``events`` (it keeps its own ``@webhook("meta", …)`` and ``@csrf_exempt``);
    without it other methods get 405::

        path("hooks/meta", meta_subscription(settings.META_VERIFY_TOKEN, events=meta_events))
    """
    tokens = meta_tokens(verify_tokens)

    def handshake(request: HttpRequest) -> HttpResponse:
        try:
            challenge = meta_challenge(request.META.get("QUERY_STRING", ""), tokens)
        except WebhookError as e:
            return problem_response(e)
        return HttpResponse(challenge, content_type="text/plain")

    if events is None:

        @require_GET
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return handshake(request)

        return view

    if iscoroutinefunction(events):

        async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method in ("GET", "HEAD"):
                return handshake(request)
            return await events(request, *args, **kwargs)

        wrapper: Any = functools.wraps(events)(async_view)
        markcoroutinefunction(wrapper)
    else:

        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method in ("GET", "HEAD"):
                return handshake(request)
            return events(request, *args, **kwargs)

        wrapper = functools.wraps(events)(sync_view)
    wrapper.csrf_exempt = getattr(events, "csrf_exempt", False)
    return wrapper
