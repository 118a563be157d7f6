"""Type stubs for the native module ``gatepass._native`` (PyO3)."""

from datetime import datetime, timedelta
from typing import Any, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple, Union

__version__: str
MANAGE_MAX_BODY_BYTES: int
WEBHOOK_SCHEMES: List[str]

Duration = Union[str, timedelta]
Body = Union[bytes, bytearray, memoryview, str]
HeaderValue = Union[str, bytes]
HeadersArg = Union[Mapping[str, HeaderValue], Iterable[Tuple[Union[str, bytes], HeaderValue]]]
Status = Literal["active", "inactive", "revoked"]
OutcomeCode = Literal[
    "valid",
    "missing_credentials",
    "invalid_request",
    "malformed_token",
    "unknown_key",
    "inactive",
    "revoked",
    "expired",
    "forbidden_resource",
    "insufficient_scope",
    "rate_limited",
    "usage_exceeded",
]
Scheme = Literal[
    "standard",
    "stripe",
    "github",
    "slack",
    "shopify",
    "twilio",
    "token",
    "meta",
    "line",
    "discord",
    "intercom",
    "chatwoot",
]

class KeyInfo:
    """A key's record; never holds the secret."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start(self) -> str: ...
    @property
    def scopes(self) -> List[str]: ...
    @property
    def subject(self) -> Optional[str]: ...
    @property
    def resource(self) -> Optional[str]: ...
    @property
    def metadata(self) -> Dict[str, Any]: ...
    @property
    def status(self) -> Status: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def expires_at(self) -> Optional[datetime]: ...
    @property
    def revoked_at(self) -> Optional[datetime]: ...
    @property
    def last_used_at(self) -> Optional[datetime]: ...
    @property
    def usage_count(self) -> int: ...
    @property
    def rate_limit(self) -> Optional[str]: ...
    @property
    def remaining(self) -> Optional[int]: ...
    @property
    def effective_rate_limit(self) -> Optional[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Issued:
    """A new or rotated key: ``token`` is the only copy of the secret."""

    @property
    def token(self) -> str: ...
    @property
    def key(self) -> KeyInfo: ...

class Page:
    @property
    def keys(self) -> List[KeyInfo]: ...
    @property
    def next(self) -> Optional[str]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[KeyInfo]: ...

EventAction = Literal["issued", "updated", "regenerated", "deactivated", "activated", "revoked", "deleted", "leaked"]

class Event:
    """One change of one key, as the audit trail recorded it; never a secret."""

    @property
    def id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def key_id(self) -> str: ...
    @property
    def owner(self) -> Optional[str]: ...
    @property
    def action(self) -> EventAction: ...
    @property
    def actor(self) -> str: ...
    @property
    def changes(self) -> Dict[str, Any]: ...
    @property
    def ip(self) -> Optional[str]: ...
    @property
    def user_agent(self) -> Optional[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...

class EventPage:
    @property
    def events(self) -> List[Event]: ...
    @property
    def next(self) -> Optional[str]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Event]: ...

class Requirement:
    def __init__(
        self, scopes: Union[str, Sequence[str], None] = None, any_scopes: Optional[Sequence[str]] = None
    ) -> None: ...
    @property
    def scopes(self) -> List[str]: ...
    @property
    def is_empty(self) -> bool: ...

class Verification:
    @property
    def ok(self) -> bool: ...
    @property
    def code(self) -> OutcomeCode: ...
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Dict[str, str]: ...
    @property
    def key(self) -> Optional[KeyInfo]: ...
    @property
    def missing_scopes(self) -> List[str]: ...
    @property
    def detail(self) -> str: ...
    @property
    def scheme(self) -> Optional[str]: ...
    def problem(self) -> Optional[Dict[str, Any]]: ...
    def problem_json(self) -> Optional[str]: ...
    def __bool__(self) -> bool: ...

class Gate:
    def __init__(
        self,
        store: str,
        *,
        policy_toml: Optional[str] = None,
        policy_json: Optional[str] = None,
        rate_limiter: Optional[str] = None,
    ) -> None: ...
    @property
    def policy_source(self) -> str: ...
    @property
    def policy_mismatch(self) -> Optional[str]: ...
    @property
    def realm(self) -> str: ...
    @property
    def schemes(self) -> List[str]: ...
    @property
    def scope_catalogue(self) -> List[str]: ...
    @property
    def kinds(self) -> List[Tuple[str, str]]: ...
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
    ) -> Issued: ...
    def get(self, id: str) -> KeyInfo: ...
    def list(
        self,
        *,
        subject: Optional[str] = None,
        kind: Optional[str] = None,
        status: Optional[str] = None,
        after: Optional[str] = None,
        limit: int = 100,
    ) -> Page: ...
    def update(
        self,
        id: str,
        *,
        actor: Optional[str] = None,
        ip: Optional[str] = None,
        user_agent: Optional[str] = None,
        **changes: Any,
    ) -> KeyInfo: ...
    def deactivate(
        self, id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> KeyInfo: ...
    def activate(
        self, id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> KeyInfo: ...
    def revoke(
        self, id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> KeyInfo: ...
    def rotate(
        self,
        id: str,
        *,
        grace: Optional[Duration] = None,
        actor: Optional[str] = None,
        ip: Optional[str] = None,
        user_agent: Optional[str] = None,
    ) -> Issued: ...
    def delete(
        self, id: str, *, actor: Optional[str] = None, ip: Optional[str] = None, user_agent: Optional[str] = None
    ) -> None: ...
    def events(
        self,
        *,
        key: Optional[str] = None,
        owner: Optional[str] = None,
        since: Optional[datetime] = None,
        after: Optional[str] = None,
        limit: int = 50,
    ) -> EventPage: ...
    def check_requirement(
        self, scopes: Union[str, Sequence[str], Requirement, None] = None, any_scopes: Optional[Sequence[str]] = None
    ) -> Requirement: ...
    def verify(
        self,
        authorization: Union[str, bytes, bytearray, None],
        scopes: Union[str, Sequence[str], Requirement, None] = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Verification: ...
    def verify_without_spending(
        self,
        authorization: Union[str, bytes, bytearray, None],
        scopes: Union[str, Sequence[str], Requirement, None] = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Verification: ...
    def verify_in_memory(
        self,
        authorization: Union[str, bytes, bytearray, None],
        scopes: Union[str, Sequence[str], Requirement, None] = None,
        any_scopes: Optional[Sequence[str]] = None,
        resource: Optional[str] = None,
    ) -> Optional[Verification]: ...
    def flush(self) -> None: ...
    def usage(
        self,
        key_id: str,
        *,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        step: str = "day",
    ) -> List[Tuple[datetime, int, Dict[str, int]]]: ...
    def manage(
        self,
        method: str,
        path: str,
        query: str,
        headers: List[Tuple[str, str]],
        self_origin: Optional[str],
        body: bytes,
        principal: Optional[Dict[str, Any]],
    ) -> Tuple[int, List[Tuple[str, str]], bytes]: ...

class VerifiedWebhook:
    @property
    def id(self) -> Optional[str]: ...
    @property
    def timestamp(self) -> Optional[int]: ...
    @property
    def scheme(self) -> Scheme: ...

class WebhookVerifier:
    def __init__(
        self,
        scheme: str,
        secrets: Union[str, Sequence[str]],
        *,
        tolerance: Optional[Duration] = ...,
        allow_sha1: bool = False,
        replay_guard: Union[bool, int, str] = False,
        now: Optional[int] = None,
        header: Optional[str] = None,
    ) -> None: ...
    @property
    def scheme(self) -> Scheme: ...
    @property
    def signs_url(self) -> bool: ...
    @property
    def header_names(self) -> List[str]: ...
    def verify(self, body: Body, headers: HeadersArg, *, url: Optional[str] = None) -> VerifiedWebhook: ...

class WebhookSigner:
    def __init__(self, scheme: str, secret: str, *, header: Optional[str] = None) -> None: ...
    @property
    def scheme(self) -> Scheme: ...
    def sign(
        self,
        body: Body,
        *,
        id: Optional[str] = None,
        timestamp: Union[int, datetime, None] = None,
        url: Optional[str] = None,
    ) -> Dict[str, str]: ...

def generate_secret(scheme: str) -> str: ...
def generate_keypair(scheme: str) -> Tuple[str, str]: ...
def public_key(scheme: str, signing_key: str) -> str: ...
def meta_challenge(query: str, verify_tokens: Union[str, Sequence[str]]) -> str: ...
def parse_duration(value: Duration) -> float: ...
def store_url(store: Optional[str] = None) -> str: ...
def rate_limiter_url(given: Optional[str] = None) -> Optional[str]: ...
def policy_path() -> Optional[str]: ...
def error_table() -> List[Tuple[str, int, str, str, str]]: ...
def error_classes() -> List[Tuple[str, str]]: ...
def render_error(
    code: str, message: str, webhook_scheme: Optional[str] = None
) -> Tuple[int, Dict[str, str], Optional[Dict[str, Any]]]: ...
def cli_main(argv: Sequence[str]) -> int: ...
def cli_run(
    argv: Sequence[str],
    gate: Gate,
    policy_source: str,
    stdin: Optional[bytes] = None,
    actor: Optional[str] = None,
) -> Tuple[int, bytes, bytes]: ...
