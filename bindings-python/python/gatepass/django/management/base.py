"""Management commands are the CLI's subcommands, on the gate from settings."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Optional

from django.core.management.base import BaseCommand, CommandError

from ... import cli
from ...exceptions import GatepassError
from ..conf import get_gate


def make_command(
    help_text: str,
    add: Optional[Callable[[argparse.ArgumentParser], None]],
    run: Callable[..., int],
) -> type:
    class Command(BaseCommand):
        help = help_text

        def add_arguments(self, parser: argparse.ArgumentParser) -> None:
            if add is not None:
                add(parser)
            parser.add_argument("--json", action="store_true", help="machine-readable output")

        def handle(self, *args: Any, **options: Any) -> None:
            ns = argparse.Namespace(**options)
            out = cli.Output(options["json"], self.stdout, self.stderr)
            try:
                code = run(get_gate(), ns, out)
            except GatepassError as e:
                raise CommandError(f"{e.message} ({e.code})", returncode=_exit_code(e)) from None
            if code != cli.EXIT_OK:
                raise CommandError("verification failed", returncode=code)

    return Command


def _exit_code(e: GatepassError) -> int:
    for cls, code in cli._EXIT_BY_CLASS:
        if isinstance(e, cls):
            return code
    return cli.EXIT_INTERNAL
