"""The one error family of protogen.

The library raises these with a message meant for the user; the CLI turns them into a single
line on stderr and exit code 2. Anything else escaping is a bug and keeps its traceback.
"""


class ProtogenError(Exception):
    """Base class: a user-facing problem (bad input, bad file, impossible request)."""


class InputError(ProtogenError, ValueError):
    """An argument or data value the user supplied is invalid."""


class FileFormatError(ProtogenError):
    """A file is missing, unreadable, foreign, of the wrong version or fails validation."""


class ResourceError(ProtogenError):
    """A request would exceed memory or another machine limit; refused before allocating."""
