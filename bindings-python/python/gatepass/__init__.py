"""gatepass: API tokens, scopes and webhook signatures for chatbot-platform backends.

::

    gate = gatepass.Gate("sqlite:///gatepass.db")
    issued = gate.issue("Production Server", scopes=["bots:read"], expires_in="90d")
    v = gate.verify(request.headers.get("Authorization"), scopes=["bots:read"])
    if not v.ok: return v.problem(), v.status, v.headers

Framework helpers live in :mod:`gatepass.flask`, :mod:`gatepass.django`,
:mod:`gatepass.drf` and :mod:`gatepass.fastapi`.
"""

from __future__ import annotations

from ._gate import DEFAULT_STORE_URL, Gate, UsageBucket, default_rate_limiter_url, default_store_url
from ._native import (
    WEBHOOK_SCHEMES,
    Event,
    EventPage,
    Issued,
    KeyInfo,
    Page,
    Requirement,
    Verification,
    VerifiedWebhook,
    WebhookSigner,
    WebhookVerifier,
    __version__,
    generate_keypair,
    generate_secret,
    meta_challenge,
    public_key,
)
from .exceptions import (
    AuthError,
    BadRequest,
    ConfigError,
    Forbidden,
    GatepassError,
    InvalidArgument,
    InvalidState,
    NotFound,
    RateLimited,
    StoreError,
    Unauthorized,
    WebhookError,
    auth_error,
)
from .manage import Principal

__all__ = [
    "DEFAULT_STORE_URL",
    "Gate",
    "UsageBucket",
    "default_store_url",
    "default_rate_limiter_url",
    "Event",
    "EventPage",
    "Issued",
    "KeyInfo",
    "Page",
    "Principal",
    "Requirement",
    "Verification",
    "VerifiedWebhook",
    "WebhookSigner",
    "WebhookVerifier",
    "WEBHOOK_SCHEMES",
    "generate_secret",
    "generate_keypair",
    "public_key",
    "meta_challenge",
    "AuthError",
    "BadRequest",
    "ConfigError",
    "Forbidden",
    "GatepassError",
    "InvalidArgument",
    "InvalidState",
    "NotFound",
    "RateLimited",
    "StoreError",
    "Unauthorized",
    "WebhookError",
    "auth_error",
    "__version__",
]
