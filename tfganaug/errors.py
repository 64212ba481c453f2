"""User-facing errors.

Anything the user can fix (a bad key in the YAML, a missing data set, an
unreadable image) is raised as a `UserError`. The CLI prints its message and
exits with status 2 instead of showing a traceback.
"""


class UserError(Exception):
    """An error the user can fix; its message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A bad experiment configuration: the message names the file and key path."""


class DataError(UserError):
    """Data that cannot be found or read: the message names the file or source."""


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the message names it and where the last good checkpoint is."""
