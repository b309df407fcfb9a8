"""What the user did wrong, as opposed to a bug.

``Refused`` is the base of every exception that means "this input or request cannot be
done; the message says why and what is allowed". The command line prints one line and
exits 2 for it, the pages show the message; anything else is a bug (exit 1).
"""

from __future__ import annotations


class Refused(Exception):
    """The request cannot be done as asked; the message names the bad value and what is allowed."""


class StoreError(Refused):
    """The store cannot do what was asked; the message says why."""


class BadValue(Refused, ValueError):
    """A value the user gave (an option, a date, a path) is malformed or out of range."""
