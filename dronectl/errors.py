"""The project's own exceptions.

Every error a user can cause is a :class:`DronectlError` whose message is one sentence that says
what is wrong and how to fix it. The CLI prints that sentence on one line and exits with the code of
its class. The exit codes every command uses (README, "Exit codes"):

====  ==========================================================================
0     success
1     preflight checks failed (``plan check``, ``archive verify``), or nothing was done
2     bad input or usage: an option, a file's content, a name that does not exist
3     input/output: a file or folder that cannot be read or written
4     link: the MAVLink connection could not be opened, timed out or was lost
5     the vehicle refused: a mission transfer, a mode, arming, take-off
130   interrupted (Ctrl-C)
====  ==========================================================================
"""

EXIT_OK, EXIT_CHECKS, EXIT_INPUT, EXIT_IO, EXIT_LINK, EXIT_VEHICLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130


class DronectlError(Exception):
    """Base class: a user-facing error with a one-line message.

    ``details``: every item a refusal summarises ("... (and 3 more)"); the CLI prints them under the line on
    stderr and as ``"details"`` in the ``--json`` error object."""

    exit_code = EXIT_INPUT

    def __init__(self, *args, details=()):
        super().__init__(*args)
        self.details = tuple(str(d) for d in details)


class InputError(DronectlError):
    """Bad user input: a file, an option value, a name that does not exist."""


class PlanningError(DronectlError):
    """The planner cannot produce a mission with these inputs."""


class CheckFailed(DronectlError):
    """A mission failed its preflight checks."""

    exit_code = EXIT_CHECKS


class OutputError(DronectlError):
    """A file or folder that cannot be read or written (permissions, a file where a folder should be, a full disk)."""

    exit_code = EXIT_IO


class MissionRejected(DronectlError):
    """The autopilot refused a mission transfer."""

    exit_code = EXIT_VEHICLE


class LinkError(DronectlError):
    """The MAVLink link could not be opened, timed out or was lost."""

    exit_code = EXIT_LINK


class ArchiveError(DronectlError):
    """An archive operation failed (catalogue, blob store, access)."""
