"""The one exception the lab raises for a user-facing problem: its message is the whole story."""


class LabError(Exception):
    """A lab problem the user can act on; the CLI prints it as one line, without a traceback."""
