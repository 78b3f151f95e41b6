"""``dronectl authorisations ...`` (prefect's authorisations, flight declarations) and ``dronectl declare``."""

from __future__ import annotations


import click

from dronectl.cli._common import emit_json, group, json_option, kv_table, table
from dronectl.cli.archive import archive_option
from dronectl.cli.logbook import WHEN
from dronectl.cli.options import zones_option
from dronectl.errors import InputError


@group()
def authorisations():
    """Authorisations (police purposes) and declarations (populated areas) the unit flies under."""


@authorisations.command()
@click.argument("reference")
@click.option("--kind", type=click.Choice(["authorisation", "declaration"]), default="authorisation",
              show_default=True)
@click.option("--authority", required=True, help="Who issued it (e.g. 'Préfecture de l'Aisne').")
@click.option("--purpose", required=True, help="The purpose it names.")
@click.option("--polygon", "polygon_file", type=click.Path(dir_okay=False), help="Perimeter: a polygon file.")
@click.option("--zone", help="Perimeter: a zone of the zone file.")
@zones_option
@click.option("--from", "valid_from", type=WHEN, required=True, help="Start of its time window (UTC).")
@click.option("--until", "valid_until", type=WHEN, required=True, help="End of its time window (UTC).")
@click.option("--max-height", "max_height_m", type=float, required=True, help="Maximum height (m above take-off).")
@click.option("--service", default="police", show_default=True, help="The service it is for.")
@click.option("--filed-on", type=WHEN, help="Declarations: the day it was filed with the prefect.")
@archive_option
@json_option
def add(reference, kind, authority, purpose, polygon_file, zone, zones_file, valid_from, valid_until, max_height_m,
        service, filed_on, archive_path, as_json):
    """Record an authorisation or a declaration as issued/filed."""
    from dronectl.register import Authorisation, load_perimeter, now_utc, open_register

    perimeter, place = load_perimeter(polygon_file, zone, zones_file)
    if kind == "declaration" and filed_on is None:
        raise InputError("a declaration needs --filed-on DATE: the day it was filed")
    auth = Authorisation(reference, kind, authority, purpose, perimeter, place, valid_from, valid_until, max_height_m,
                         service, filed_on.date() if filed_on else None, now_utc())
    with open_register(archive_path) as reg:
        reg.add_authorisation(auth)
    if as_json:
        emit_json(auth.to_dict())
        return
    click.echo(f"{kind} {auth.reference} recorded: {place}, {auth.valid_from:%Y-%m-%d %H:%M} to "
               f"{auth.valid_until:%Y-%m-%d %H:%M} UTC, up to {auth.max_height_m:g} m")


@authorisations.command("list")
@archive_option
@json_option
def list_(archive_path, as_json):
    """The authorisations and declarations."""
    from dronectl.register import open_register

    with open_register(archive_path, create=False) as reg:
        rows = reg.authorisations()
    if as_json:
        emit_json([a.to_dict() for a in rows])
        return
    table(f"{len(rows)} authorisation(s) and declaration(s)",
          ["reference", "kind", "service", "place", "from (UTC)", "until (UTC)", "max m", "purpose"],
          [[a.reference, a.kind, a.service, a.place, f"{a.valid_from:%Y-%m-%d %H:%M}", f"{a.valid_until:%Y-%m-%d %H:%M}",
            f"{a.max_height_m:g}", a.purpose] for a in rows])


@click.command()
@click.argument("zone")
@click.option("--date", "day", type=WHEN, required=True, help="Day of the flight.")
@click.option("--from", "start", default="09:00", show_default=True, help="Start time (HH:MM).")
@click.option("--until", "end", default="12:00", show_default=True, help="End time (HH:MM).")
@click.option("--pilot", envvar="DRONECTL_PILOT", help="Who will fly.")
@click.option("--aircraft", help="Which aircraft (registration).")
@click.option("--max-height", "height_m", type=click.FloatRange(min=0, min_open=True), help="Maximum height (m).")
@zones_option
@archive_option
@json_option
def declare(zone, day, start, end, pilot, aircraft, height_m, zones_file, archive_path, as_json):
    """Print the fields a flight declaration asks for (operator, pilot, aircraft, place, height, times), to file
    with the prefect at least 10 days before; record it afterwards with `authorisations add --kind declaration`."""
    from dronectl.register import declaration, open_register

    if pilot or aircraft:  # their details come from the register
        with open_register(archive_path, create=False) as reg:
            d = declaration(reg, zone, day.date(), pilot, aircraft, height_m, start, end, zones_file)
    else:
        d = declaration(None, zone, day.date(), None, None, height_m, start, end, zones_file)
    if as_json:
        emit_json(d)
        return
    kv_table(f"declaration for {d['place']} on {d['date']} (file by {d['file_by']})",
             [(k, ", ".join(map(str, v)) if isinstance(v, list) else ("-" if v is None else v)) for k, v in d.items()])
