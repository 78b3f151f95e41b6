"""``logbook import`` of an ArduPilot dataflash ``.bin``: a log written here in the dataflash format (FMT records,
then GPS, POS, EV, BAT, MSG, CAM, VER records as ArduPilot writes them) reads back as the flight it describes."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from .conftest import HOME, one_line_error

FORMATS = {  # name: (type, format, columns)
    "GPS": (130, "QBIHBLLf", "TimeUS,Status,GMS,GWk,NSats,Lat,Lng,Alt"),
    "POS": (131, "QLLff", "TimeUS,Lat,Lng,Alt,RelHomeAlt"),
    "EV": (132, "QB", "TimeUS,Id"),
    "BAT": (133, "QfB", "TimeUS,Volt,RemPct"),
    "MSG": (134, "QZ", "TimeUS,Message"),
    "CAM": (135, "QHLLf", "TimeUS,Img,Lat,Lng,Alt"),
    "VER": (136, "QZ", "TimeUS,FWS"),
}
START = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
GPS_EPOCH = datetime(1980, 1, 6, tzinfo=timezone.utc)
LEAP_S = 18


def _struct(fmt: str) -> str:
    from pymavlink.DFReader import FORMAT_TO_STRUCT

    return "<" + "".join(FORMAT_TO_STRUCT[c][0] for c in fmt)


def _msg(name, *values) -> bytes:
    mtype, fmt, _ = FORMATS[name]
    values = [v.encode() if isinstance(v, str) else v for v in values]
    return struct.pack("BBB", 0xA3, 0x95, mtype) + struct.pack(_struct(fmt), *values)


def write_dataflash(path, north_m=100.0, height_m=30.0, photos=5):
    """A flight: armed at 10 s, climbs, goes ``north_m`` (up to 160) north and back at ``height_m``, disarms at
    150 s."""
    out = b""
    for name, (mtype, fmt, cols) in FORMATS.items():
        body = struct.pack("<BB4s16s64s", mtype, struct.calcsize(_struct(fmt)) + 3, name.encode(), fmt.encode(),
                           cols.encode())
        out += struct.pack("BBB", 0xA3, 0x95, 0x80) + body
    out += _msg("VER", 1_000_000, "ArduCopter V4.5.7 (2a3dc4b7)")
    gps_s = (START - GPS_EPOCH).total_seconds() + LEAP_S
    lat0, lon0 = HOME[0], HOME[1]
    deg_per_m = 1 / 111_195.0
    for k in range(0, 161):  # one record set per second
        t_us = 1_000_000 + k * 1_000_000
        g = gps_s + k
        if 10 <= k <= 150:
            phase = k - 10
            h = min(height_m, phase * 3.0, (140 - phase) * 3.0)
            along = 0.0 if phase < 10 else (min(north_m, (phase - 10) * 2.5) if phase < 75 else
                                            max(0.0, north_m - (phase - 75) * 2.5))
        else:
            h, along = 0.0, 0.0
        lat = lat0 + along * deg_per_m
        out += _msg("GPS", t_us, 3, int((g % 604800) * 1000), int(g // 604800), 12, int(lat * 1e7), int(lon0 * 1e7),
                    HOME[2] + h)
        out += _msg("POS", t_us, int(lat * 1e7), int(lon0 * 1e7), HOME[2] + h, h)
        out += _msg("BAT", t_us, 16.0, 100 - max(0, min(k, 150) - 10) // 7)
        if k == 10:
            out += _msg("EV", t_us, 10)  # armed
        if k == 150:
            out += _msg("EV", t_us, 11)  # disarmed
        if k == 60:
            out += _msg("MSG", t_us, "Failsafe: battery low, RTL")
        if 40 <= k < 40 + photos:
            out += _msg("CAM", t_us, k - 39, int(lat * 1e7), int(lon0 * 1e7), HOME[2] + h)
    path.write_bytes(out)


def test_a_dataflash_log_imports_as_the_flight_it_describes(run, tmp_path):
    log = tmp_path / "00000042.BIN"
    write_dataflash(log)
    assert run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01").returncode == 0
    plan = tmp_path / "quais.plan"
    plan.write_text('{"fileType": "Plan"}')
    p = run("logbook", "import", log, "--pilot", "dupont", "--service", "technical", "--purpose", "état des quais",
            "--mission", "m-42", "--plan", plan, "--json")
    assert p.returncode == 0, p.stderr
    (e,) = json.loads(p.stdout)
    assert e["plan_sha256"] == hashlib.sha256(plan.read_bytes()).hexdigest()
    assert (e["service"], e["purpose"], e["mission"], e["source"]) == ("technical", "état des quais", "m-42",
                                                                       "import 00000042.BIN")
    assert e["duration_s"] == pytest.approx(140.0, abs=0.01)  # armed at 10 s, disarmed at 150 s
    assert abs(datetime.fromisoformat(e["takeoff_at"].replace("Z", "+00:00")) - (START + timedelta(seconds=10))) \
        <= timedelta(seconds=2)
    assert e["max_height_m"] == pytest.approx(30.0)
    assert e["distance_m"] == pytest.approx(200.0, rel=0.01)  # 100 m north and back (the climb is vertical)
    assert e["battery_start_pct"] == 100 and e["battery_end_pct"] == 80
    assert e["photos"] == 5 and e["events"] == ["Failsafe: battery low, RTL"]
    assert e["firmware"].startswith("ArduCopter V4.5.7")
    assert e["takeoff_lat_deg"] == pytest.approx(HOME[0], abs=1e-6) and e["landing_lon_deg"] == pytest.approx(HOME[1])


def test_a_damaged_dataflash_log_is_one_line(run, tmp_path):
    log = tmp_path / "cut.bin"
    write_dataflash(log)
    log.write_bytes(log.read_bytes()[:700])  # the formats and a few records: no flight in it
    run("pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01")
    line = one_line_error(run("logbook", "import", log, "--pilot", "dupont"))
    assert "cut.bin" in line
    assert json.loads(run("logbook", "list", "--json").stdout) == []


@settings(max_examples=25, deadline=None)
@given(north_m=st.floats(10, 160), height_m=st.floats(5, 120), photos=st.integers(0, 30))
def test_dataflash_figures_follow_the_flight(tmp_path_factory, north_m, height_m, photos):
    from dronectl.register.telemetry import read_log

    log = tmp_path_factory.mktemp("df") / "f.bin"
    write_dataflash(log, north_m=north_m, height_m=height_m, photos=photos)
    (f,) = read_log(log)
    climb = min(height_m, 70 * 3.0)
    assert f.max_height_m == pytest.approx(climb, abs=1e-3)
    assert f.distance_m == pytest.approx(2 * north_m, rel=0.01)  # there and back (the climb is vertical)
    assert f.photos == photos and f.duration_s == pytest.approx(140.0)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=0, max_size=3000), suffix=st.sampled_from([".tlog", ".bin"]),
       keep=st.integers(0, 4000))
def test_any_bytes_read_as_flights_or_one_sentence(tmp_path_factory, data, suffix, keep):
    """Random bytes, or a real log cut anywhere: flights, or InputError, never another exception."""
    from dronectl.errors import InputError
    from dronectl.register.telemetry import read_log

    d = tmp_path_factory.mktemp("junk")
    real = d / "real.bin"
    write_dataflash(real)
    path = d / f"x{suffix}"
    path.write_bytes(real.read_bytes()[:keep] + data if suffix == ".bin" else data)
    try:
        flights = read_log(path)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert all(f.duration_s >= 0 and f.distance_m >= 0 for f in flights)
