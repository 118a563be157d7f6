"""The exception hierarchy of gatepass.

Every error the native core reports has a stable ``code``. The core holds the
one table of codes (status, class, title) and renders the HTTP answer of
every error (status, headers, RFC 9457 body); this module only defines the
classes, and :data:`CLASS_BY_CODE` is built from the core's table, so the
classes, statuses and bodies are the same as in the Node package.

::

    GatepassError (.code, .status, .headers, .problem)
    ├── AuthError (.verification)
    │   ├── BadRequest      400 invalid_request
    │   ├── Unauthorized    401 missing_credentials, malformed_token, unknown_key,
    │   │                       inactive, revoked, expired
    │   ├── Forbidden       403 forbidden_resource, insufficient_scope
    │   └── RateLimited     429 rate_limited, usage_exceeded
    ├── WebhookError    400 missing_header, invalid_header; 401 timestamp_too_old,
    │                       timestamp_too_new, invalid_signature; 409 replayed;
    │                       503 replay_guard_failed
    ├── NotFound        404 not_found (also LookupError)
    ├── InvalidState    409 invalid_state
    ├── InvalidArgument 400 invalid_argument, unknown_kind, lifetime_exceeded,
    │                       invalid_scope, … (also ValueError)
    ├── StoreError      503 store_unavailable, store_corrupt
    └── ConfigError     500 config_error (also ValueError)

A server-side failure (5xx: a store that is down, a misconfiguration) is
answered with a generic ``detail``; its message, which may name a host or
carry a driver's text, stays in the exception (for the log). A 503 carries
``Retry-After``; a webhook's 401 carries a ``WWW-Authenticate`` challenge.

Messages never contain a token or a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Type

from . import _native

if TYPE_CHECKING:  # pragma: no cover
    from ._native import Verification

__all__ = [
    "GatepassError",
    "AuthError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "RateLimited",
    "WebhookError",
    "ConfigError",
    "InvalidArgument",
    "NotFound",
    "InvalidState",
    "StoreError",
    "CLASS_BY_CODE",
    "auth_error",
]

_Http = Tuple[int, Dict[str, str], Optional[Dict[str, Any]]]


class GatepassError(Exception):
    """Base class of every gatepass error. ``code`` is stable across languages."""

    code: str

    def __init__(
        self, message: str = "", *, code: str = "internal_error", webhook_scheme: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self._webhook_scheme = webhook_scheme
        self._http: Optional[_Http] = None

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def _rendered(self) -> _Http:
        if self._http is None:
            status, headers, problem = _native.render_error(self.code, self.message, self._webhook_scheme)
            self._http = (status, dict(headers), dict(problem) if problem is not None else None)
        return self._http

    @property
    def status(self) -> int:
        """The HTTP status a framework answers with (from the core's code table)."""
        return self._rendered()[0]

    @property
    def headers(self) -> Dict[str, str]:
        """Response headers: ``Retry-After`` on a 503, a challenge on a webhook's 401."""
        return dict(self._rendered()[1])

    @property
    def problem(self) -> Dict[str, Any]:
        """The RFC 9457 problem details body (``application/problem+json``)."""
        return dict(self._rendered()[2] or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class AuthError(GatepassError):
    """A request failed verification. Carries what the HTTP answer needs."""

    verification: Optional[Verification]

    def __init__(
        self,
        message: str = "",
        *,
        code: str,
        status: int,
        headers: Optional[Mapping[str, str]] = None,
        problem: Optional[Mapping[str, Any]] = None,
        verification: Optional[Verification] = None,
    ) -> None:
        super().__init__(message, code=code)
        if problem is None:
            # Built by hand: the core renders the body for the code.
            problem = _native.render_error(code, message)[2]
        self._http = (status, dict(headers or {}), dict(problem) if problem is not None else None)
        self.verification = verification


class BadRequest(AuthError):
    """400: the ``Authorization`` header is malformed or carries two credentials."""


class Unauthorized(AuthError):
    """401: no usable credentials, or the key is unknown, inactive, revoked or expired."""


class Forbidden(AuthError):
    """403: the key is valid but not for this resource or lacks a scope."""


class RateLimited(AuthError):
    """429: the key's rate limit or credits are exhausted; see ``Retry-After``."""


class WebhookError(GatepassError):
    """A webhook failed verification (``code``: missing_header, invalid_header,
    timestamp_too_old, timestamp_too_new, invalid_signature, replayed,
    replay_guard_failed). ``status``, ``headers`` and ``problem`` are the
    answer the core renders for the verifier's scheme."""


class ConfigError(GatepassError, ValueError):
    """Bad configuration: policy, store URL, webhook scheme or secret, route scopes."""


class InvalidArgument(GatepassError, ValueError):
    """A lifecycle call got an argument core refuses (bad scope, duration, kind…)."""


class NotFound(GatepassError, LookupError):
    """No key with that id."""


class InvalidState(GatepassError):
    """The key's status does not allow the operation (e.g. activating a revoked key)."""


class StoreError(GatepassError):
    """The store is unavailable or holds data gatepass cannot read
    (``store_unavailable``, ``store_corrupt``). Raised by ``Gate.verify``
    among others; the framework helpers answer it with ``status`` (503),
    ``headers`` (``Retry-After``) and a generic ``problem`` body: the
    message (for the log) may name the backend, the body never does."""


def _class_table() -> Dict[str, Type[GatepassError]]:
    classes: Dict[str, Type[GatepassError]] = {
        cls.__name__: cls
        for cls in (
            GatepassError,
            AuthError,
            BadRequest,
            Unauthorized,
            Forbidden,
            RateLimited,
            WebhookError,
            ConfigError,
            InvalidArgument,
            NotFound,
            InvalidState,
            StoreError,
        )
    }
    # The core names the classes; a class it names that is not defined here
    # is a packaging bug, caught at import rather than on the first error.
    for name, parent in _native.error_classes():
        cls = classes.get(name)
        if cls is None or (parent and not issubclass(cls, classes[parent])):
            raise ImportError(f"gatepass: the native module's error class {name!r} does not match exceptions.py")
    return {code: classes[cls_name] for code, _status, cls_name, _parent, _title in _native.error_table()}


#: Every code the native core can report, and the class it raises (from the core's table).
CLASS_BY_CODE: Dict[str, Type[GatepassError]] = _class_table()


def _error(
    code: str, message: str, status: int, headers: Mapping[str, str], problem: Optional[Mapping[str, Any]]
) -> GatepassError:
    """Builds the exception for a core error and the answer core rendered
    for it (called by the native module)."""
    cls = CLASS_BY_CODE.get(code, GatepassError)
    if issubclass(cls, AuthError):
        return cls(message, code=code, status=status, headers=headers, problem=problem)
    e = cls(message, code=code)
    e._http = (status, dict(headers), dict(problem) if problem is not None else None)
    return e


def auth_error(verification: Verification) -> AuthError:
    """The exception for a failed verification, with its status, headers and body."""
    found = CLASS_BY_CODE.get(verification.code, AuthError)
    cls = found if issubclass(found, AuthError) else AuthError
    problem = verification.problem()
    # The message is what frameworks show the client (DRF's own handler, for
    # one): the problem's detail, which hides the key's state when the policy
    # says so. ``code`` and ``verification.detail`` stay precise for logs.
    return cls(
        problem["detail"] if problem is not None else verification.detail,
        code=verification.code,
        status=verification.status,
        headers=verification.headers,
        problem=problem,
        verification=verification,
    )
