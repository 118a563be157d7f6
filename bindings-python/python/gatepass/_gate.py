"""The public :class:`Gate`: the native gate plus policy loading, a default
store, and flushing usage counts when the process exits."""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import weakref
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Literal, Mapping, NamedTuple, Optional, Sequence, Union

from . import _native
from ._native import Event, EventPage, Issued, KeyInfo, Page, Requirement, Verification
from .exceptions import ConfigError, auth_error

__all__ = ["Gate", "UsageBucket", "default_store_url", "default_rate_limiter_url", "DEFAULT_STORE_URL"]


class UsageBucket(NamedTuple):
    """One bucket of a key's usage history, ``[start, start + step)`` in UTC:
    how many verifications were valid and how many were refused, by outcome
    code (``revoked``, ``expired``, ``rate_limited``, …; codes with no
    refusals are left out)."""

    start: datetime
    valid: int
    refused: Dict[str, int]


#: The embedded default: ``gatepass.db`` in the working directory.
DEFAULT_STORE_URL = "sqlite:///gatepass.db"

Duration = Union[str, timedelta]
Scopes = Union[str, Sequence[str], Requirement, None]
PolicyArg = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]


def default_store_url() -> str:
    """``$GATEPASS_STORE``, else ``sqlite:///gatepass.db`` (``./gatepass.db``),
    read by the core as in every binding."""
    return _native.store_url(None)


def default_rate_limiter_url() -> Optional[str]:
    """``$GATEPASS_RATE_LIMITER`` (e.g. ``redis://…``), else in-process limits."""
    return _native.rate_limiter_url(None)


def default_policy_path() -> Optional[str]:
    """The policy file ``$GATEPASS_POLICY`` names, which a gate opened without
    a policy reads; ``None`` when unset."""
    return _native.policy_path()


def _policy_kwargs(policy: PolicyArg) -> Dict[str, str]:
    """A policy as a dict, TOML text, or a path to a ``.toml``/``.json`` file."""
    if policy is None:
        return {}
    if isinstance(policy, Mapping):
        try:
            return {"policy_json": json.dumps(dict(policy))}
        except (TypeError, ValueError) as e:
            raise ConfigError(f"policy is not JSON-serialisable: {e}", code="config_error") from None
    if isinstance(policy, os.PathLike) or (
        isinstance(policy, str) and "\n" not in policy and policy.strip().lower().endswith((".toml", ".json"))
    ):
        path = Path(policy)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read policy file {str(path)!r}: {e.strerror}", code="config_error") from None
        if path.suffix.lower() == ".json":
            return {"policy_json": text}
        return {"policy_toml": text}
    if isinstance(policy, str):
        return {"policy_toml": policy}
    raise TypeError("policy must be a dict, TOML text, or a path to a .toml/.json file")


_log = logging.getLogger("gatepass")

_open_gates: weakref.WeakSet[Gate] = weakref.WeakSet()
_open_lock = threading.Lock()


@atexit.register
def _flush_all() -> None:
    """Usage counts are batched in memory; write them before the process ends."""
    with _open_lock:
        gates = list(_open_gates)
    for gate in gates:
        try:
            gate.flush()
        except Exception:  # noqa: BLE001 - nothing useful to do at exit
            pass


