"""The one exception type for mistakes a user can fix (bad recipe, bad data, missing package).

The CLI prints these as a short message and exits with code 2; anything else is our bug and
keeps its traceback.
"""

from __future__ import annotations

__all__ = ["AfinarError", "where"]


class AfinarError(Exception):
    """A user-facing error: the message says what is wrong, where, and what would be accepted."""


def where(path: object, line: int | None = None, field: str | None = None) -> str:
    """Format a location as ``file:line: field`` for error messages (parts may be omitted)."""
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if field:
        loc += f": field '{field}'"
    return loc
