"""Management commands are the command line's ``keys`` and ``verify``
subcommands, run on the gate from ``settings.GATEPASS`` (its store, policy
and rate limiter): ``manage.py gatepass_issue "CI" --scope bots:read`` is
``gatepass keys issue "CI" --scope bots:read`` against the project's store.

The arguments go to the command line unparsed (it has the one grammar and
``--help``); Django's own options (``--settings``, ``--verbosity``, …) are
taken out first. Output is written to the command's ``stdout``/``stderr``; a
failure is a ``CommandError`` with the command line's exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional, Sequence

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import _native
from ..conf import gatepass_settings, get_gate

#: Django's options that take a value, and those that do not.
_DJANGO_VALUE_OPTIONS = ("--settings", "--pythonpath", "--verbosity", "-v")
_DJANGO_FLAGS = ("--traceback", "--no-color", "--force-color", "--skip-checks")


def _split(argv: Sequence[str]) -> tuple:
    """(Django's options as a dict, the rest for the command line)."""
    django: dict = {}
    rest: List[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        arg = items[i]
        name, eq, value = arg.partition("=")
        if arg == "--":
            rest.extend(items[i:])
            break
        if name in _DJANGO_VALUE_OPTIONS:
            if not eq:
                i += 1
                value = items[i] if i < len(items) else ""
            django[name.lstrip("-").replace("-", "_")] = value
        elif arg in _DJANGO_FLAGS:
            django[arg.lstrip("-").replace("-", "_")] = True
        else:
            rest.append(arg)
        i += 1
    if "v" in django:
        django["verbosity"] = django.pop("v")
    return django, rest


class _PassThrough(CommandParser):
    """Hands every argument to the command line; keeps Django's options."""

    def parse_args(self, args: Optional[Sequence[str]] = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        django, rest = _split(sys.argv[2:] if args is None else args)
        return argparse.Namespace(
            args=rest,
            settings=django.get("settings"),
            pythonpath=django.get("pythonpath"),
            verbosity=int(django.get("verbosity") or 1),
            traceback=bool(django.get("traceback")),
            no_color=bool(django.get("no_color")),
            force_color=bool(django.get("force_color")),
            skip_checks=bool(django.get("skip_checks")),
        )


def _policy_source() -> str:
    policy = gatepass_settings()["POLICY"]
    if policy is None:
        return "settings.GATEPASS has no POLICY (the default, or $GATEPASS_POLICY)"
    if isinstance(policy, str) and "\n" not in policy:
        return f"settings.GATEPASS['POLICY'] = {policy}"
    if hasattr(policy, "__fspath__"):
        return f"settings.GATEPASS['POLICY'] = {policy}"
    return "settings.GATEPASS['POLICY']"


def make_command(help_text: str, subcommand: Sequence[str]) -> type:
    """A management command running ``gatepass SUBCOMMAND …``."""

    class Command(BaseCommand):
        help = help_text

        def create_parser(self, prog_name: str, subcommand_name: str, **kwargs: Any) -> CommandParser:
            return _PassThrough(prog=f"{prog_name} {subcommand_name}", add_help=False)

        def print_help(self, prog_name: str, subcommand_name: str) -> None:
            sys.stdout.flush()
            _native.cli_main([*subcommand, "--help"])

        def handle(self, *args: str, **options: Any) -> None:
            gate = get_gate()
            # `-` reads the token from stdin, as in the command line.
            stdin = sys.stdin.buffer.read() if "-" in args else None
            code, out, err = _native.cli_run(
                [*subcommand, *args], gate._native, _policy_source(), stdin, actor="manage.py"
            )
            self.stdout.write(out.decode(), ending="")
            text = err.decode()
            if code == 0:
                self.stderr.write(text, ending="")
                return
            errors = [line for line in text.splitlines() if line.startswith("gatepass: error: ")]
            if errors:
                message = errors[-1][len("gatepass: error: ") :]
            elif code == 1:
                message = "verification failed"
            else:  # a usage error: clap's own text says what was wrong
                message = text.strip()
            raise CommandError(message, returncode=code)

    return Command
