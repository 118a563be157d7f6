"""Framework-neutral pieces shared by the Flask, Django, DRF and FastAPI helpers."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ._native import WebhookVerifier, meta_challenge
from .exceptions import AuthError, ConfigError, StoreError, WebhookError

PROBLEM_CONTENT_TYPE = "application/problem+json"

#: The errors a helper answers over HTTP: each has ``status``, ``headers`` and
#: ``problem``. A :class:`StoreError` (and a webhook's ``replay_guard_failed``)
#: is 503 with ``Retry-After``.
HTTPError = Union[AuthError, WebhookError, StoreError]


def join_authorization(values: Iterable[str]) -> Optional[str]:
    """One ``Authorization`` value from what a framework gives. Several values
    are joined with ``", "`` so core answers ``invalid_request`` (two
    credentials) instead of silently picking one."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return ", ".join(values)


def environ_keys(header_names: Iterable[str]) -> List[Tuple[str, str]]:
    """``(header name, WSGI environ key)`` for a verifier's headers, e.g.
    ``("webhook-id", "HTTP_WEBHOOK_ID")``; computed once per route."""
    return [(name, "HTTP_" + name.upper().replace("-", "_")) for name in header_names]


def headers_from_environ(environ: Mapping[str, Any], keys: List[Tuple[str, str]]) -> Dict[str, Any]:
    """Just the headers a verifier reads, straight from a WSGI environ (Flask)
    or ``request.META`` (Django): a few dict lookups instead of converting
    every request header."""
    return {name: environ[key] for name, key in keys if key in environ}


def problem_body(problem: Mapping[str, Any]) -> bytes:
    return json.dumps(problem, separators=(",", ":")).encode()


ResourceArg = Union[None, str, Callable[..., Optional[str]]]


def resolve_resource(resource: ResourceArg, *args: Any, **kwargs: Any) -> Optional[str]:
    """``resource=`` is a fixed string or a callable given the view's arguments."""
    if resource is None or isinstance(resource, str):
        return resource
    return resource(*args, **kwargs)


def requirement_args(scopes: Any, any_scopes: Any) -> Tuple[Any, Any]:
    if any_scopes is not None and isinstance(any_scopes, str):
        raise TypeError("any_scopes must be a list of scopes")
    return scopes, (list(any_scopes) if any_scopes is not None else None)


def webhook_verifier(what: str, scheme: Any, secrets: Any, options: Mapping[str, Any]) -> WebhookVerifier:
    """A route's verifier: the one given, or one built from ``scheme``,
    ``secrets`` and ``options`` (the framework decorators' arguments)."""
    if isinstance(scheme, WebhookVerifier):
        return scheme
    if secrets is None:
        raise TypeError(f"{what} needs secrets= (or a WebhookVerifier)")
    return WebhookVerifier(scheme, secrets, **options)


def webhook_base_url(what: str, verifier: WebhookVerifier, base_url: Optional[str]) -> Optional[str]:
    """A route's public base URL (``scheme://host[:port][/prefix]``, no trailing
    ``/``) for schemes that sign the request URL; ``None`` for the others.

    Twilio signs the URL it was configured to call. Rebuilt from the request,
    that URL's host would come from the client's ``Host`` header, so a helper
    never does that: the base is configuration, and missing it is an error at
    declaration, not a quiet guess per request."""
    if base_url is not None:
        parts = urlsplit(base_url) if isinstance(base_url, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or "?" in base_url
            or "#" in base_url
        ):
            raise ConfigError(
                f"{what}: base_url must be an absolute http(s) URL without a query, "
                "such as 'https://hooks.example.com'",
                code="config_error",
            )
    if not verifier.signs_url:
        return None
    if base_url is None:
        raise ConfigError(
            f"{what}: the {verifier.scheme} scheme signs the public URL the sender calls; "
            "pass base_url='https://your.public.host' (the request's Host header is not trusted)",
            code="config_error",
        )
    return base_url.rstrip("/")


def meta_tokens(verify_tokens: Union[str, Sequence[str]]) -> List[str]:
    """The verify tokens of a Meta handshake route, checked once when the
    route is built: an empty list or an empty token is a ``ConfigError``
    there, not a 403 on Meta's first request."""
    tokens = [verify_tokens] if isinstance(verify_tokens, str) else list(verify_tokens)
    try:
        meta_challenge("", tokens)
    except WebhookError:
        pass  # the empty query is missing its parameters: the tokens are fine
    return tokens
