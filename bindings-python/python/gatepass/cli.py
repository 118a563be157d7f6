"""The ``gatepass`` command line.

::

    gatepass keys issue "Production Server" --scope bots:read --expires-in 90d
    gatepass keys list [--subject agent_42] [--status active] [--all]
    gatepass keys show|rotate|revoke|deactivate|activate|delete KEY_ID
    gatepass verify [TOKEN | -] --scopes bots:read [--spend]
    gatepass webhook secret standard
    gatepass webhook sign standard --secret whsec_… < body.json
    gatepass webhook verify standard --secret whsec_… -H 'webhook-id: …' … < body.json

Every command takes ``--store`` (default ``$GATEPASS_STORE``, else
``sqlite:///gatepass.db``), ``--policy gatepass.toml`` (default the file
``$GATEPASS_POLICY`` names, else no policy) and ``--json``. A kind or token
prefix the policy does not know is reported with where that policy came from.

Exit codes: 0 success; 1 the credential or webhook did not verify; 2 usage
error; 3 no such key; 4 invalid argument, configuration or key state;
5 store unavailable or unreadable; 70 internal error.

Secrets are printed only by ``keys issue``, ``keys rotate`` and ``webhook
secret``, once. Tokens and webhook secrets can be passed through the
environment (``GATEPASS_TOKEN``, ``GATEPASS_WEBHOOK_SECRET``) or stdin rather
than the command line, where other users of the machine could see them. The
same goes for a store or rate-limiter URL with a password: set
``GATEPASS_STORE`` / ``GATEPASS_RATE_LIMITER``; given as ``--store`` or
``--rate-limiter`` such a URL works but draws a warning on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO
from urllib.parse import parse_qs, urlsplit

from . import Gate, KeyInfo, WebhookSigner, WebhookVerifier, __version__, default_store_url, generate_secret
from .exceptions import (
    ConfigError,
    GatepassError,
    InvalidArgument,
    InvalidState,
    NotFound,
    StoreError,
    WebhookError,
)

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INVALID = 4
EXIT_STORE = 5
EXIT_INTERNAL = 70

WEBHOOK_SCHEMES = ["standard", "stripe", "github", "slack", "shopify", "twilio", "token"]


class UsageError(Exception):
    """A command-line mistake argparse could not catch (exit 2)."""


# ----- output -------------------------------------------------------------


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


def key_json(key: KeyInfo) -> Dict[str, Any]:
    return {k: _iso(v) for k, v in key.to_dict().items()}


def _when(value: Optional[datetime]) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def keys_table(keys: Sequence[KeyInfo]) -> str:
    rows = [
        [
            k.id,
            k.name if len(k.name) <= 32 else k.name[:31] + "…",
            k.start + "…",
            k.status,
            _when(k.created_at),
            _when(k.expires_at),
            str(k.usage_count),
        ]
        for k in keys
    ]
    return _table(rows, ["ID", "NAME", "START", "STATUS", "CREATED", "EXPIRES", "USAGE"])


def key_details(key: KeyInfo) -> str:
    d = key.to_dict()
    lines = []
    for name in (
        "id",
        "name",
        "kind",
        "start",
        "status",
        "scopes",
        "subject",
        "resource",
        "created_at",
        "updated_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "usage_count",
        "rate_limit",
        "remaining",
        "metadata",
    ):
        value = d[name]
        if name == "scopes":
            value = " ".join(value) or "-"
        elif name == "metadata":
            value = json.dumps(value) if value else "-"
        elif isinstance(value, datetime):
            value = _iso(value)
        elif name == "rate_limit":
            # The limit that applies, so a key under its kind's default does
            # not read as unlimited; the core decides which one that is.
            value = _rate_limit_text(d)
        elif value is None:
            value = "-"
        lines.append(f"{name + ':':<14}{value}")
    return "\n".join(lines)


def _rate_limit_text(d: Dict[str, Any]) -> str:
    effective = d.get("effective_rate_limit")
    if effective is None:
        return "-"
    if d.get("rate_limit") is None:
        return f"{effective} (default of kind {d['kind']})"
    return str(effective)


def policy_source(gate: Gate, args: argparse.Namespace) -> str:
    """Where the policy in force came from (the core's answer), with the
    path when it was ``--policy``."""
    given = getattr(args, "policy", None)
    if given:
        return f"--policy {given}"
    return gate.policy_source


class Output:
    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

    def emit(self, data: Any, text: str) -> None:
        if self.as_json:
            self.out.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
        else:
            self.out.write(text + "\n")

    def error(self, code: str, message: str, exit_code: int) -> int:
        if self.as_json:
            self.out.write(json.dumps({"error": {"code": code, "message": message}}) + "\n")
        self.err.write(f"gatepass: error: {message} ({code})\n")
        return exit_code


# ----- arguments ----------------------------------------------------------


def _scopes(values: Optional[List[str]]) -> Optional[List[str]]:
    if values is None:
        return None
    out: List[str] = []
    for v in values:
        out.extend(s for s in v.replace(",", " ").split() if s)
    return out


def _datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _metadata(text: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"metadata must be a JSON object: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("metadata must be a JSON object")
    return value


def add_issue_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a name people will recognise, e.g. 'Production Server'")
    p.add_argument(
        "--scope",
        "--scopes",
        dest="scopes",
        action="append",
        metavar="SCOPE",
        help="scope to grant; repeat or separate with commas (bots:read,channels:write)",
    )
    p.add_argument("--kind", help="token kind from the policy")
    p.add_argument("--subject", help="owner: agent, user or workspace id")
    p.add_argument("--resource", help="bind the key to one resource, e.g. channel:ch_123")
    p.add_argument("--expires-in", metavar="DURATION", help="e.g. 90d, 12h")
    p.add_argument("--expires-at", metavar="TIME", type=_datetime, help="ISO 8601 time (UTC if no zone)")
    p.add_argument("--rate-limit", metavar="LIMIT", help="e.g. 1000/hour")
    p.add_argument("--remaining", type=int, metavar="N", help="credits; omit for unlimited")
    p.add_argument("--metadata", type=_metadata, metavar="JSON", help="JSON object stored with the key")


def run_issue(gate: Gate, args: argparse.Namespace, o: Output) -> int:
    issued = gate.issue(
        args.name,
        scopes=_scopes(args.scopes),
        kind=args.kind,
        subject=args.subject,
        resource=args.resource,
        metadata=args.metadata,
        expires_in=args.expires_in,
        expires_at=args.expires_at,
        rate_limit=args.rate_limit,
        remaining=args.remaining,
    )
    return _show_issued(issued, o, "Issued")


def _show_issued(issued: Any, o: Output, verb: str) -> int:
    key = issued.key
    text = f"{verb} {key.id} ({key.name}).\nToken (shown once, store it now):\n\n    {issued.token}\n\n" + key_details(
        key
    )
    o.emit({"token": issued.token, "key": key_json(key)}, text)
    return EXIT_OK


def add_list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subject")
    p.add_argument("--kind")
    p.add_argument("--status", choices=["active", "inactive", "revoked"])
    p.add_argument("--limit", type=int, default=100, help="page size (default 100)")
    p.add_argument("--after", metavar="CURSOR", help="cursor from a previous page")
    p.add_argument("--all", action="store_true", help="every page")


def run_list(gate: Gate, args: argparse.Namespace, o: Output) -> int:
    if args.all:
        keys = list(gate.iter_keys(subject=args.subject, kind=args.kind, status=args.status))
        nxt = None
    else:
        page = gate.list(subject=args.subject, kind=args.kind, status=args.status, after=args.after, limit=args.limit)
        keys, nxt = list(page), page.next
    text = keys_table(keys) if keys else "No keys."
    if nxt:
        text += f"\n\nMore: --after {nxt}"
    o.emit({"keys": [key_json(k) for k in keys], "next": nxt}, text)
    return EXIT_OK


def add_id_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("key_id", metavar="KEY_ID", help="key_…")


def _run_key_action(action: str) -> Callable[[Gate, argparse.Namespace, Output], int]:
    past = {"show": "", "revoke": "Revoked", "deactivate": "Deactivated", "activate": "Activated"}

    def run(gate: Gate, args: argparse.Namespace, o: Output) -> int:
        key = gate.get(args.key_id) if action == "show" else getattr(gate, action)(args.key_id)
        text = key_details(key) if action == "show" else f"{past[action]} {key.id} ({key.name}); status: {key.status}."
        o.emit(key_json(key), text)
        return EXIT_OK

    return run


def add_rotate_arguments(p: argparse.ArgumentParser) -> None:
    add_id_argument(p)
    p.add_argument("--grace", metavar="DURATION", help="how long the old token keeps working (default: not at all)")


def run_rotate(gate: Gate, args: argparse.Namespace, o: Output) -> int:
    return _show_issued(gate.rotate(args.key_id, grace=args.grace), o, "Rotated")


def run_delete(gate: Gate, args: argparse.Namespace, o: Output) -> int:
    gate.delete(args.key_id)
    o.emit({"deleted": args.key_id}, f"Deleted {args.key_id}.")
    return EXIT_OK


def add_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "credential",
        nargs="?",
        help="token or 'Bearer <token>'; '-' reads stdin; default $GATEPASS_TOKEN",
    )
    p.add_argument("--scopes", "--scope", dest="scopes", help="expression or comma-separated list (all of)")
    p.add_argument("--any-scopes", help="comma-separated list (any of)")
    p.add_argument("--resource")
    p.add_argument(
        "--spend",
        action="store_true",
        help="count it as a request: record usage, take rate-limit allowance and a credit"
        " (default: check only, spending nothing)",
    )


def run_verify(gate: Gate, args: argparse.Namespace, o: Output) -> int:
    credential = args.credential
    if credential == "-":
        credential = sys.stdin.readline().strip()
    elif credential is None:
        credential = os.environ.get("GATEPASS_TOKEN")
    scopes: Any = None
    if args.scopes:
        s = args.scopes.strip()
        is_expr = any(w in f" {s} " for w in (" and ", " or ")) or "(" in s
        scopes = s if is_expr else _scopes([s])
    any_scopes = _scopes([args.any_scopes]) if args.any_scopes else None
    # Checking a production key by hand must not use up its limits.
    check = gate.verify if args.spend else gate.verify_without_spending
    v = check(credential, scopes, any_scopes, args.resource)
    data: Dict[str, Any] = {
        "ok": v.ok,
        "code": v.code,
        "status": v.status,
        "headers": v.headers,
        "missing_scopes": v.missing_scopes,
        "problem": v.problem(),
        "key": key_json(v.key) if v.key is not None else None,
    }
    if v.ok and v.key is not None:
        text = f"valid: {v.key.id} ({v.key.name}), scopes: {' '.join(v.key.scopes) or '-'}"
    else:
        text = f"{v.code} ({v.status}): {v.detail}"
        if v.code == "malformed_token" and "prefix" in v.detail:
            # Most often the wrong policy, not a bad token: say which one.
            source = policy_source(gate, args)
            prefixes = ", ".join(prefix for _, prefix in gate.kinds)
            data["policy"] = source
            text += f"\npolicy in force: {source}; token prefixes it knows: {prefixes}"
        if v.key is not None:
            text += f"\nkey: {v.key.id} ({v.key.name})"
    o.emit(data, text)
    return EXIT_OK if v.ok else EXIT_REJECTED


# ----- webhooks -----------------------------------------------------------


def _read_body(path: Optional[str]) -> bytes:
    if path is None or path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _secrets(values: Optional[List[str]]) -> List[str]:
    if values:
        return values
    env = os.environ.get("GATEPASS_WEBHOOK_SECRET")
    if env:
        return [s for s in env.split(",") if s] if "," in env else [env]
    raise UsageError("a secret is needed: --secret or $GATEPASS_WEBHOOK_SECRET")


def run_webhook_secret(args: argparse.Namespace, o: Output) -> int:
    secret = generate_secret(args.scheme)
    o.emit({"scheme": args.scheme, "secret": secret}, secret)
    return EXIT_OK


def run_webhook_sign(args: argparse.Namespace, o: Output) -> int:
    secret = _secrets(args.secret)[0]
    body = _read_body(args.body_file)
    headers = WebhookSigner(args.scheme, secret).sign(body, id=args.id, timestamp=args.timestamp, url=args.url)
    o.emit({"headers": headers}, "\n".join(f"{k}: {v}" for k, v in headers.items()))
    return EXIT_OK


def _header(text: str) -> tuple:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text[:40]!r}")
    return name.strip(), value.strip()


def run_webhook_verify(args: argparse.Namespace, o: Output) -> int:
    options: Dict[str, Any] = {}
    if args.tolerance is not None:
        options["tolerance"] = None if args.tolerance.lower() in ("none", "off") else args.tolerance
    verifier = WebhookVerifier(args.scheme, _secrets(args.secret), **options)
    body = _read_body(args.body_file)
    try:
        msg = verifier.verify(body, args.header or [], url=args.url)
    except WebhookError as e:
        o.emit({"ok": False, "code": e.code, "message": e.message}, f"{e.code}: {e.message}")
        return EXIT_REJECTED
    o.emit(
        {"ok": True, "scheme": msg.scheme, "id": msg.id, "timestamp": msg.timestamp},
        f"valid {msg.scheme} webhook" + (f" {msg.id}" if msg.id else ""),
    )
    return EXIT_OK


# ----- parser -------------------------------------------------------------


def common_options() -> argparse.ArgumentParser:
    """--store/--policy/--json, accepted before or after the subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        help="store URL (default $GATEPASS_STORE or sqlite:///gatepass.db); "
        "put a URL with a password in $GATEPASS_STORE, not here",
    )
    p.add_argument("--policy", default=argparse.SUPPRESS, help="policy file (.toml or .json; default $GATEPASS_POLICY)")
    p.add_argument(
        "--rate-limiter",
        default=argparse.SUPPRESS,
        help="rate limiter URL (default $GATEPASS_RATE_LIMITER or memory://), e.g. redis://127.0.0.1/",
    )
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="gatepass",
        description="API tokens, scopes and webhook signatures.",
        parents=[common],
        epilog="Exit codes: 0 ok, 1 rejected, 2 usage, 3 not found, 4 invalid, 5 store error.",
    )
    parser.add_argument("--version", action="version", version=f"gatepass {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    keys = groups.add_parser("keys", help="issue and manage keys", parents=[common])
    keys_sub = keys.add_subparsers(dest="action", metavar="ACTION", required=True)

    def leaf(
        sub: Any, name: str, help: str, add: Optional[Callable[[argparse.ArgumentParser], None]], run: Any
    ) -> None:
        p = sub.add_parser(name, help=help, parents=[common])
        if add is not None:
            add(p)
        p.set_defaults(run=run)

    leaf(keys_sub, "issue", "issue a key (prints the token once)", add_issue_arguments, run_issue)
    leaf(keys_sub, "list", "list keys", add_list_arguments, run_list)
    leaf(keys_sub, "show", "show one key", add_id_argument, _run_key_action("show"))
    leaf(keys_sub, "rotate", "new secret, same key (prints the token once)", add_rotate_arguments, run_rotate)
    leaf(keys_sub, "revoke", "revoke a key (one-way, immediate)", add_id_argument, _run_key_action("revoke"))
    leaf(keys_sub, "deactivate", "stop a key (reversible)", add_id_argument, _run_key_action("deactivate"))
    leaf(keys_sub, "activate", "re-activate a deactivated key", add_id_argument, _run_key_action("activate"))
    leaf(keys_sub, "delete", "delete a key and its record", add_id_argument, run_delete)

    leaf(groups, "verify", "verify a token or Authorization value", add_verify_arguments, run_verify)

    webhook = groups.add_parser("webhook", help="webhook secrets, signing and verification", parents=[common])
    wh_sub = webhook.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add_secret(p: argparse.ArgumentParser) -> None:
        p.add_argument("scheme", choices=WEBHOOK_SCHEMES)

    def add_sign(p: argparse.ArgumentParser) -> None:
        add_secret(p)
        p.add_argument("--secret", action="append", help="signing secret (default $GATEPASS_WEBHOOK_SECRET)")
        p.add_argument("--body-file", metavar="FILE", help="body to sign (default stdin)")
        p.add_argument("--id", help="message id (standard; default a fresh one)")
        p.add_argument("--timestamp", type=int, help="Unix seconds (default now)")
        p.add_argument("--url", help="full request URL (twilio)")

    def add_verify(p: argparse.ArgumentParser) -> None:
        add_secret(p)
        p.add_argument(
            "--secret", action="append", help="secret; repeat for rotation (default $GATEPASS_WEBHOOK_SECRET)"
        )
        p.add_argument("-H", "--header", action="append", type=_header, metavar="'NAME: VALUE'", help="request header")
        p.add_argument("--body-file", metavar="FILE", help="raw body (default stdin)")
        p.add_argument("--url", help="full request URL (twilio)")
        p.add_argument("--tolerance", help="timestamp window, e.g. 5m; 'none' to skip the check")

    leaf(wh_sub, "secret", "generate a secret", add_secret, run_webhook_secret)
    leaf(wh_sub, "sign", "sign a body; prints the headers", add_sign, run_webhook_sign)
    leaf(wh_sub, "verify", "verify a received webhook", add_verify, run_webhook_verify)
    return parser


_EXIT_BY_CLASS = [
    (NotFound, EXIT_NOT_FOUND),
    (StoreError, EXIT_STORE),
    (InvalidArgument, EXIT_INVALID),
    (ConfigError, EXIT_INVALID),
    (InvalidState, EXIT_INVALID),
    (WebhookError, EXIT_REJECTED),
]


def url_has_password(url: str) -> bool:
    """Whether a store or rate-limiter URL carries a password, in its
    user-info part (``postgres://user:pw@host``, ``redis://:pw@host``) or as
    a libpq ``password=`` parameter."""
    try:
        parts = urlsplit(url)
        return bool(parts.password) or "password" in parse_qs(parts.query)
    except ValueError:  # unparseable (e.g. a bad port): let the store refuse it
        return "@" in url or "password=" in url


def warn_about_passwords(args: argparse.Namespace, err: TextIO) -> None:
    """A password on the command line is visible to every user of the machine
    (``ps``, ``/proc/<pid>/cmdline``) and stays in shell history: say so, and
    where it belongs instead. The URL itself is never repeated."""
    for option, variable in (("store", "GATEPASS_STORE"), ("rate_limiter", "GATEPASS_RATE_LIMITER")):
        url = getattr(args, option, None)
        if url and url_has_password(url):
            flag = "--" + option.replace("_", "-")
            err.write(
                f"gatepass: warning: the {flag} URL holds a password, which other users of this machine can read "
                f"from the process list and which stays in your shell history; set {variable} instead\n"
            )


def main(argv: Optional[Sequence[str]] = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    o = Output(getattr(args, "json", False), out, err)
    warn_about_passwords(args, err)
    try:
        if args.group == "webhook":
            return args.run(args, o)
        gate = Gate(
            getattr(args, "store", None) or default_store_url(),
            policy=getattr(args, "policy", None),
            rate_limiter=getattr(args, "rate_limiter", None),
        )
        try:
            return args.run(gate, args, o)
        finally:
            gate.close()
    except UsageError as e:
        return o.error("usage", str(e), EXIT_USAGE)
    except GatepassError as e:
        # An unknown kind's message names the policy in force (the core's).
        message = e.message
        for cls, code in _EXIT_BY_CLASS:
            if isinstance(e, cls):
                return o.error(e.code, message, code)
        return o.error(e.code, message, EXIT_INTERNAL)
    except OSError as e:
        return o.error("io_error", f"{e.strerror}: {e.filename}", EXIT_INVALID)
    except (TypeError, ValueError) as e:
        return o.error("invalid_argument", str(e), EXIT_INVALID)


def entrypoint() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entrypoint()
