"""The ``gatepass`` command line: a shim over the one written in Rust.

The command line lives in the native module (crate ``gatepass-cli``), so
``gatepass …`` after ``pip install`` and ``npx gatepass …`` after ``npm
install`` are the same program: same commands, tables, ``--json`` output and
exit codes. Run ``gatepass --help``, or see docs/cli.md.

Exit codes: 0 success; 1 the credential or webhook did not verify; 2 usage
error; 3 no such key; 4 invalid argument, configuration or key state;
5 store unavailable or unreadable; 70 internal error.
"""

from __future__ import annotations

import signal
import sys
from typing import Optional, Sequence

from . import _native

__all__ = [
    "main",
    "entrypoint",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "EXIT_NOT_FOUND",
    "EXIT_INVALID",
    "EXIT_STORE",
    "EXIT_INTERNAL",
]

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INVALID = 4
EXIT_STORE = 5
EXIT_INTERNAL = 70


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``gatepass`` with ``argv`` (default ``sys.argv[1:]``) on this
    process's standard streams and returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # The native code writes to the file descriptors directly: whatever
    # Python buffered must go out first, in order.
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.cli_main(args)


def entrypoint() -> None:  # pragma: no cover - console script
    # Python's own SIGINT handler only runs between bytecodes, which a
    # long native command (``gatepass console``) never returns to: let
    # Ctrl-C end the process as it ends any other command line tool.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entrypoint()