class Gate:
    """Issues, manages and verifies API keys over a store.

    ``store`` is a URL: ``memory://``, ``sqlite:///relative.db`` or
    ``sqlite:////absolute/path.db``; by default ``$GATEPASS_STORE`` or
    ``./gatepass.db``. ``policy`` is a dict, TOML text, or a path to a
    ``.toml``/``.json`` file. ``rate_limiter`` is ``memory://`` (this process)
    or ``redis://…`` (shared by every process); by default
    ``$GATEPASS_RATE_LIMITER``, else ``memory://``.
    """

    __slots__ = ("_native", "_store_kind", "__weakref__")

    def __init__(
        self, store: Optional[str] = None, policy: PolicyArg = None, *, rate_limiter: Optional[str] = None
    ) -> None:
        url = store or default_store_url()
        limiter = rate_limiter or default_rate_limiter_url()
        self._native = _native.Gate(url, rate_limiter=limiter, **_policy_kwargs(policy))
        # Keep only the scheme: a database URL may carry a password.
        self._store_kind = url.split(":", 1)[0]
        mismatch = self._native.policy_mismatch
        if mismatch is not None:
            # Reported, never raised: during a rolling deploy old and new
            # processes run under different policies on purpose.
            _log.warning("gatepass: %s", mismatch)
        with _open_lock:
            _open_gates.add(self)

    def __repr__(self) -> str:
        return f"<gatepass.Gate store={self._store_kind}:… realm={self.realm!r}>"

    # ----- policy -------------------------------------------------------

    @property
    def policy_source(self) -> str:
        """Where the policy in force came from: the ``policy`` argument,
        ``$GATEPASS_POLICY=PATH``, ``./gatepass.toml``, the policy recorded in
        the store, or none (the default single kind)."""
        return self._native.policy_source

    @property
    def policy_mismatch(self) -> Optional[str]:
        """How the policy in force differed from the one recorded in the store
        when this gate was opened (also logged as a warning); ``None`` when
        they agreed."""
        return self._native.policy_mismatch

    @property
    def realm(self) -> str:
        return self._native.realm

    @property
    def schemes(self) -> List[str]:
        return self._native.schemes

    @property
    def scope_catalogue(self) -> List[str]:
        return self._native.scope_catalogue

    @property
    def kinds(self) -> List[tuple]:
        return self._native.kinds

    # ----- lifecycle ----------------------------------------------------

    def issue(
        self,
        name: str,
        *,
        scopes: Optional[Sequence[str]] = None,
        kind: Optional[str] = None,
        subject: Optional[str] = None,
        resource: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        expires_in: Optional[Duration] = None,
        expires_at: Optional[datetime] = None,
        rate_limit: Optional[str] = None,
        remaining: Optional[int] = None,
        actor: Optional[str] = None,
        ip: Optional[str] = None,
        user_agent: Optional[str] = None,
    ) -> Issued:
        """Issues a key. ``issued.token`` is the only copy of the secret.

        ``actor`` (e.g. ``"user:42"``), ``ip`` and ``user_agent`` are recorded in
        the audit trail, as on every lifecycle call; without ``actor`` the event
        names this process (``"process:<pid> (<OS user>)"``)."""
        return self._native.issue(
            name,
            scopes=scopes,
            kind=kind,
            subject=subject,
            resource=resource,
            metadata=metadata,
            expires_in=expires_in,
            expires_at=expires_at,
            rate_limit=rate_limit,
            remaining=remaining,
            actor=actor,
            ip=ip,
            user_agent=user_agent,
        )

    def get(self, key_id: str) -> KeyInfo:
        return self._native.get(key_id)

    def list(
        self,
        *,
        subject: Optional[str] = None,
        kind: Optional[str] = None,
        status: Optional[str] = None,
        after: Optional[str] = None,
        limit: int = 100,
    ) -> Page:
        """One page of keys, oldest first; pass ``page.next`` as ``after``."""
        return self._native.list(subject=subject, kind=kind, status=status, after=after, limit=limit)

    def iter_keys(
        self,
        *,
        subject: Optional[str] = None,
        kind: Optional[str] = None,
        status: Optional[str] = None,
        page_size: int = 500,
    ) -> Iterator[KeyInfo]:
        """Every matching key, fetching pages as needed."""
        after: Optional[str] = None
        while True:
            page = self.list(subject=subject, kind=kind, status=status, after=after, limit=page_size)
            yield from page
            if page.next is None:
                return
            after = page.next

    def update(
        self,
        key_id: str,
        *,
        actor: Optional[str] = None,
        ip: Optional[str] = None,
        user_agent: Optional[str] = None,
        **changes: Any,
    ) -> KeyInfo:
        """Changes ``name``, ``scopes``, ``metadata``, ``expires_at``/``expires_in``,
        ``rate_limit`` or ``remaining``; ``None`` clears the last three. An update
        that changes nothing records no event."""
        return self._native.update(key_id, actor=actor, ip=ip, user_agent=user_agent, **changes)

    def deactivate(
        self, key_id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> KeyInfo:
        return self._native.deactivate(key_id, actor=actor, ip=ip, user_agent=user_agent)

    def activate(
        self, key_id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> KeyInfo:
        return self._native.activate(key_id, actor=actor, ip=ip, user_agent=user_agent)

    def revoke(
        self, key_id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> KeyInfo:
        return self._native.revoke(key_id, actor=actor, ip=ip, user_agent=user_agent)

    def rotate(
        self,
        key_id: str,
        *,
        grace: Optional[Duration] = None,
        actor: Optional[str] = None,
        ip: Optional[str] = None,
        user_agent: Optional[str] = None,
    ) -> Issued:
        return self._native.rotate(key_id, grace=grace, actor=actor, ip=ip, user_agent=user_agent)

    def delete(
        self, key_id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> None:
        self._native.delete(key_id, actor=actor, ip=ip, user_agent=user_agent)

    # ----- audit trail --------------------------------------------------

    def events(
        self,
        *,
        key: Optional[str] = None,
        owner: Optional[str] = None,
        since: Optional[datetime] = None,
        after: Optional[str] = None,
        limit: int = 50,
    ) -> EventPage:
        """One page of the audit trail, newest first, filtered by key id, owner
        (the key's subject) and time (an aware datetime); pass ``page.next`` as
        ``after`` for older events."""
        return self._native.events(key=key, owner=owner, since=since, after=after, limit=limit)

    def iter_events(
        self,
        *,
        key: Optional[str] = None,
        owner: Optional[str] = None,
        since: Optional[datetime] = None,
        page_size: int = 500,
    ) -> Iterator[Event]:
        """Every matching event, newest first, fetching pages as needed."""
        after: Optional[str] = None
        while True:
            page = self.events(key=key, owner=owner, since=since, after=after, limit=page_size)
            yield from page
            if page.next is None:
                return
            after = page.next

    # ----- verification -------------------------------------------------

    def check_requirement(self, scopes: Scopes = None, any_scopes: Optional[Sequence[str]] = None) -> Requirement:
        """Builds a route's requirement, checked against the policy's catalogue.
        Call it where the route is declared so a typo fails at start-up."""
        return self._native.check_requirement(scopes, any_scopes)

    def verify(
        self,
        authorization: Union[str, bytes, None],
        scopes: Scopes = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Verification:
        """Verifies an ``Authorization`` value (or a bare token). Never raises for
        a bad credential: inspect ``.ok``/``.code``."""
        return self._native.verify(authorization, scopes, any_scopes, resource)

    def verify_without_spending(
        self,
        authorization: Union[str, bytes, None],
        scopes: Scopes = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Verification:
        """Like :meth:`verify`, but records no usage, counts no rate limit and
        spends no credit: for checking a token by hand. A key out of credits
        is ``usage_exceeded``; a rate limit is reported as this process's
        in-memory limiter sees it (a Redis limiter reports none)."""
        return self._native.verify_without_spending(authorization, scopes, any_scopes, resource)

    def verify_in_memory(
        self,
        authorization: Union[str, bytes, None],
        scopes: Scopes = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Optional[Verification]:
        """Like :meth:`verify`, answered only from memory (a cached key, or a
        refusal that needs no lookup); ``None`` when the store must be asked.
        Safe to call on an event loop; on ``None``, run :meth:`verify` off it."""
        return self._native.verify_in_memory(authorization, scopes, any_scopes, resource)

    async def verify_async(
        self,
        authorization: Union[str, bytes, None],
        scopes: Scopes = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Verification:
        """:meth:`verify` for asyncio code: answered on the loop when memory
        suffices, otherwise in a worker thread, so a store round trip (or a
        store that hangs) never blocks the event loop."""
        v = self._native.verify_in_memory(authorization, scopes, any_scopes, resource)
        if v is not None:
            return v
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(
            None, self._native.verify, authorization, scopes, any_scopes, resource
        )

    def authenticate(
        self,
        authorization: Union[str, bytes, None],
        scopes: Scopes = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> KeyInfo:
        """Like :meth:`verify`, but returns the key or raises an :class:`AuthError`
        subclass (:class:`Unauthorized`, :class:`Forbidden`, :class:`RateLimited`)."""
        v = self._native.verify(authorization, scopes, any_scopes, resource)
        key = v.key
        if v.ok and key is not None:
            return key
        raise auth_error(v)

    # ----- usage history ------------------------------------------------

    def usage(
        self,
        key_id: str,
        *,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        step: Literal["hour", "day"] = "day",
    ) -> List[UsageBucket]:
        """A key's usage history: one bucket per hour or UTC day from ``since``
        (rounded down to its bucket) until ``until``, oldest first, zeros
        included, at most 2000 buckets. By default the last 30 days by day,
        or the last 24 hours by hour, the current day or hour included (as
        the management API and ``gatepass usage``). Hours rolled up into days (after
        ``GATEPASS_USAGE_HOURLY_FOR``, 30 days by default) are refused with
        :class:`InvalidArgument`: ask for ``step="day"`` there."""
        return [UsageBucket(*b) for b in self._native.usage(key_id, since=since, until=until, step=step)]

    # ----- shutdown -----------------------------------------------------

    def flush(self) -> None:
        """Writes usage counted in this process to the store."""
        self._native.flush()

    def close(self) -> None:
        """Flushes usage. The gate stays usable; this is what exit does too."""
        self.flush()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
