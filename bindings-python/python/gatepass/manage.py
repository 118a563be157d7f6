"""The management API behind the API Tokens page, framework-neutral.

The core answers every request under a mount point (the JSON API and the
page itself) as data; the Flask, Django and FastAPI mounts only cut the
request down to ``(method, path, query, headers, self_origin, body)``, ask
the host's login for a :class:`Principal`, and send the answer back::

    from gatepass.flask import manage_blueprint
    app.register_blueprint(
        manage_blueprint(gate, principal=lambda request: gatepass.Principal(
            owner=str(current_user.workspace_id), actor=f"user:{current_user.id}")
            if current_user.is_authenticated else None),
        url_prefix="/tokens",
    )

A principal callable that returns ``None`` means "not logged in": the answer
is a 401 ``login_required`` problem.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Sequence, Tuple

from . import _native

if TYPE_CHECKING:
    from ._gate import Gate

__all__ = ["Principal", "Answer", "MAX_BODY_BYTES", "answer"]

#: The largest request body the management API reads. Mounts read at most one
#: byte more, whatever ``Content-Length`` says, so a larger body is refused by
#: the core (413 ``body_too_large``) without being read.
MAX_BODY_BYTES: int = _native.MANAGE_MAX_BODY_BYTES

#: ``(status, headers, body)``.
Answer = Tuple[int, List[Tuple[str, str]], bytes]


@dataclass(frozen=True)
class Principal:
    """Who is asking, as the host app's own login decides it.

    ``owner`` is the workspace or user id whose keys are managed (matched
    against a key's ``subject``); another owner's key is ``404``. Operator
    mode, every owner's keys, must be asked for with ``operator=True``: an
    owner that is ``None`` by accident never means "everyone". ``actor`` is
    who the audit trail records (``"user:42"``); ``kinds`` the kinds this
    principal may issue and ``scopes`` its scope ceiling (``None``: what the
    policy allows). ``ip`` and ``user_agent`` default to the request's.
    """

    owner: Optional[str] = None
    actor: str = ""
    kinds: Optional[Sequence[str]] = None
    scopes: Optional[Sequence[str]] = None
    ip: Optional[str] = None
    user_agent: Optional[str] = None
    operator: bool = False

    def __post_init__(self) -> None:
        if self.owner is None and not self.operator:
            raise ValueError("Principal has no owner; pass operator=True for operator mode (every owner's keys)")
        if self.owner is not None and self.operator:
            raise ValueError("Principal: an owner and operator=True exclude each other")
        if self.owner is not None and not isinstance(self.owner, str):
            raise TypeError("Principal owner must be a string")
        if not isinstance(self.actor, str) or not self.actor:
            raise TypeError('Principal needs actor="…", who the audit trail records (e.g. "user:42")')
        for name in ("kinds", "scopes"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"Principal {name} must be a list of strings, not a string")

    def _native(self) -> dict:
        return {
            "owner": self.owner,
            "operator": self.operator,
            "actor": self.actor,
            "kinds": None if self.kinds is None else list(self.kinds),
            "scopes": None if self.scopes is None else list(self.scopes),
            "ip": self.ip,
            "user_agent": self.user_agent,
        }


def _principal(value: Any) -> Optional[Principal]:
    if value is None or isinstance(value, Principal):
        return value
    raise TypeError(f"the principal callable must return a gatepass.Principal or None, not {type(value).__name__}")


def answer(
    gate: Gate,
    principal: Optional[Principal],
    method: str,
    path: str,
    query: str,
    headers: Iterable[Tuple[str, str]],
    self_origin: Optional[str],
    body: bytes,
    *,
    ip: Optional[str] = None,
    user_agent: Optional[str] = None,
) -> Answer:
    """One request to the management API, answered by the core (blocking:
    async mounts run it in a worker thread; the GIL is released meanwhile)."""
    who = _principal(principal)
    if who is None:
        # Nobody logged in: the core answers 401 login_required.
        return gate._native.manage(method, path, query, [], self_origin, b"", None)
    if who.ip is None and ip is not None:
        who = replace(who, ip=ip)
    if who.user_agent is None and user_agent is not None:
        who = replace(who, user_agent=user_agent)
    return gate._native.manage(method, path, query, list(headers), self_origin, body, who._native())


PrincipalCallable = Callable[[Any], Optional[Principal]]
