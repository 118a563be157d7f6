"""Django REST framework integration.

``settings.py``::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["gatepass.drf.GatepassAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["gatepass.drf.HasScopes"],
        "EXCEPTION_HANDLER": "gatepass.drf.exception_handler",
    }

Views::

    class BotViewSet(viewsets.ModelViewSet):
        required_scopes = {"GET": ["bots:read"], "POST": ["bots:write"]}   # or a list / an expression
        # HEAD and OPTIONS take GET's entry; PUT, PATCH, DELETE (no entry, no "*") are refused
        ...

    class ChannelView(APIView):
        permission_classes = [ReadWriteScopes]
        scope_resource = "channels"              # GET/HEAD/OPTIONS need channels:read, others channels:write

    @required_scopes(["admin"])                  # function views: above @api_view
    @api_view(["GET"])
    def report(request): ...

The authentication class verifies the key once per request, with the view's
whole requirement (so usage and rate limits count once): ``request.auth`` is
the :class:`gatepass.Verification`, ``request.user`` a :class:`KeyUser`.
401s carry the right ``WWW-Authenticate``; with the exception handler, every
gatepass failure answers ``application/problem+json`` with its headers
(``insufficient_scope`` challenge, ``Retry-After``, ``RateLimit``). A store
that fails during authentication (:class:`gatepass.StoreError`) raises
:class:`GatepassAPIException` with status 503 and ``Retry-After``.

A declared requirement cannot be skipped: a request without credentials to
a view that declares one is 401, not passed on to other authenticators or to
``AllowAny``; with ``gatepass.django.middleware.GatepassMiddleware``
installed the view is verified before DRF runs, whatever its
authentication and permission classes, and under ``PROTECT_PATHS`` every
DRF view needs a valid key.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions, permissions, throttling
from rest_framework.request import Request
from rest_framework.response import Response

from . import KeyInfo, Requirement, Verification
from ._http import PROBLEM_CONTENT_TYPE, HTTPError
from .django.conf import get_gate
from .exceptions import AuthError, Forbidden, GatepassError, StoreError, auth_error

__all__ = [
    "GatepassAuthentication",
    "HasScopes",
    "ReadWriteScopes",
    "KeyRateThrottle",
    "KeyUser",
    "exception_handler",
    "required_scopes",
]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_STASH = "_gatepass_error"
# On the Django request: the DRF view class the middleware verified it for.
_VERIFIED_FOR = "_gatepass_verified_view"

F = TypeVar("F", bound=Callable[..., Any])


class KeyUser:
    """``request.user`` for a request authenticated by an API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, key: KeyInfo) -> None:
        self.key = key
        self.pk = self.id = key.subject or key.id
        self.username = key.subject or key.id

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"<KeyUser {self.username} key={self.key.id}>"

    def get_username(self) -> str:
        return self.username


class GatepassAPIException(exceptions.APIException):
    """An APIException carrying gatepass's status, code, problem and headers
    (503 for a :class:`gatepass.StoreError`)."""

    def __init__(self, error: HTTPError) -> None:
        self.status_code = error.status
        # What the client sees is the core's rendering: DRF's own handler
        # sends ``detail`` as is and apps render ``get_codes()``. The message
        # may hold a backend's text (a StoreError's host, driver error) and
        # ``error.code`` the key state a policy with disclose_key_state=false
        # hides; both stay on ``gatepass_error`` for the log.
        problem = error.problem
        super().__init__(
            detail=problem.get("detail") or problem.get("title") or "",
            code=problem.get("code") or error.code,
        )
        self.gatepass_error = error
        headers = error.headers
        if "Retry-After" in headers:
            # DRF's own handler (without ours) sends Retry-After from ``wait``
            self.wait = float(headers["Retry-After"])
        if "WWW-Authenticate" in headers:
            # ... and the challenge from ``auth_header``.
            self.auth_header = headers["WWW-Authenticate"]


