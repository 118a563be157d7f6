"""View decorators: ``@require(...)`` for API keys, ``@webhook(...)`` for signed webhooks."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, TypeVar, Union

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from .. import Gate, Requirement, WebhookVerifier, meta_challenge
from .._http import (
    ResourceArg,
    environ_keys,
    headers_from_environ,
    meta_tokens,
    resolve_resource,
    webhook_base_url,
    webhook_verifier,
)
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
    return verify_with(request, gate, route.for_gate(gate) if route is not None else None, resource)


def verify_with(request: HttpRequest, gate: Gate, requirement: Optional[Requirement], resource: Optional[str]) -> Any:
    """:func:`verify_request` with a requirement already built for ``gate``."""
    try:
        v = gate.verify(authorization_header(request), requirement, None, resource)
    except StoreError as e:
        return problem_response(e)
    return _settle(request, v)


async def verify_request_async(
    request: HttpRequest, route: Optional[_RouteRequirement], resource: Optional[str]
) -> Any:
    """:func:`verify_request` for async views: answered on the loop when memory
    suffices, else in a worker thread, so a store round trip never blocks it."""
    gate = get_gate()
    requirement = route.for_gate(gate) if route is not None else None
    try:
        v = await gate.verify_async(authorization_header(request), requirement, None, resource)
    except StoreError as e:
        return problem_response(e)
    return _settle(request, v)


def _settle(request: HttpRequest, v: Any) -> Any:
    if not v.ok:
        return problem_response(auth_error(v))
    request.gatepass_key = v.key  # type: ignore[attr-defined]
    request.gatepass = v  # type: ignore[attr-defined]
    return None


def add_rate_headers(request: HttpRequest, response: Any) -> Any:
    """A valid request checked against a rate limit: its ``RateLimit`` headers
    on the view's response (without overriding ones the view set)."""
    v = getattr(request, "gatepass", None)
    if v is not None and v.ok and response is not None:
        for name, value in v.headers.items():
            if not response.has_header(name):
                response[name] = value
    return response


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
                where = resolve_resource(resource, request, *args, **kwargs)
                failed = await verify_request_async(request, route, where)
                if failed is not None:
                    return failed
                return add_rate_headers(request, await view(request, *args, **kwargs))

            wrapper: Any = functools.wraps(view)(async_wrapper)
            markcoroutinefunction(wrapper)
        else:

            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = verify_request(request, route, resolve_resource(resource, request, *args, **kwargs))
                if failed is not None:
                    return failed
                return add_rate_headers(request, view(request, *args, **kwargs))

            wrapper = functools.wraps(view)(sync_wrapper)
        wrapper.gatepass_requirement = route.requirement
        return wrapper  # type: ignore[no-any-return]

    return decorate


def _webhook_args(keys: Any, base: Optional[str], request: HttpRequest) -> Tuple[bytes, Dict[str, Any], Optional[str]]:
    headers = headers_from_environ(request.META, keys)
    # The configured public base, never build_absolute_uri(): that takes the
    # host from the client's Host header.
    url = None if base is None else base + request.get_full_path()
    return request.body, headers, url


def _verify_webhook(verifier: WebhookVerifier, keys: Any, base: Optional[str], request: HttpRequest) -> Any:
    body, headers, url = _webhook_args(keys, base, request)
    try:
        msg = verifier.verify(body, headers, url=url)
    except WebhookError as e:
        return problem_response(e)
    request.gatepass_webhook = msg  # type: ignore[attr-defined]
    return None


async def _verify_webhook_async(verifier: WebhookVerifier, keys: Any, base: Optional[str], request: HttpRequest) -> Any:
    """For async views: the verification runs in a worker thread (the native
    call releases the GIL), so a Redis replay guard's round trip, or a Redis
    that hangs until its timeout, never stalls the event loop. The verifier
    does not say which guard it has, so always."""
    body, headers, url = _webhook_args(keys, base, request)
    verify = functools.partial(verifier.verify, body, headers, url=url)
    try:
        msg = await asyncio.get_running_loop().run_in_executor(None, verify)
    except WebhookError as e:
        return problem_response(e)
    request.gatepass_webhook = msg  # type: ignore[attr-defined]
    return None


def webhook(
    scheme: Union[str, WebhookVerifier],
    secrets: Union[str, Sequence[str], None] = None,
    *,
    base_url: Optional[str] = None,
    **options: Any,
) -> Callable[[F], F]:
    """The request must be a genuine webhook; reads the raw ``request.body``.
    Combine with ``@csrf_exempt``. The result is ``request.gatepass_webhook``.
    ``base_url`` (required for ``twilio``) is the public ``https://host[/prefix]``
    the sender calls; ``request.get_full_path()`` is appended to it."""
    verifier = webhook_verifier("webhook()", scheme, secrets, options)
    keys = environ_keys(verifier.header_names)
    base = webhook_base_url("webhook()", verifier, base_url)

    def decorate(view: F) -> F:
        if iscoroutinefunction(view):

            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = await _verify_webhook_async(verifier, keys, base, request)
                return failed if failed is not None else await view(request, *args, **kwargs)

            wrapper: Any = functools.wraps(view)(async_wrapper)
            markcoroutinefunction(wrapper)
        else:

            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                failed = _verify_webhook(verifier, keys, base, request)
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
