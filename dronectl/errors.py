"""The project's own exceptions.

Every error a user can cause is a :class:`DronectlError` whose message is one sentence that says
what is wrong and how to fix it. The CLI prints that sentence on one line and exits non-zero.
"""


class DronectlError(Exception):
    """Base class: a user-facing error with a one-line message."""

    exit_code = 2


class InputError(DronectlError):
    """Bad user input: a file, an option value, a name that does not exist."""


class PlanningError(DronectlError):
    """The planner cannot produce a mission with these inputs."""


class CheckFailed(DronectlError):
    """A mission failed its preflight checks."""

    exit_code = 1


class MissionRejected(DronectlError):
    """The autopilot refused a mission transfer."""

    exit_code = 3


class LinkError(DronectlError):
    """The MAVLink link could not be opened, timed out or was lost."""

    exit_code = 4


class ArchiveError(DronectlError):
    """An archive operation failed (catalogue, blob store, access)."""
