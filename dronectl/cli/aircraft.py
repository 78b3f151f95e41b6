"""``dronectl aircraft ...``: the unit's aircraft, their autopilots, hours and maintenance."""

from __future__ import annotations

import click

from dronectl.cli._common import emit_json, group, json_option, table
from dronectl.cli.archive import archive_option
from dronectl.register.model import CLASSES


@group()
def aircraft():
    """Aircraft: registration, class, operator number, autopilot identity, hours, maintenance."""


@aircraft.command()
@click.argument("registration")
@click.option("--class", "cls", required=True, type=click.Choice(CLASSES, case_sensitive=False), help="Class mark.")
@click.option("--operator", required=True, help="The operator's registration number (shown on the aircraft).")
@click.option("--autopilot", required=True,
              help="Identity the vehicle reports: uid:HEX (AUTOPILOT_VERSION) or sysid:N (its MAVLink system id).")
@click.option("--model", default="", help="Make and model.")
@click.option("--hours", type=click.FloatRange(min=0), default=0.0, help="Flight hours before it entered the register.")
@click.option("--since-maintenance", type=click.FloatRange(min=0), default=0.0,
              help="Of those hours, how many since its last maintenance.")
@click.option("--maintenance-every", type=click.FloatRange(min=0, min_open=True), default=50.0, show_default=True,
              help="Maintenance interval in flight hours.")
@archive_option
@json_option
def add(registration, cls, operator, autopilot, model, hours, since_maintenance, maintenance_every, archive_path,
        as_json):
    """Register an aircraft."""
    from dronectl.errors import InputError
    from dronectl.register import Aircraft, now_utc, open_register

    if since_maintenance > hours:
        raise InputError(f"--since-maintenance {since_maintenance:g} h is more than its --hours {hours:g} h")
    ac = Aircraft(registration, cls, operator, autopilot, model, hours, maintenance_every, hours - since_maintenance,
                  now_utc())
    with open_register(archive_path) as reg:
        reg.add_aircraft(ac)
    if as_json:
        emit_json(ac.to_dict())
        return
    click.echo(f"aircraft {ac.registration} (class {ac.cls}, autopilot {ac.autopilot}) registered")


@aircraft.command("list")
@archive_option
@json_option
def list_(archive_path, as_json):
    """The aircraft, their hours and hours since maintenance."""
    from dronectl.register import open_register

    with open_register(archive_path, create=False) as reg:
        rows = [(a, reg.aircraft_totals(a)) for a in reg.aircraft()]
    if as_json:
        emit_json([{**a.to_dict(), "totals": t} for a, t in rows])
        return
    table(f"{len(rows)} aircraft", ["registration", "class", "operator", "autopilot", "hours", "since maint.", "every"],
          [[a.registration, a.cls, a.operator, a.autopilot, t["hours"],
            f"{t['hours_since_maintenance']}{' DUE' if t['maintenance_due'] else ''}", a.maintenance_interval_h]
           for a, t in rows])


@aircraft.command()
@click.argument("registration")
@archive_option
@json_option
def maintained(registration, archive_path, as_json):
    """Record that the aircraft was maintained: its hours since maintenance start again from 0."""
    from dronectl.register import open_register

    with open_register(archive_path, create=False) as reg:
        ac = reg.maintained(registration)
    if as_json:
        emit_json(ac.to_dict())
        return
    click.echo(f"aircraft {ac.registration} maintained at {ac.maintained_at_h:.2f} h")
