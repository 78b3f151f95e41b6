"""The unit's flight log: one JSON line per flight, failed flight and overridden preflight check.

It lives in ``$DRONECTL_FLIGHT_LOG``, else ``$XDG_STATE_HOME/dronectl/flight-log.jsonl`` (by default
``~/.local/state/dronectl/flight-log.jsonl``), and is only ever appended to.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from dronectl.errors import CheckFailed, InputError


def flight_log_path() -> Path:
    env = os.environ.get("DRONECTL_FLIGHT_LOG")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "dronectl" / "flight-log.jsonl"


def log_event(event: dict) -> Path:
    """Append one line (the time, then ``event``); OSError when the log cannot be written."""
    path = flight_log_path()
    entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **event}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, default=str, allow_nan=False) + "\n")
    return path


def preflight_gate(violations: list[str], plan_file: str | os.PathLike = "the plan", force: bool = False,
                   reason: str | None = None, command: str = "", conn: str = "") -> list[str]:
    """The gate before a plan goes to a vehicle, given the plan's ``violations`` (the messages of
    :func:`dronectl.api.check_plan_file`, checked once by the caller): CheckFailed when there are any, unless
    ``force`` with a ``reason``; an override is written to the flight log first (refused when it cannot be).
    Returns the violations overridden (empty for a plan that passes)."""
    if force and not (reason or "").strip():
        raise InputError("--force needs --reason TEXT: the reason goes into the flight log")
    violations = list(violations)
    if violations and not force:
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise CheckFailed(f"{plan_file} fails its preflight checks: {violations[0]}{more}; fix the plan "
                          "(see `dronectl plan check`), or override with --force --reason TEXT", details=violations)
    if violations:
        try:
            log_event({"event": "checks overridden", "command": command, "plan": str(plan_file),
                       "connect": conn, "reason": reason, "violations": violations})
        except OSError as exc:
            raise CheckFailed(f"{plan_file} fails its preflight checks and the override cannot be logged "
                              f"({flight_log_path()}: {exc.strerror}); fix the flight log's folder or set "
                              "DRONECTL_FLIGHT_LOG") from None
    return violations


def vehicle_override(force: bool = False, reason: str | None = None, command: str = "", plan_file="",
                     conn: str = ""):
    """The ``override`` of :func:`dronectl.mavlink.vehicle_state.check` for ``--force --reason``: without
    ``force`` the vehicle-state problems refuse (VehicleNotReady, exit 5); with it they are written to the flight
    log first (refused when they cannot be)."""
    from dronectl.mavlink.vehicle_state import VehicleNotReady, refusal

    if force and not (reason or "").strip():
        raise InputError("--force needs --reason TEXT: the reason goes into the flight log")

    def override(problems: list[str]) -> None:
        if not force:
            raise refusal(problems)
        try:
            log_event({"event": "vehicle checks overridden", "command": command, "plan": str(plan_file),
                       "connect": conn, "reason": reason, "problems": problems})
        except OSError as exc:
            raise VehicleNotReady(f"not going: {problems[0]}; the override cannot be logged ({flight_log_path()}: "
                                  f"{exc.strerror}); fix the flight log's folder or set DRONECTL_FLIGHT_LOG") from None

    return override