class Refused:
    """The requirement of a method a view's ``required_scopes`` (or
    ``required_any_scopes``) dict does not name, with no ``"*"`` entry: no
    key may use it. A dict lists what each method needs; a method it leaves
    out is not silently open to any valid key."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __repr__(self) -> str:
        return f"Refused({self.method!r})"


_UNLISTED = object()


def _for_method(spec: Dict[str, Any], method: str) -> Any:
    """The entry of a by-method dict for ``method``: its own, else for HEAD
    and OPTIONS the GET entry (Django answers HEAD with ``get()``), else
    ``"*"``; ``_UNLISTED`` when there is none."""
    entries = {str(name).upper(): value for name, value in spec.items()}
    if method in entries:
        return entries[method]
    if method in ("HEAD", "OPTIONS") and "GET" in entries:
        return entries["GET"]
    return entries.get("*", _UNLISTED)


def _view_requirement(view: Any, method: str) -> Any:
    spec = getattr(view, "required_scopes", None)
    if isinstance(spec, dict):
        spec = _for_method(spec, method)
    if spec is None or spec is _UNLISTED:
        resource = getattr(view, "scope_resource", None)
        if resource and any(_is_read_write(p) for p in _permissions(view)):
            spec = [f"{resource}:{'read' if method in SAFE_METHODS else 'write'}"]
    if spec is not None and spec is not _UNLISTED and not isinstance(spec, str):
        spec = tuple(spec)
    return spec


def _is_read_write(permission: Any) -> bool:
    cls = permission if isinstance(permission, type) else type(permission)
    return issubclass(cls, ReadWriteScopes)


def _permissions(view: Any) -> Sequence[Any]:
    if isinstance(view, type):  # a view class, during system checks
        return list(getattr(view, "permission_classes", ()))
    try:
        return view.get_permissions()
    except Exception:  # noqa: BLE001 - a view without permissions
        return ()


_requirement_cache: Dict[Tuple[int, Any, Any], Requirement] = {}


def requirement_for(view: Any, method: str) -> Union[None, Requirement, Refused]:
    """The view's requirement for ``method``, built and checked once;
    :class:`Refused` for a method its by-method dict leaves out."""
    spec = _view_requirement(view, method)
    any_spec = getattr(view, "required_any_scopes", None)
    if isinstance(any_spec, dict):
        any_spec = _for_method(any_spec, method)
    if spec is _UNLISTED or any_spec is _UNLISTED:
        other = any_spec if spec is _UNLISTED else spec
        if other is None or other is _UNLISTED:
            return Refused(method)  # declared for some methods, not this one
        spec, any_spec = (None, any_spec) if spec is _UNLISTED else (spec, None)
    if spec is None and any_spec is None:
        return None
    gate = get_gate()
    key = (id(gate), spec, tuple(any_spec) if any_spec is not None else None)
    found = _requirement_cache.get(key)
    if found is None:
        found = gate.check_requirement(
            list(spec) if isinstance(spec, tuple) else spec, list(any_spec) if any_spec else None
        )
        if len(_requirement_cache) > 4096:
            _requirement_cache.clear()
        _requirement_cache[key] = found
    return found


def refusal(authorization: Optional[str], method: str, resource: Optional[str]) -> HTTPError:
    """The answer for a :class:`Refused` method: the credentials' own failure
    (401 without a usable key, so clients still get the challenge), else 403
    ``insufficient_scope`` since no key can hold what the view never declared.
    The key is checked without spending usage or rate limit."""
    try:
        v = get_gate().verify_without_spending(authorization, None, None, resource)
    except StoreError as e:
        return e
    if not v.ok:
        return auth_error(v)
    return Forbidden(
        f"{method} is not allowed with any scope on this resource",
        code="insufficient_scope",
        status=403,
    )


def verify_view(request: HttpRequest, view_class: type, protected: bool) -> Optional[HttpResponse]:
    """Run by ``GatepassMiddleware`` before a DRF view: verifies the request
    with the view's declared requirement (and ``gatepass_resource``) when it
    has one or its path is protected; returns the problem response to send,
    or ``None`` to go on. :class:`GatepassAuthentication` reuses the result."""
    from .django.decorators import authorization_header, verify_with
    from .django.responses import problem_response

    method = (request.method or "GET").upper()
    try:
        # Building the requirement opens the gate (and its store) on first use.
        requirement = requirement_for(view_class, method)
    except StoreError as e:
        return problem_response(e)
    if requirement is None and not protected:
        return None
    if isinstance(requirement, Refused):
        return problem_response(
            refusal(authorization_header(request), method, getattr(view_class, "gatepass_resource", None))
        )

    failed = verify_with(request, get_gate(), requirement, getattr(view_class, "gatepass_resource", None))
    if failed is None:
        setattr(request, _VERIFIED_FOR, view_class)
    return failed


def required_scopes(
    scopes: Union[str, Sequence[str], Dict[str, Any], None] = None,
    *,
    any_scopes: Optional[Sequence[str]] = None,
) -> Callable[[F], F]:
    """Declares the requirement of an ``@api_view`` function view, as the
    ``required_scopes`` and ``required_any_scopes`` attributes do on a view
    class. It goes *above* ``@api_view``: DRF builds the view's class there
    and copies only its own policy attributes onto it."""

    def decorate(view: F) -> F:
        from rest_framework.views import APIView

        view_class = getattr(view, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
            raise TypeError("@required_scopes goes above @api_view([...]), on the view it returns")
        if scopes is not None:
            view_class.required_scopes = scopes  # type: ignore[attr-defined]
        if any_scopes is not None:
            view_class.required_any_scopes = list(any_scopes)  # type: ignore[attr-defined]
        return view

    return decorate


def _uses_key_throttle(view: Any) -> bool:
    return any(isinstance(t, type) and issubclass(t, KeyRateThrottle) for t in getattr(view, "throttle_classes", ()))


class GatepassAuthentication:
    """Authenticates ``Authorization: Bearer <token>`` (or ``Token``) with gatepass."""

    def authenticate(self, request: Request) -> Optional[Tuple[KeyUser, Verification]]:
        django_request = request._request
        view = request.parser_context.get("view") if request.parser_context else None
        try:
            # Building the requirement opens the gate (and its store) on first use.
            requirement = requirement_for(view, request.method) if view is not None else None
        except StoreError as e:
            raise GatepassAPIException(e) from None
        if isinstance(requirement, Refused):
            resource = getattr(view, "gatepass_resource", None)
            raise GatepassAPIException(refusal(django_request.META.get("HTTP_AUTHORIZATION"), request.method, resource))
        verified = getattr(django_request, "gatepass", None)
        if view is not None and verified is not None and getattr(django_request, _VERIFIED_FOR, None) is type(view):
            v = verified  # the middleware's, with this view's requirement: count once
        else:
            try:
                v = get_gate().verify(
                    django_request.META.get("HTTP_AUTHORIZATION"),
                    requirement,
                    None,
                    getattr(view, "gatepass_resource", None) if view else None,
                )
            except StoreError as e:
                raise GatepassAPIException(e) from None
        request._gatepass_verification = v
        if v.ok:
            # GatepassMiddleware adds a valid request's RateLimit headers to the response.
            request._request.gatepass = v
        if v.code == "missing_credentials":
            if requirement is not None:
                # A declared requirement is never left to other authenticators
                # or to a permissive permission class.
                raise GatepassAPIException(auth_error(v))
            return None  # let other authenticators try; 401 comes from permissions
        key = v.key
        if v.ok and key is not None:
            return KeyUser(key), v
        if v.status in (403,):
            # Authenticated but not allowed: raise with the challenge header.
            raise GatepassAPIException(auth_error(v))
        if v.status == 429 and key is not None and view is not None and _uses_key_throttle(view):
            return KeyUser(key), v  # KeyRateThrottle answers with Retry-After
        raise GatepassAPIException(auth_error(v))

    def authenticate_header(self, request: Request) -> str:
        v = getattr(request, "_gatepass_verification", None)
        if v is not None and "WWW-Authenticate" in v.headers:
            return v.headers["WWW-Authenticate"]
        return get_gate().verify(None).headers["WWW-Authenticate"]


class HasScopes(permissions.BasePermission):
    """Requires a gatepass key; the view's ``required_scopes`` (list, expression,
    or a dict by HTTP method) and ``required_any_scopes`` were already checked
    by :class:`GatepassAuthentication` in the same verification."""

    def has_permission(self, request: Request, view: Any) -> bool:
        v = request.auth
        if not isinstance(v, Verification):
            # Verified by the middleware while another authenticator set request.auth.
            v = getattr(request._request, "gatepass", None)
        if not isinstance(v, Verification):
            return False  # → 401 with the challenge, via authenticate_header
        return v.ok or v.status == 429


class ReadWriteScopes(HasScopes):
    """Method-aware: with ``scope_resource = "bots"`` on the view, safe methods
    need ``bots:read`` and the others ``bots:write``."""


class KeyRateThrottle(throttling.BaseThrottle):
    """Per-key throttle from the key's (or its kind's) rate limit, enforced by
    core during verification; this class turns the outcome into DRF's 429."""

    def allow_request(self, request: Request, view: Any) -> bool:
        v = request.auth
        self._v = v if isinstance(v, Verification) else None
        return not (self._v is not None and self._v.status == 429)

    def wait(self) -> Optional[float]:
        if self._v is None:
            return None
        retry = self._v.headers.get("Retry-After")
        return float(retry) if retry is not None else None


