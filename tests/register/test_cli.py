"""The register through the console script: each refusal and its override, bad input in one line with nothing
changed, the integrity chain catching an edited and a deleted entry, the register of police uses."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from shapely.geometry import box, mapping

from dronectl.formats import plan as planfmt

from .conftest import HOME, mission, one_line_error

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SOON = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
AREA = box(HOME[1] - 0.003, HOME[0] - 0.003, HOME[1] + 0.003, HOME[0] + 0.003)  # around the missions


def _polygon_file(tmp_path, geom, name="perimeter.geojson", **props):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "quartier", **props}, "geometry": mapping(geom)}]}))
    return path


@pytest.fixture
def unit(run, tmp_path):
    """A register with a pilot (A2 valid), an aircraft, and plans: inside the authorisation, too high, outside."""
    assert run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01").returncode == 0
    assert run("aircraft", "add", "F-DRNE", "--class", "C2", "--operator", "FRA-OP-0042", "--autopilot", "sysid:1",
               "--maintenance-every", "20", "--hours", "9", "--since-maintenance", "5").returncode == 0
    plans = {}
    for name, m in (("ok", mission(35.0)), ("high", mission(90.0)), ("far", mission(35.0, north_deg=0.01))):
        plans[name] = tmp_path / f"{name}.plan"
        planfmt.write(m, plans[name])
    return plans


def _check(run, plan, *extra, service="technical", pilot="dupont", aircraft="sysid:1"):
    return run("logbook", "check", plan, "--pilot", pilot, "--aircraft", aircraft, "--service", service,
               "--at", SOON, *extra)


def test_a_plan_the_register_clears(run, unit):
    p = _check(run, unit["ok"])
    assert p.returncode == 0, p.stderr
    assert "cleared by the register" in p.stdout


@pytest.mark.parametrize("args, words", [
    ({"pilot": "nobody"}, "pilot 'nobody' is not in the register"),
    ({"aircraft": "F-NOPE"}, "aircraft 'F-NOPE' is not in the register"),
    ({"aircraft": "sysid:7"}, "aircraft 'sysid:7' is not in the register"),  # the connected vehicle's identity
])
def test_unknown_pilot_or_aircraft_refused_and_overridden(run, unit, args, words):
    line = one_line_error(_check(run, unit["ok"], **args))
    assert words in line and "--force --reason" in line
    assert _check(run, unit["ok"], "--force", **args).returncode == 2  # --force needs a reason
    p = _check(run, unit["ok"], "--force", "--reason", "vol d'essai après réparation", "--json", **args)
    assert p.returncode == 0, p.stderr
    (o,) = json.loads(p.stdout)["overrides"]
    assert o["reason"] == "vol d'essai après réparation"


def test_expired_competence_refused(run, unit):
    later = (NOW + timedelta(days=365 * 5)).strftime("%Y-%m-%dT%H:%M")  # after the certificate's expiry
    line = one_line_error(run("logbook", "check", unit["ok"], "--pilot", "dupont", "--aircraft", "F-DRNE",
                              "--at", later))
    assert "competence expired" in line and "FRA-A2-77" in line


def test_a_class_the_competence_does_not_cover_is_refused(run, unit):
    assert run("pilots", "add", "martin", "--competence", "A1/A3", "FRA-1", "2030-01-01").returncode == 0
    line = one_line_error(_check(run, unit["ok"], pilot="martin"))
    assert "no valid A2 or STS competence" in line and "class C2" in line


def test_overdue_maintenance_refused_until_maintained(run, unit, flown_entries):
    flown_entries(run.archive, hours=16)  # 5 h before + 16 h flown > every 20 h
    line = one_line_error(_check(run, unit["ok"]))
    assert "due for maintenance" in line and "21.0 h" in line
    assert run("aircraft", "maintained", "F-DRNE").returncode == 0
    assert _check(run, unit["ok"]).returncode == 0
    (ac,) = json.loads(run("aircraft", "list", "--json").stdout)
    assert ac["totals"]["hours"] == pytest.approx(25.0) and ac["totals"]["hours_since_maintenance"] == 0


def test_police_mission_only_inside_a_valid_authorisation(run, unit, tmp_path):
    line = one_line_error(_check(run, unit["ok"], service="police"))
    assert "holds none" in line
    perimeter = _polygon_file(tmp_path, AREA)
    p = run("authorisations", "add", "AP-02-2026-117", "--authority", "Préfecture de l'Aisne", "--purpose",
            "sécurisation du marché de Noël", "--polygon", perimeter, "--from", (NOW - timedelta(days=1)).isoformat(),
            "--until", (NOW + timedelta(days=5)).isoformat(), "--max-height", "60")
    assert p.returncode == 0, p.stderr
    assert _check(run, unit["ok"], service="police").returncode == 0
    assert "climbs to 90 m, above the 60 m" in one_line_error(_check(run, unit["high"], service="police"))
    assert "outside the perimeter" in one_line_error(_check(run, unit["far"], service="police"))
    late = (NOW + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    assert "not at the time of the flight" in one_line_error(
        run("logbook", "check", unit["ok"], "--pilot", "dupont", "--aircraft", "F-DRNE", "--service", "police",
            "--at", late))
    assert _check(run, unit["ok"]).returncode == 0  # a technical flight needs none


def test_populated_zone_warns_without_a_declaration_filed_ten_days_before(run, unit, tmp_path):
    zones = _polygon_file(tmp_path, AREA, "zones.geojson", populated=True)
    p = _check(run, unit["ok"], "--zones", zones)
    assert p.returncode == 0  # a warning, not a refusal
    assert "populated zone 'quartier'" in p.stderr and "10 days" in p.stderr
    day = (NOW + timedelta(days=2)).date()
    p = run("declare", "quartier", "--zones", zones, "--date", day.isoformat(), "--pilot", "dupont",
            "--aircraft", "F-DRNE", "--max-height", "50", "--json")
    d = json.loads(p.stdout)
    assert d["operator"] == "FRA-OP-0042" and d["file_by"] == (day - timedelta(days=10)).isoformat()
    assert d["pilot"] == "dupont" and d["aircraft"].startswith("F-DRNE class C2") and d["max_height_m"] == 50
    common = ["--kind", "declaration", "--authority", "Préfecture", "--purpose", "suivi de chantier", "--zone",
              "quartier", "--zones", zones, "--from", NOW.isoformat(), "--until", (NOW + timedelta(days=5)).isoformat(),
              "--max-height", "50"]
    assert run("authorisations", "add", "DECL-LATE", *common, "--filed-on", NOW.date().isoformat()).returncode == 0
    assert "populated zone" in _check(run, unit["ok"], "--zones", zones).stderr  # filed too late
    early = (NOW - timedelta(days=12)).date().isoformat()
    assert run("authorisations", "add", "DECL-1", *common, "--filed-on", early).returncode == 0
    p = _check(run, unit["ok"], "--zones", zones)
    assert p.returncode == 0 and "populated" not in p.stderr


def _state(run):
    return [run(*cmd, "--json").stdout for cmd in (("pilots", "list"), ("aircraft", "list"),
                                                  ("authorisations", "list"), ("logbook", "list"))]


def test_bad_input_is_one_line_and_changes_nothing(run, unit, tmp_path):
    before = _state(run)
    line = one_line_error(run("pilots", "add", "leroy", "--competence", "STS", "FRA-S-1", "2020-03-01"))
    assert "expired on 2020-03-01" in line
    line = one_line_error(run("pilots", "add", "leroy", "--competence", "A2", "X", "31/12/2030"))
    assert "not a date" in line
    point = tmp_path / "point.geojson"
    point.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [3.32, 49.38]}}]}))
    common = ["--authority", "Préfecture", "--purpose", "x", "--from", NOW.isoformat(), "--until",
              (NOW + timedelta(days=1)).isoformat(), "--max-height", "50"]
    assert "not a polygon" in one_line_error(run("authorisations", "add", "AP-9", "--polygon", point, *common))
    assert "not valid JSON" in one_line_error(run("authorisations", "add", "AP-9", "--polygon",
                                                  _bad(tmp_path), *common))
    assert "one of them" in one_line_error(run("authorisations", "add", "AP-9", *common))
    assert "already in the register" in one_line_error(
        run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01"))
    assert _state(run) == before


def test_a_refusal_or_a_question_on_a_new_folder_creates_no_archive(run):
    one_line_error(run("pilots", "add", "leroy", "--competence", "STS", "FRA-S-1", "2020-03-01"))
    assert "no archive in" in one_line_error(run("logbook", "list"))
    assert "no archive in" in one_line_error(run("logbook", "verify"))
    p = run("declare", "centre-ville", "--date", "2026-12-20", "--json")  # the fields, without the register's part
    assert p.returncode == 0 and json.loads(p.stdout)["place"] == "centre-ville"
    assert not run.archive.exists()


def _bad(tmp_path):
    p = tmp_path / "bad.geojson"
    p.write_text("{not json")
    return p


# --- the logbook's integrity ----------------------------------------------------------------------------
@pytest.fixture
def flown_entries():
    """``flown_entries(archive, n=3, hours=...)``: real flights appended through the Python API."""
    from dronectl.register import open_register, record_flight
    from dronectl.register.telemetry import FlightFacts

    def add(archive, n=3, hours=0.5, service="technical", mission_id="", pilot="dupont"):
        out = []
        with open_register(archive) as reg:
            for k in range(n):
                t0 = NOW - timedelta(days=n - k)
                facts = FlightFacts(t0, t0 + timedelta(hours=hours / n), hours / n * 3600, HOME[0], HOME[1], HOME[0],
                                    HOME[1], 40.0 + k, 800.0 + k, 100.0, 60.0, 12, ("Failsafe: battery low",),
                                    "sysid:1", "4.5.7")
                out.append(record_flight(reg, facts, pilot, service=service, mission=mission_id,
                                         purpose="contrôle", authorisation="AP-1" if service == "police" else ""))
        return out

    return add


def test_verify_finds_an_edited_and_a_deleted_entry(run, unit, flown_entries):
    flown_entries(run.archive, n=4)
    p = run("logbook", "verify")
    assert p.returncode == 0 and "4 entries: chain intact" in p.stdout
    db = sqlite3.connect(run.archive / "catalogue.sqlite")
    body = json.loads(db.execute("SELECT body FROM register_logbook WHERE seq = 2").fetchone()[0])
    body["max_height_m"] = 119.0  # someone lowers... or raises a figure after the fact
    db.execute("UPDATE register_logbook SET body = ? WHERE seq = 2",
               (json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False),))
    db.commit()
    p = run("logbook", "verify", "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout)["problems"] == ["entry 2: edited after it was written (its hash does not match its "
                                                "content)"]
    db.execute("DELETE FROM register_logbook WHERE seq = 3")
    db.commit()
    p = run("logbook", "verify")
    assert p.returncode == 1
    assert "entry 2: edited" in p.stdout and "entry 3 deleted" in p.stdout
    db.execute("DELETE FROM register_logbook WHERE seq = 4")  # the last one too: the head still knows it
    db.commit()
    assert "entry 3 to 4 deleted" in run("logbook", "verify").stdout
    db.close()


def test_list_show_export_filters(run, unit, flown_entries):
    flown_entries(run.archive, n=2)
    flown_entries(run.archive, n=1, service="police")
    rows = json.loads(run("logbook", "list", "--service", "police", "--json").stdout)
    assert [r["seq"] for r in rows] == [3]
    assert json.loads(run("logbook", "list", "--pilot", "nobody", "--json").stdout) == []
    since = (NOW - timedelta(days=1, minutes=1)).strftime("%Y-%m-%dT%H:%M")
    assert [r["seq"] for r in json.loads(run("logbook", "list", "--since", since, "--json").stdout)] == [2, 3]
    table = list(csv.DictReader(io.StringIO(run("logbook", "export", "--aircraft", "F-DRNE").stdout)))
    assert [r["seq"] for r in table] == ["1", "2", "3"]
    assert table[0]["events"] == "Failsafe: battery low" and table[0]["pilot"] == "dupont"
    e = json.loads(run("logbook", "show", "2", "--json").stdout)
    assert e["distance_m"] == 801.0 and e["battery_end_pct"] == 60.0 and e["firmware"] == "4.5.7"
    assert "no logbook entry 9" in one_line_error(run("logbook", "show", "9"))


def test_police_register_lists_images_deletion_and_consultations(run, unit, flown_entries, tmp_path):
    from dronectl.archive import open_archive
    from tests.archive.conftest import random_records

    perimeter = _polygon_file(tmp_path, AREA)
    assert run("authorisations", "add", "AP-1", "--authority", "Préfecture de l'Aisne", "--purpose",
               "marché de Noël", "--polygon", perimeter, "--from", (NOW - timedelta(days=10)).isoformat(),
               "--until", (NOW + timedelta(days=5)).isoformat(), "--max-height", "60").returncode == 0
    flown_entries(run.archive, n=1, service="police", mission_id="op-noel")
    recs = random_records(3, seed=3, services=("police",))
    with open_archive(run.archive) as a:
        for r in recs:
            r.mission = "op-noel"
        a.catalog.add_many(recs)
        stored = a.search("police", mission="op-noel", actor="setup")
        ids = [r.id for r in stored]
        a.hold(ids[0], "PV 2026-118", actor="police")
        a.show("police", ids[1], actor="paula")  # what the web map records when a user opens an image
    p = run("logbook", "export", "--register", "police", "--json")
    assert p.returncode == 0, p.stderr
    (use,) = json.loads(p.stdout)
    assert use["authorisation"] == "AP-1" and use["authority"] == "Préfecture de l'Aisne"
    assert use["place"] == "perimeter.geojson" and use["pilot"] == "dupont" and use["images"] == 3
    assert use["deletion"][0] == "held: PV 2026-118"
    assert use["deletion"][1:] == [(r.captured_at + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
                                   for r in stored[1:]]  # police retention: 7 days after capture
    assert any("paula show image" in c for c in use["consultations"])
    assert not any("register" in c.split()[1] for c in use["consultations"])  # the export itself is not one
    text = run("logbook", "export", "--register", "police").stdout
    assert "AP-1" in text.splitlines()[1] and "paula" in text
