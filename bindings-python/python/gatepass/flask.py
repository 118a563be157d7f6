"""Flask integration.

::

    from gatepass.flask import Gatepass

    gp = Gatepass(app)                       # or gp = Gatepass(); gp.init_app(app)

    @app.get("/v1/bots")
    @gp.require("bots:read")                 # a string is an expression, a list is all-of
    def bots():
        return {"owner": gp.current_key.subject}

    @app.post("/hooks/stripe")
    @gp.webhook("stripe", secrets=[os.environ["STRIPE_WEBHOOK_SECRET"]])
    def stripe_hook():
        event = request.get_json()

    # The API Tokens page and its JSON API, for the logged-in user's keys:
    app.register_blueprint(
        manage_blueprint(gp, principal=lambda request: gatepass.Principal(
            owner=str(current_user.workspace_id), actor=f"user:{current_user.id}")
            if current_user.is_authenticated else None),  # None: 401 login_required
        url_prefix="/tokens",
    )

Configuration (``app.config``): ``GATEPASS_STORE`` (default ``$GATEPASS_STORE``,
else ``sqlite:///gatepass.db``), ``GATEPASS_POLICY`` (dict, TOML text or a path),
``GATEPASS_RATE_LIMITER`` (``redis://…`` to share limits between processes).

Failures raise werkzeug HTTP exceptions (subclasses of ``Unauthorized``,
``Forbidden``, ``TooManyRequests``, ``BadRequest``) that carry gatepass's
status, headers and ``application/problem+json`` body, so the app's own
``@app.errorhandler(401)`` still runs; ``e.gatepass_error`` is the
:class:`gatepass.AuthError` or :class:`gatepass.WebhookError`. A store that
fails during verification (:class:`gatepass.StoreError`) raises a
``ServiceUnavailable`` subclass: 503 with ``Retry-After``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from flask import Blueprint, Flask, current_app, g, request
from werkzeug import exceptions as wz
from werkzeug.sansio.utils import get_current_url
from werkzeug.wrappers import Response

from . import Gate, KeyInfo, Requirement, VerifiedWebhook, WebhookVerifier, meta_challenge
from ._http import (
    PROBLEM_CONTENT_TYPE,
    HTTPError,
    ResourceArg,
    environ_keys,
    headers_from_environ,
    meta_tokens,
    problem_body,
    resolve_resource,
    webhook_base_url,
    webhook_verifier,
)
from .exceptions import GatepassError, StoreError, WebhookError, auth_error
from .manage import MAX_BODY_BYTES, PrincipalCallable, answer

__all__ = ["Gatepass", "GatepassHTTPException", "http_exception_for", "manage_blueprint", "meta_subscription"]

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION_KEY = "gatepass"


class GatepassHTTPException(wz.HTTPException):
    """Mixin for the HTTP exceptions gatepass raises: the problem body and headers."""

    gatepass_error: GatepassError
    problem: Dict[str, Any]
    extra_headers: Dict[str, str]

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        return problem_body(self.problem).decode()

    def get_headers(self, environ: Any = None, scope: Any = None) -> List[Tuple[str, str]]:
        return [("Content-Type", PROBLEM_CONTENT_TYPE), *self.extra_headers.items()]


def _subclass(base: type) -> type:
    return type(f"Gatepass{base.__name__}", (GatepassHTTPException, base), {"__module__": __name__})


_CLASSES: Dict[int, type] = {
    400: _subclass(wz.BadRequest),
    401: _subclass(wz.Unauthorized),
    403: _subclass(wz.Forbidden),
    409: _subclass(wz.Conflict),
    429: _subclass(wz.TooManyRequests),
    503: _subclass(wz.ServiceUnavailable),
}


def http_exception_for(error: HTTPError) -> GatepassHTTPException:
    """The werkzeug exception for a gatepass failure (status-specific subclass,
    so ``@app.errorhandler(401)`` and friends match; a store failure is 503)."""
    status = error.status
    cls = _CLASSES.get(status) or _subclass(wz.HTTPException)
    problem = error.problem
    # The description is what an app's @app.errorhandler renders: the core's
    # detail, not the message, which may hold a backend's text (a StoreError).
    exc = cls(description=problem.get("detail") or problem.get("title") or "")
    if cls is not _CLASSES.get(status):
        exc.code = status
    exc.gatepass_error = error
    exc.problem = error.problem
    exc.extra_headers = dict(getattr(error, "headers", {}) or {})
    return exc


class Gatepass:
    """The Flask extension: one :class:`gatepass.Gate` per app."""

    def __init__(
        self,
        app: Optional[Flask] = None,
        *,
        gate: Optional[Gate] = None,
        store: Optional[str] = None,
        policy: Any = None,
        rate_limiter: Optional[str] = None,
    ) -> None:
        self._gate = gate
        self._store = store
        self._policy = policy
        self._rate_limiter = rate_limiter
        self._pending: List[Requirement] = []
        self._requirements: Dict[Tuple[int, int], Requirement] = {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self._gate is None:
            store = self._store or app.config.get("GATEPASS_STORE")
            policy = self._policy if self._policy is not None else app.config.get("GATEPASS_POLICY")
            limiter = self._rate_limiter or app.config.get("GATEPASS_RATE_LIMITER")
            self._gate = Gate(store, policy=policy, rate_limiter=limiter)
        # Routes declared before init_app are checked against the catalogue now.
        for requirement in self._pending:
            self._gate.check_requirement(requirement)
        self._pending.clear()
        # Usage counts are flushed by gatepass.Gate at exit.
        app.extensions[EXTENSION_KEY] = self
        app.after_request(_add_rate_headers)

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            ext = current_app.extensions.get(EXTENSION_KEY) if current_app else None
            if ext is None or ext._gate is None:
                raise RuntimeError("Gatepass.init_app(app) has not been called")
            return ext._gate
        return self._gate

    @property
    def current_key(self) -> Optional[KeyInfo]:
        """The key of the current request, once ``@require`` accepted it."""
        return g.get("gatepass_key")

    @property
    def current_webhook(self) -> Optional[VerifiedWebhook]:
        return g.get("gatepass_webhook")

    def _requirement(self, scopes: Any, any_scopes: Optional[Sequence[str]]) -> Requirement:
        if self._gate is not None:
            return self._gate.check_requirement(scopes, any_scopes)
        requirement = Requirement(scopes, list(any_scopes) if any_scopes is not None else None)
        self._pending.append(requirement)
        return requirement

    def authenticate(
        self,
        scopes: Any = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> KeyInfo:
        """Verifies the current request; returns the key or raises the HTTP exception."""
        # WSGI servers hand over one value; several Authorization headers
        # arrive already joined with ", " (core then answers invalid_request).
        header = request.environ.get("HTTP_AUTHORIZATION")
        try:
            v = self.gate.verify(header, scopes, any_scopes, resource)
        except StoreError as e:
            raise http_exception_for(e) from None
        if not v.ok:
            raise http_exception_for(auth_error(v))
        key = v.key
        assert key is not None  # a valid verification always carries its key
        g.gatepass_key = key
        g.gatepass = v
        return key

    def require(
        self,
        scopes: Union[str, Sequence[str], None] = None,
        *,
        any_scopes: Optional[Sequence[str]] = None,
        resource: ResourceArg = None,
    ) -> Callable[[F], F]:
        """Decorator: the request needs a valid key with these scopes. ``scopes``
        is a list (all of) or a string (an expression); ``any_scopes`` a list;
        ``resource`` a string or a callable given the view's keyword arguments."""
        requirement = self._requirement(scopes, any_scopes)

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.authenticate(requirement, None, resolve_resource(resource, **kwargs))
                return view(*args, **kwargs)

            wrapper.gatepass_requirement = requirement  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]

        return decorate

    def webhook(
        self,
        scheme: Union[str, WebhookVerifier],
        secrets: Union[str, Sequence[str], None] = None,
        *,
        base_url: Optional[str] = None,
        **options: Any,
    ) -> Callable[[F], F]:
        """Decorator: the request must be a genuine webhook. Reads the raw body
        with ``request.get_data()`` (cached, so the view can still read it).
        ``base_url`` (required for ``twilio``) is the public
        ``https://host[/prefix]`` the sender calls; the request's path and
        query are appended to it, its ``Host`` header is never used."""
        verifier = webhook_verifier("webhook()", scheme, secrets, options)
        base = webhook_base_url("webhook()", verifier, base_url)

        keys = environ_keys(verifier.header_names)

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                body = request.get_data(cache=True)
                headers = headers_from_environ(request.environ, keys)
                try:
                    url = None if base is None else base + _path_and_query()
                    msg = verifier.verify(body, headers, url=url)
                except WebhookError as e:
                    raise http_exception_for(e) from None
                g.gatepass_webhook = msg
                return view(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate


def _path_and_query() -> str:
    """The request's mount prefix, path and query, quoted as ``request.url``
    quotes them, without the scheme and host."""
    url = get_current_url("http", "h", request.root_path, request.path, request.query_string)
    return url[len("http://h") :]


def _add_rate_headers(response: Response) -> Response:
    """A valid request checked against a rate limit answers with its
    ``RateLimit``/``RateLimit-Policy`` headers (unless the view set its own)."""
    v = g.get("gatepass")
    if v is not None and v.ok:
        for name, value in v.headers.items():
            response.headers.setdefault(name, value)
    return response


def problem_response(error: HTTPError) -> Response:
    """A ready response for an error (for apps that catch ``AuthError`` themselves)."""
    return http_exception_for(error).get_response()


def meta_subscription(verify_tokens: Union[str, Sequence[str]]) -> Callable[..., Response]:
    """A view answering Meta's ``GET`` subscription handshake (WhatsApp,
    Messenger, Instagram): ``hub.challenge`` as ``text/plain`` when
    ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is one of
    ``verify_tokens`` (compared in constant time in the core); otherwise the
    problem response of the :class:`gatepass.WebhookError`::

        app.add_url_rule("/hooks/meta", "meta_subscribe",
                         meta_subscription(os.environ["META_VERIFY_TOKEN"]), methods=["GET"])
    """
    tokens = meta_tokens(verify_tokens)

    def view(*args: Any, **kwargs: Any) -> Response:
        try:
            challenge = meta_challenge(request.query_string.decode("latin-1"), tokens)
        except WebhookError as e:
            return problem_response(e)
        return Response(challenge, 200, mimetype="text/plain")

    return view


#: Every method goes to the core, which answers OPTIONS (204 with ``Allow``)
#: and 405 for the ones a route does not take, as behind every other
#: framework: Flask's own OPTIONS answer is turned off on these rules, and
#: Werkzeug hands HEAD to the view (the core drops the body).
MANAGE_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]