def _drf_views(patterns: Any) -> List[Tuple[Any, List[str]]]:
    """Every DRF view class in the URLconf, with the HTTP methods it is routed
    for (a viewset: its route's ``actions``; a view: the handlers it has)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: List[Tuple[Any, List[str]]] = []

    def walk(items: Any) -> None:
        for item in items:
            if isinstance(item, URLResolver):
                walk(item.url_patterns)
            elif isinstance(item, URLPattern):
                view = getattr(item.callback, "cls", None)
                if view is None:
                    continue
                actions = getattr(item.callback, "actions", None)
                if actions:
                    methods = [m.upper() for m in actions]
                else:
                    methods = [m.upper() for m in getattr(view, "http_method_names", ()) if hasattr(view, m)]
                found.append((view, methods))

    walk(patterns if patterns is not None else get_resolver().url_patterns)
    return found


def check_view_scopes(patterns: Any = None) -> List[str]:
    """Builds the requirement of every DRF view in the URLconf, for every HTTP
    method, against the policy's catalogue. Returns the problems found (the
    ``gatepass.E001`` system check runs this at start-up)."""
    problems: List[str] = []
    seen: set = set()
    for view, _routed in _drf_views(patterns):
        if view in seen:
            continue
        seen.add(view)
        for method in getattr(view, "http_method_names", ()):
            try:
                requirement_for(view, method.upper())
            except GatepassError as e:
                problems.append(f"{view.__module__}.{view.__qualname__} {method.upper()}: {e.message}")
    return problems


def check_refused_methods(patterns: Any = None) -> List[str]:
    """The routed methods of DRF views whose ``required_scopes`` dict does not
    name them (and has no ``"*"``): gatepass refuses them for every key, so
    the ``gatepass.W001`` system check says so at start-up."""
    refused: Dict[Any, List[str]] = {}
    for view, methods in _drf_views(patterns):
        for method in methods:
            try:
                requirement = requirement_for(view, method)
            except GatepassError:
                continue  # an unknown scope: gatepass.E001 reports it
            if isinstance(requirement, Refused) and method not in refused.setdefault(view, []):
                refused[view].append(method)
    return [
        f"{view.__module__}.{view.__qualname__}: required_scopes names no requirement for "
        f"{', '.join(methods)}; gatepass refuses {'it' if len(methods) == 1 else 'them'} for every key"
        for view, methods in refused.items()
        if methods
    ]


def exception_handler(exc: Exception, context: Dict[str, Any]) -> Optional[Response]:
    """DRF's handler, plus gatepass problem bodies and headers."""
    request = context.get("request")
    error: Optional[HTTPError] = getattr(exc, "gatepass_error", None)
    if isinstance(exc, (AuthError, StoreError)):
        error = exc
    v = getattr(request, "_gatepass_verification", None) if request is not None else None
    if error is None and v is not None and not v.ok:
        if isinstance(exc, exceptions.NotAuthenticated) and v.code == "missing_credentials":
            error = auth_error(v)
        elif isinstance(exc, exceptions.Throttled) and v.status == 429:
            error = auth_error(v)
    if error is None:
        # Imported here: rest_framework.views imports the settings that name this module.
        from rest_framework.views import exception_handler as drf_exception_handler

        return drf_exception_handler(exc, context)
    response = Response(error.problem, status=error.status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in error.headers.items():
        response[name] = value
    return response
