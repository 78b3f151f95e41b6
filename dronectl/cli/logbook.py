"""``dronectl logbook ...``: the flight logbook (list, show, export, import a telemetry log, verify, check a plan)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import click

from dronectl.cli._common import emit_json, group, json_option, kv_table, table
from dronectl.cli.archive import archive_option
from dronectl.cli.options import zones_option
from dronectl.errors import InputError


class When(click.ParamType):
    """A date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM[:SS], UTC unless it says otherwise)."""

    name = "DATE[THH:MM]"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"'{value}' is not a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM)", param, ctx)
        return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


WHEN = When()

filters = [
    click.option("--since", type=WHEN, help="Flights from this date (UTC)."),
    click.option("--pilot", help="Flights of this pilot."),
    click.option("--aircraft", help="Flights of this aircraft (registration)."),
    click.option("--service", help="Flights for this service (police, technical...)."),
    click.option("--simulated", is_flag=True, help="The simulated flights (kept apart) instead of the real ones."),
]


def filter_options(f):
    for opt in reversed(filters):
        f = opt(f)
    return f


@group()
def logbook():
    """The flight logbook: one chained entry per flight, kept three years."""


def _entries(reg, since, pilot, aircraft, service, simulated):
    return reg.entries(since=since, pilot=pilot, aircraft=aircraft, service=service, simulated=simulated)


def _row(e) -> list:
    return [e.seq, e.takeoff_at.strftime("%Y-%m-%d %H:%M"), e.pilot, e.aircraft or "-", e.service or "-",
            f"{e.duration_s / 60:.1f}", f"{e.max_height_m:.0f}", f"{e.distance_m:.0f}", e.photos,
            len(e.events) + len(e.overrides)]


@logbook.command("list")
@filter_options
@archive_option
@json_option
def list_(since, pilot, aircraft, service, simulated, archive_path, as_json):
    """The logbook's entries (real flights; --simulated for the simulated ones)."""
    from dronectl.register import open_register

    with open_register(archive_path, create=False) as reg:
        rows = _entries(reg, since, pilot, aircraft, service, simulated)
    if as_json:
        emit_json([e.to_dict() for e in rows])
        return
    table(f"{len(rows)} flight(s){' (simulated)' if simulated else ''}",
          ["#", "take-off (UTC)", "pilot", "aircraft", "service", "min", "max m", "dist m", "photos", "events"],
          [_row(e) for e in rows])


