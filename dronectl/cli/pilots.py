"""``dronectl pilots ...``: the remote pilots, their competences and totals."""

from __future__ import annotations

import click

from dronectl.cli._common import emit_json, group, json_option, table
from dronectl.cli.archive import archive_option


@group()
def pilots():
    """Remote pilots: competences (A1/A3, A2, STS), certificates, expiry dates, hours."""


@pilots.command()
@click.argument("name")
@click.option("--competence", "competences", nargs=3, multiple=True, required=True,
              metavar="KIND CERTIFICATE EXPIRY",
              help="A1/A3, A2 or STS, the certificate number, its expiry date (YYYY-MM-DD). Repeat for each.")
@archive_option
@json_option
def add(name, competences, archive_path, as_json):
    """Register a pilot (an expiry date already past is refused)."""
    from dronectl.register import new_pilot, now_utc, open_register

    pilot = new_pilot(name, competences, now_utc())  # checked before the register is opened: nothing created
    with open_register(archive_path) as reg:
        reg.add_pilot(pilot)
    if as_json:
        emit_json(pilot.to_dict())
        return
    click.echo(f"pilot {pilot.name} registered: " + ", ".join(f"{c.kind} {c.certificate} until {c.expires}"
                                                              for c in pilot.competences))


@pilots.command("list")
@archive_option
@json_option
def list_(archive_path, as_json):
    """The pilots, their competences, hours and recency (flights in the last 90 days)."""
    from dronectl.register import now_utc, open_register

    today = now_utc().date()
    with open_register(archive_path, create=False) as reg:
        rows = [(p, reg.pilot_totals(p.name)) for p in reg.pilots()]
    if as_json:
        emit_json([{**p.to_dict(), "totals": t} for p, t in rows])
        return
    table(f"{len(rows)} pilot(s)", ["name", "competences", "hours", "flights 90 d", "hours 90 d", "last flight"],
          [[p.name, ", ".join(f"{c.kind} {c.certificate} {c.expires}{'' if c.valid_on(today) else ' EXPIRED'}"
                              for c in p.competences), t["hours"], t["flights_90d"], t["hours_90d"],
            (t["last_flight"] or "-")[:10]] for p, t in rows])
