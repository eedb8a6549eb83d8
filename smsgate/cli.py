"""The ``smsgate`` command. Its commands live in :mod:`smsgate._cli`, which needs the ``cli``
extra (click and rich); without it, this entry point says how to install it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

INSTALL_HINT = (
    "smsgate's command line needs its 'cli' extra (click and rich):\n"
    "    pip install 'smsgate[cli]'\n"
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; exit codes: 0 success, 1 provider error, 2 usage or validation."""
    if any(importlib.util.find_spec(name) is None for name in ("click", "rich")):
        sys.stderr.write(INSTALL_HINT)
        raise SystemExit(2)
    from ._cli import cli

    cli.main(args=list(argv) if argv is not None else None, prog_name="smsgate")


if __name__ == "__main__":  # pragma: no cover
    main()
