"""Argument parsing that answers a user's mistake with one line.

argparse prints its usage block before the error; here a mistake is one
``error: ...`` line on stderr (with a pointer to ``--help``) and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line: ``error: PROG: MESSAGE (see PROG --help)``."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def fail(message: str) -> int:
    """Print ``error: MESSAGE`` (one line) on stderr; the exit status of a user's mistake, 2."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr)
    return 2
