"""The exceptions the lab raises for a user-facing problem: their message is the whole story."""


class LabError(Exception):
    """A lab problem the user can act on; the CLI prints it as one line, without a traceback."""


class LabUsageError(LabError):
    """A lab the options ask for that the lab does not run (`--domains 9`): a usage error, exit code 2 like argparse's."""
