"""Argument parsing that answers a user's mistake with one line.

Every user mistake raises ``UsageError``; ``purejaxrl.cli.main`` prints it as one
``error: ...`` line on stderr and exits with status 2 (argparse would print its usage
block first).
"""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """A user mistake on the command line: ``main`` prints ``error: <message>`` and exits 2."""


class Parser(argparse.ArgumentParser):
    """An ``argparse`` parser whose mistakes raise ``UsageError`` (one line, no usage block)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def one_line(message: object) -> str:
    """``message`` with its whitespace (newlines included) collapsed: an error is one line."""
    return " ".join(str(message).split())
