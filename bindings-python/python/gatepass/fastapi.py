"""FastAPI integration.

::

    from fastapi import FastAPI, Security, Depends
    from gatepass.fastapi import GatepassSecurity, WebhookDependency, install

    gate = gatepass.Gate()
    api_key = GatepassSecurity(gate)          # shows as an HTTP bearer scheme in OpenAPI
    app = FastAPI()
    install(app)                              # failures answer application/problem+json

    @app.get("/v1/bots")
    def bots(key: KeyInfo = Security(api_key, scopes=["bots:read"])):
        ...

    @app.get("/v1/admin")
    def admin(key: KeyInfo = Depends(api_key.require("admin or bots:write"))):
        ...

    stripe_hook = WebhookDependency("stripe", secrets=[...])

    @app.post("/hooks/stripe")
    async def hook(msg: VerifiedWebhook = Depends(stripe_hook)): ...

    # The API Tokens page and its JSON API; `principal` is a dependency
    # returning the logged-in user's gatepass.Principal, or None (401).
    app.include_router(manage_router(gate, principal=current_principal), prefix="/tokens")

``Security(api_key, scopes=[...])`` asks for all of the scopes and lists them
in the operation's ``security`` entry, so the docs' Authorize button works.
A verification answered from memory (a cached key, a refusal that needs no
lookup) runs on the event loop; one that needs the store runs in Starlette's
thread pool, so a slow store never blocks the loop. A valid request checked
against a rate limit gets the ``RateLimit``/``RateLimit-Policy`` headers.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple, Union

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.responses import Response

from . import Gate, KeyInfo, Requirement, VerifiedWebhook, WebhookVerifier, meta_challenge
from ._http import (
    PROBLEM_CONTENT_TYPE,
    HTTPError,
    join_authorization,
    meta_tokens,
    problem_body,
    webhook_base_url,
    webhook_verifier,
)
from .exceptions import StoreError, WebhookError, auth_error
from .manage import MAX_BODY_BYTES, Principal, answer

__all__ = [
    "GatepassSecurity",
    "GatepassHTTPException",
    "WebhookDependency",
    "check_routes",
    "install",
    "manage_router",
    "meta_subscription",
    "problem_response",
]


class GatepassHTTPException(HTTPException):
    """An ``HTTPException`` carrying gatepass's status, headers and problem body
    (503 with ``Retry-After`` for a :class:`gatepass.StoreError`)."""

    def __init__(self, error: HTTPError) -> None:
        headers = dict(getattr(error, "headers", {}) or {})
        super().__init__(status_code=error.status, detail=error.problem, headers=headers or None)
        self.gatepass_error = error
        self.problem = error.problem


def problem_response(exc: GatepassHTTPException) -> Response:
    headers = dict(exc.headers or {})
    return Response(
        problem_body(exc.problem), status_code=exc.status_code, headers=headers, media_type=PROBLEM_CONTENT_TYPE
    )


async def _handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatepassHTTPException)
    return problem_response(exc)


def install(app: FastAPI) -> None:
    """Answers gatepass failures with ``application/problem+json`` bodies
    (without it FastAPI's own handler still sends the right status and
    headers, with the problem under ``detail``), and checks the scopes of the
    routes declared so far against the policy's catalogue (see
    :func:`check_routes`)."""
    app.add_exception_handler(GatepassHTTPException, _handler)
    check_routes(app)


def _scopes_of(dependant: Any) -> List[str]:
    # FastAPI has spelled this differently across versions.
    for name in ("oauth_scopes", "security_scopes"):
        value = getattr(dependant, name, None)
        if value:
            return list(value)
    return [
        *(getattr(dependant, "parent_oauth_scopes", None) or []),
        *(getattr(dependant, "own_oauth_scopes", None) or []),
    ]


def check_routes(app: FastAPI) -> None:
    """Builds the requirement of every ``Security(GatepassSecurity, scopes=[...])``
    on the app's routes now, so an unknown scope fails at start-up rather than
    on the first request. Call it after the routes are declared."""
    from fastapi.routing import APIRoute

    def walk(dependant: Any) -> None:
        call = getattr(dependant, "call", None)
        if isinstance(call, GatepassSecurity):
            call._requirement(_scopes_of(dependant))
        for sub in getattr(dependant, "dependencies", ()):
            walk(sub)

    for route in app.routes:
        if isinstance(route, APIRoute):
            walk(route.dependant)


class GatepassSecurity(SecurityBase):
    """A security dependency: ``Security(dep, scopes=[...])`` returns the
    :class:`gatepass.KeyInfo` or raises :class:`GatepassHTTPException`."""

    def __init__(
        self,
        gate: Gate,
        *,
        scheme_name: str = "gatepass",
        description: Optional[str] = "API token: `Authorization: Bearer <token>`",
        resource: Any = None,
        auto_error: bool = True,
    ) -> None:
        self.gate = gate
        self.model = HTTPBearerModel(bearerFormat="gatepass token", description=description)
        self.scheme_name = scheme_name
        self.auto_error = auto_error
        self._resource = resource
        self._fixed: Optional[Tuple[Any, Optional[list]]] = None
        self._requirements: Dict[Tuple[str, ...], Requirement] = {}

    def require(
        self,
        scopes: Union[str, Sequence[str], None] = None,
        *,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Any = None,
    ) -> GatepassSecurity:
        """A dependency with a fixed requirement (an expression, any-of),
        checked against the policy's catalogue now. Scopes from an enclosing
        ``Security(..., scopes=[...])`` are required as well."""
        dep = GatepassSecurity(
            self.gate,
            scheme_name=self.scheme_name,
            description=self.model.description,
            resource=resource if resource is not None else self._resource,
            auto_error=self.auto_error,
        )
        dep._fixed = (
            scopes if isinstance(scopes, str) or scopes is None else list(scopes),
            list(any_scopes) if any_scopes is not None else None,
        )
        dep._requirement(())  # validate now
        return dep

    def _requirement(self, scopes: Sequence[str]) -> Requirement:
        key = tuple(scopes)
        found = self._requirements.get(key)
        if found is None:
            if self._fixed is None:
                found = self.gate.check_requirement(list(key))
            else:
                fixed, any_scopes = self._fixed
                if not key:
                    combined = fixed
                elif isinstance(fixed, str):
                    combined = " and ".join([f"({fixed})", *key])
                else:
                    combined = [*(fixed or []), *key]
                found = self.gate.check_requirement(combined, any_scopes)
            if len(self._requirements) < 4096:
                self._requirements[key] = found
        return found

    async def __call__(
        self, request: Request, response: Response, security_scopes: SecurityScopes
    ) -> Optional[KeyInfo]:
        requirement = self._requirement(security_scopes.scopes)
        resource = self._resource(request) if callable(self._resource) else self._resource
        header = join_authorization(request.headers.getlist("authorization"))
        try:
            # A cached key is answered on the loop; a lookup runs in a worker
            # thread so a slow store never stalls the other requests.
            v = self.gate.verify_in_memory(header, requirement, None, resource)
            if v is None:
                v = await run_in_threadpool(self.gate.verify, header, requirement, None, resource)
        except StoreError as e:
            raise GatepassHTTPException(e) from None
        if not v.ok:
            if not self.auto_error and v.code == "missing_credentials":
                return None
            raise GatepassHTTPException(auth_error(v))
        # A success checked against a rate limit carries the RateLimit headers.
        for name, value in v.headers.items():
            response.headers[name] = value
        request.state.gatepass_key = v.key
        request.state.gatepass = v
        return v.key


class WebhookDependency:
    """``Depends(WebhookDependency("stripe", secrets=[...]))``: the raw body
    (``await request.body()``) must carry a valid signature."""

    def __init__(
        self,
        scheme: Union[str, WebhookVerifier],
        secrets: Union[str, Sequence[str], None] = None,
        *,
        base_url: Optional[str] = None,
        **options: Any,
    ) -> None:
        self.verifier = webhook_verifier("WebhookDependency", scheme, secrets, options)
        # Required for twilio: the public base the sender calls; the request's
        # path and query are appended, its Host header is never used.
        self._base = webhook_base_url("WebhookDependency", self.verifier, base_url)
        self._wanted = frozenset(name.encode() for name in self.verifier.header_names)

    async def __call__(self, request: Request) -> VerifiedWebhook:
        body = await request.body()
        # ASGI header names are lower-case bytes: keep just the scheme's own.
        headers = [(k, v) for k, v in request.headers.raw if k in self._wanted]
        try:
            # In a worker thread (the native call releases the GIL): a Redis
            # replay guard's round trip, or a Redis that hangs until its
            # timeout, must not stall every request on this event loop. The
            # verifier does not say which guard it has, so always.
            msg = await run_in_threadpool(self.verifier.verify, body, headers, url=self._url(request))
        except WebhookError as e:
            raise GatepassHTTPException(e) from None
        request.state.gatepass_webhook = msg
        return msg

    def _url(self, request: Request) -> Optional[str]:
        if self._base is None:
            return None
        # Starlette's own rendering of path and query, with the host left out.
        scope = {**request.scope, "scheme": "http", "server": ("h", 80), "headers": []}
        return self._base + str(URL(scope=scope))[len("http://h") :]


def meta_subscription(verify_tokens: Union[str, Sequence[str]]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering Meta's ``GET`` subscription handshake (WhatsApp,
    Messenger, Instagram): ``hub.challenge`` as ``text/plain`` when
    ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is one of
    ``verify_tokens`` (compared in constant time in the core); otherwise the
    problem response::

        app.add_api_route("/hooks/meta", meta_subscription(token), methods=["GET"], include_in_schema=False)
    """
    tokens = meta_tokens(verify_tokens)

    async def meta_subscribe(request: Request) -> Response:
        try:
            challenge = meta_challenge(request.url.query, tokens)
        except WebhookError as e:
            return problem_response(GatepassHTTPException(e))
        return Response(challenge, media_type="text/plain")

    return meta_subscribe


