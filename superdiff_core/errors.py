"""Errors that reach the user as one clear line (exit status 2 in the CLI, st.error in the app)."""


class SuperDiffError(Exception):
    """Base class: the message is meant for the user, one line, no traceback."""


class InputError(SuperDiffError, ValueError):
    """A bad argument or input file: unknown class, out-of-range value, unreadable file."""


class CheckpointError(SuperDiffError):
    """A model artifact that is missing or corrupt; the message names the file and the
    command that rebuilds it."""