@logbook.command()
@click.argument("seq", type=int)
@archive_option
@json_option
def show(seq, archive_path, as_json):
    """One entry, every field."""
    from dronectl.register import open_register

    with open_register(archive_path, create=False) as reg:
        e = reg.entry(seq)
    if as_json:
        emit_json(e.to_dict())
        return
    d = e.to_dict()
    d["events"] = "; ".join(d["events"]) or "-"
    d["overrides"] = "; ".join(f"{o['what']}: {o['reason']}" for o in d["overrides"]) or "-"
    kv_table(f"logbook entry {seq}", [(k, "-" if v in (None, "") else v) for k, v in d.items()])


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("; ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in r.items()})
    return buf.getvalue()


@logbook.command()
@filter_options
@click.option("--register", "register_kind", type=click.Choice(["police"]),
              help="The register of police uses: authorisation, place, time, crew, images, deletion, consultations.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default stdout).")
@archive_option
@json_option
def export(since, pilot, aircraft, service, simulated, register_kind, fmt, out, archive_path, as_json):
    """The logbook (or the police register) as CSV, or JSON with --json."""
    import json

    from dronectl.register import open_register, police_register

    with open_register(archive_path, create=False) as reg:
        if register_kind == "police":
            if pilot or aircraft or service or simulated:
                raise InputError("--register police takes only --since")
            rows = [u.to_dict() for u in police_register(reg, since)]
            for r in rows:
                r["consultations"] = [f"{c['at']} {c['actor']} {c['action']} image {c['image_id']}"
                                      for c in r["consultations"]]
        else:
            rows = [e.to_dict() for e in _entries(reg, since, pilot, aircraft, service, simulated)]
            for r in rows:
                r["overrides"] = [f"{o['what']}: {o['reason']}" for o in r["overrides"]]
    if as_json or fmt == "json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    else:
        text = _csv(rows)
    if out is None:
        click.echo(text, nl=False)
        return
    from dronectl.formats import atomic_write

    atomic_write(out, text)
    click.echo(f"{len(rows)} row(s) written to {out}", err=True)


@logbook.command("import")
@click.argument("log_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pilot", required=True, help="Who flew (a registered pilot).")
@click.option("--aircraft", help="Registration; default: the registered aircraft whose autopilot the log names.")
@click.option("--service", default="", help="The service the flight was for.")
@click.option("--purpose", default="", help="What the flight was for.")
@click.option("--mission", default="", help="The mission's id (as its images were ingested with).")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True), help="The plan flown (its checksum is kept).")
@click.option("--authorisation", default="", help="Reference of the authorisation or declaration flown under.")
@click.option("--simulated", is_flag=True, help="A simulator's log: kept apart from the real flights.")
@archive_option
@json_option
def import_(log_file, pilot, aircraft, service, purpose, mission, plan_file, authorisation, simulated, archive_path,
            as_json):
    """Add one entry per flight of a .tlog or dataflash .bin flown with another ground station."""
    from dronectl.register import import_log, open_register

    with open_register(archive_path) as reg:
        entries = import_log(reg, log_file, pilot, aircraft, service=service, purpose=purpose, mission=mission,
                             plan_file=plan_file, authorisation=authorisation, simulated=simulated)
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    for e in entries:
        click.echo(f"entry {e.seq}: {e.takeoff_at:%Y-%m-%d %H:%M} UTC, {e.duration_s / 60:.1f} min, max "
                   f"{e.max_height_m:.0f} m, {e.distance_m:.0f} m flown, aircraft {e.aircraft or '(not registered)'}")


@logbook.command()
@archive_option
@json_option
def verify(archive_path, as_json):
    """Check the integrity chain: any entry edited or deleted since it was written is reported (exit 1)."""
    from dronectl.register import open_register

    with open_register(archive_path, create=False) as reg:
        report = reg.verify()
    if as_json:
        emit_json(report.to_dict())
    else:
        for p in report.problems:
            click.echo(p)
        click.echo(f"{report.entries} entr{'y' if report.entries == 1 else 'ies'}: "
                   f"{'chain intact' if report.ok else f'{len(report.problems)} problem(s)'}")
    if not report.ok:
        raise SystemExit(1)


@logbook.command()
@click.argument("plan_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--pilot", envvar="DRONECTL_PILOT", help="Who will fly (or $DRONECTL_PILOT).")
@click.option("--aircraft", required=True, help="Registration, or the vehicle's autopilot identity (sysid:1, uid:...).")
@click.option("--service", default="", help="The service the flight is for (police needs an authorisation).")
@click.option("--at", "when", type=WHEN, help="When it will fly (default now, UTC).")
@click.option("--duration-min", type=click.FloatRange(min=0), default=0.0, help="How long it will fly.")
@zones_option
@click.option("--force", is_flag=True, help="Go despite the problems (needs --reason).")
@click.option("--reason", help="Why the problems are overridden.")
@archive_option
@json_option
def check(plan_file, pilot, aircraft, service, when, duration_min, zones_file, force, reason, archive_path, as_json):
    """What the register has against flying a plan: competence, aircraft, maintenance, authorisation, declaration.

    Exit 1 (one line) on a problem that refuses the flight, unless --force --reason; warnings are printed."""
    from dronectl.api import read_plan
    from dronectl.register import enforce, flight_gate, open_register

    mission = read_plan(plan_file)
    with open_register(archive_path, create=False) as reg:
        problems = flight_gate(reg, mission, when, service, pilot, aircraft, zones_file, duration_min * 60)
    overrides = enforce(problems, force, reason)
    if as_json:
        emit_json({"problems": [p.to_dict() for p in problems], "overrides": [o.to_dict() for o in overrides]})
        return
    for p in problems:
        click.echo(f"{'overridden' if p.blocking else 'warning'}: {p.message}", err=True)
    click.echo("cleared by the register" + (" (with overrides)" if overrides else ""))
