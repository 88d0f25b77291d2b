"""The one exception type users see: a one-line reason, printed by the CLI, exit non-zero."""


class OdahgenError(Exception):
    """A user-facing error. ``str(err)`` is one line that names the file and the problem."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # force a single line


class ConfigError(OdahgenError):
    """A configuration file or override is invalid."""

    exit_code = 2
