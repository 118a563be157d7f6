"""The exception hierarchy of gatepass.

Every error the native core reports has a stable ``code``; :data:`CLASS_BY_CODE`
is the one table that maps each code to a class here. The native module calls
:func:`_error` to build exceptions, so Rust and Python agree by construction.

::

    GatepassError
    ├── AuthError (.status, .headers, .problem, .verification)
    │   ├── BadRequest      400 invalid_request
    │   ├── Unauthorized    401 missing_credentials, malformed_token, unknown_key,
    │   │                       inactive, revoked, expired
    │   ├── Forbidden       403 forbidden_resource, insufficient_scope
    │   └── RateLimited     429 rate_limited, usage_exceeded
    ├── WebhookError (.status, .headers, .problem)
    ├── ConfigError (also ValueError)
    ├── InvalidArgument (also ValueError)
    ├── NotFound (also LookupError)
    ├── InvalidState
    └── StoreError      503 store_unavailable, store_corrupt (.status, .headers, .problem)

A store failure (and a webhook's ``replay_guard_failed``) is the server's
trouble, not the request's: every framework helper answers it with 503, the
problem body and ``Retry-After: 1`` (:data:`STORE_RETRY_AFTER`).

Messages never contain a token or a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Type

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
    "WEBHOOK_STATUS",
    "STORE_RETRY_AFTER",
    "auth_error",
]


class GatepassError(Exception):
    """Base class of every gatepass error. ``code`` is stable across languages."""

    code: str

    def __init__(self, message: str = "", *, code: str = "internal_error") -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class AuthError(GatepassError):
    """A request failed verification. Carries what the HTTP answer needs."""

    status: int
    headers: Dict[str, str]
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
        self.status = status
        self.headers = dict(headers or {})
        self._problem = dict(problem) if problem is not None else None
        self.verification = verification

    @property
    def problem(self) -> Dict[str, Any]:
        """The RFC 9457 problem details body (``application/problem+json``)."""
        if self._problem is not None:
            return dict(self._problem)
        return _problem(self.status, self.message, self.code)


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
    timestamp_too_old, timestamp_too_new, invalid_signature, replayed)."""

    @property
    def status(self) -> int:
        """The HTTP status a receiver should answer with."""
        return WEBHOOK_STATUS.get(self.code, 400)

    @property
    def headers(self) -> Dict[str, str]:
        """``Retry-After`` when the replay guard failed (503), else none."""
        return _retry_headers(self.status)

    @property
    def problem(self) -> Dict[str, Any]:
        return _problem(self.status, self.message, self.code)


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
    ``headers`` (``Retry-After``) and the ``problem`` body."""

    status: int = 503

    @property
    def headers(self) -> Dict[str, str]:
        return _retry_headers(self.status)

    @property
    def problem(self) -> Dict[str, Any]:
        """The RFC 9457 problem details body (``application/problem+json``)."""
        return _problem(self.status, self.message, self.code)


#: ``Retry-After`` (seconds) sent with a 503 for a store failure: the store
#: (a restarting Postgres, a Redis failover) is usually back within seconds.
STORE_RETRY_AFTER = "1"


def _retry_headers(status: int) -> Dict[str, str]:
    return {"Retry-After": STORE_RETRY_AFTER} if status == 503 else {}


def _problem(status: int, detail: str, code: str) -> Dict[str, Any]:
    return {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

#: Every code the native core can report, and the class it raises.
CLASS_BY_CODE: Dict[str, Type[GatepassError]] = {
    # verification outcomes (raised by Gate.authenticate)
    "invalid_request": BadRequest,
    "missing_credentials": Unauthorized,
    "malformed_token": Unauthorized,
    "unknown_key": Unauthorized,
    "inactive": Unauthorized,
    "revoked": Unauthorized,
    "expired": Unauthorized,
    "forbidden_resource": Forbidden,
    "insufficient_scope": Forbidden,
    "rate_limited": RateLimited,
    "usage_exceeded": RateLimited,
    # key lifecycle
    "not_found": NotFound,
    "invalid_state": InvalidState,
    "invalid_argument": InvalidArgument,
    "unknown_kind": InvalidArgument,
    "lifetime_exceeded": InvalidArgument,
    "invalid_scope": InvalidArgument,
    "invalid_scope_expression": InvalidArgument,
    "unknown_scope": InvalidArgument,
    "scope_not_allowed": InvalidArgument,
    # configuration and stores
    "config_error": ConfigError,
    "store_unavailable": StoreError,
    "store_corrupt": StoreError,
    # webhooks
    "missing_header": WebhookError,
    "invalid_header": WebhookError,
    "timestamp_too_old": WebhookError,
    "timestamp_too_new": WebhookError,
    "invalid_signature": WebhookError,
    "replayed": WebhookError,
    "replay_guard_failed": WebhookError,
    # a bug in gatepass, never the caller's fault
    "internal_error": GatepassError,
}

#: HTTP status for a failed webhook: 400 for a malformed delivery, 401 for a
#: signature or timestamp that does not check out, 409 for a replay, 503 when
#: the replay guard itself failed (so the sender retries).
WEBHOOK_STATUS: Dict[str, int] = {
    "missing_header": 400,
    "invalid_header": 400,
    "timestamp_too_old": 401,
    "timestamp_too_new": 401,
    "invalid_signature": 401,
    "replayed": 409,
    "replay_guard_failed": 503,
}

_OUTCOME_STATUS = {
    "invalid_request": 400,
    "forbidden_resource": 403,
    "insufficient_scope": 403,
    "rate_limited": 429,
    "usage_exceeded": 429,
}


def _error(code: str, message: str) -> GatepassError:
    """Builds the exception for a core error code (called by the native module)."""
    cls = CLASS_BY_CODE.get(code, GatepassError)
    if issubclass(cls, AuthError):
        return cls(message, code=code, status=_OUTCOME_STATUS.get(code, 401))
    return cls(message, code=code)


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