async def _bounded_body(request: Request) -> bytes:
    """The body, but never more than one byte past the management API's
    bound, whatever ``Content-Length`` claims: the core refuses an oversized
    body without it being read."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            break
    return bytes(body[: MAX_BODY_BYTES + 1])


def manage_router(gate: Gate, principal: Callable[..., Any]) -> APIRouter:
    """The API Tokens page and its JSON API as a router; include it under a
    prefix (``app.include_router(router, prefix="/tokens")``; ``/tokens``
    redirects to ``/tokens/`` through the app's ``redirect_slashes``).

    ``principal`` is a dependency (it may depend on the app's own login
    dependencies) returning the logged-in user's :class:`gatepass.Principal`,
    or ``None`` (answered 401 ``login_required``). The core's work runs in
    Starlette's thread pool. The routes are left out of the OpenAPI schema.
    """
    router = APIRouter()

    async def endpoint(request: Request, subpath: str, who: Optional[Principal] = Depends(principal)) -> Response:
        body = await _bounded_body(request)
        client = request.client
        status, headers, data = await run_in_threadpool(
            answer,
            gate,
            who,
            request.method,
            subpath,
            request.url.query,
            request.headers.items(),
            f"{request.url.scheme}://{request.url.netloc}",
            body,
            ip=client.host if client else None,
            user_agent=request.headers.get("user-agent"),
        )
        response = Response(data, status_code=status)
        for name, value in headers:
            response.headers.append(name, value)
        return response

    router.add_api_route(
        "/{subpath:path}",
        endpoint,
        # Every method goes to the core, which answers OPTIONS and 405 the
        # same behind every framework.
        methods=["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    return router