def manage_blueprint(
    gate: Union[Gate, Gatepass],
    principal: PrincipalCallable,
    name: str = "gatepass_manage",
) -> Blueprint:
    """The API Tokens page and its JSON API as a blueprint; register it under
    a prefix (``url_prefix="/tokens"``; ``/tokens`` redirects to ``/tokens/``).

    ``principal(request)`` returns the :class:`gatepass.Principal` of the
    logged-in user, or ``None`` (answered 401 ``login_required``). Changes
    need a JSON body and a same-origin request; the core checks both.
    """
    bp = Blueprint(name, __name__)

    def view(subpath: str) -> Response:
        target = gate.gate if isinstance(gate, Gatepass) else gate
        # At most one byte past the bound, whatever Content-Length claims:
        # the core refuses the oversized body without it being read.
        body = request.stream.read(MAX_BODY_BYTES + 1)
        status, headers, data = answer(
            target,
            principal(request),
            request.method,
            subpath,
            request.query_string.decode("latin-1"),
            request.headers.items(),
            request.host_url.rstrip("/"),
            body,
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
        )
        return Response(data, status, headers)

    bp.add_url_rule(
        "/", "page", view, methods=MANAGE_METHODS, defaults={"subpath": ""}, provide_automatic_options=False
    )
    bp.add_url_rule("/<path:subpath>", "api", view, methods=MANAGE_METHODS, provide_automatic_options=False)
    return bp
