"""The one kind of user error, and the one way every command reports it.

A mistake in what the user gave (a flag, a file, a folder) raises a subclass of
`UserError` whose message says what is wrong and where (file, sketch index,
key). A command's `main` lets it rise to `report`, which prints one
`error: ...` line per message line on stderr and exits with status 1, or 2
for a `UsageError` (bad command line). Anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable, NoReturn, TypeVar

T = TypeVar("T")


class UserError(Exception):
    """A mistake in the user's input; the message names the file or flag and what is wrong."""


class UsageError(UserError):
    """A command line that cannot be run (missing, extra or malformed arguments)."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an error's message (its type's name when empty), at most `limit` characters."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:limit]


def error_lines(err: BaseException) -> str:
    """`error: ...`, one line per line of the message (validation reports every bad value)."""
    return "\n".join(f"error: {line}" for line in str(err).splitlines() or [type(err).__name__])


def report(err: UserError) -> NoReturn:
    """Print the error on stderr and exit: 2 for a bad command line, 1 for any other user error."""
    print(error_lines(err), file=sys.stderr, flush=True)
    sys.exit(2 if isinstance(err, UsageError) else 1)


def guarded(main: Callable[..., T]) -> Callable[..., T]:
    """`main` with every UserError turned into `report` (the CLI convention of every command)."""
    @functools.wraps(main)
    def run(*args, **kwargs) -> T:
        try:
            return main(*args, **kwargs)
        except UserError as err:
            report(err)
    return run
