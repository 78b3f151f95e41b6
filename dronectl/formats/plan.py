"""QGroundControl ``.plan`` JSON: mission items as ``SimpleItem``s, plus geoFence and rallyPoints.

Every item is written as a SimpleItem (no ComplexItem survey block), so QGroundControl, Mission
Planner and any other ground station fly the file as it is. Params that MAVLink leaves unset (NaN)
are written as JSON ``null``, as QGroundControl does. dronectl's own metadata lives under a
top-level ``"dronectl"`` key that other ground stations ignore.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dronectl.errors import InputError
from dronectl.formats.common import atomic_write, item_problem, read_text
from dronectl.limits import SPEED_MPS
from dronectl.mission import COMMANDS_WITH_LOCATION, FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint
from dronectl.plandata import PlanData

FIRMWARE_ARDUPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = 2  # MAV_TYPE_QUADROTOR


def _num(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _param(v) -> float:
    """A param as MAVLink holds it: null is NaN ("unset", as QGroundControl writes it); numbers must be finite."""
    if v is None:
        return math.nan
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"param {v!r} is not a finite number (write null for an unset param)")
    return f


def _position(lat, lon, alt, what: str) -> tuple[float, float, float]:
    """Latitude/longitude present (a null is refused, never read as 0 degrees), finite and in range, and a finite
    altitude within -1000..10000 m."""
    if lat is None or lon is None:
        raise ValueError(f"{what}: latitude/longitude missing (null)")
    if alt is None:
        raise ValueError(f"{what}: altitude missing (null)")
    lat, lon, alt = (float(v) for v in (lat, lon, alt))
    if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"{what}: latitude/longitude {lat:g}, {lon:g} out of range (-90..90, -180..180 degrees)")
    if not (math.isfinite(alt) and -1000 <= alt <= 10000):
        raise ValueError(f"{what}: altitude {alt:g} m out of range (-1000..10000 m)")
    return lat, lon, alt


def _speed(v, what: str) -> float:
    f = float(v)
    lo, hi, _ = SPEED_MPS
    if not (math.isfinite(f) and lo <= f <= hi):
        raise ValueError(f"{what} {f:g} m/s out of range ({lo:g}..{hi:g} m/s)")
    return f


def to_dict(m: Mission) -> dict:
    items = []
    for n, it in enumerate(m.items, start=1):
        items.append({
            "type": "SimpleItem",
            "autoContinue": bool(it.autocontinue),
            "command": it.command,
            "doJumpId": n,
            "frame": it.frame,
            "params": [_num(it.param1), _num(it.param2), _num(it.param3), _num(it.param4),
                       it.lat_deg, it.lon_deg, it.alt_m],
        })
    home = m.home or (Home(*m.positions()[0][:2], 0.0) if m.positions() else Home(0.0, 0.0, 0.0))
    doc = {
        "fileType": "Plan",
        "version": 1,
        "groundStation": "dronectl",
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_ARDUPILOT,
            "vehicleType": VEHICLE_QUADROTOR,
            "cruiseSpeed": m.cruise_speed_mps,
            "hoverSpeed": m.hover_speed_mps,
            "plannedHomePosition": [home.lat_deg, home.lon_deg, home.alt_m],
            "items": items,
        },
        "geoFence": {
            "version": 2,
            "polygons": [{"inclusion": p.inclusion, "version": 1, "polygon": [[a, b] for a, b in p.vertices]}
                         for p in m.fence_polygons],
            "circles": [{"inclusion": c.inclusion, "version": 1,
                         "circle": {"center": [c.lat_deg, c.lon_deg], "radius": c.radius_m}}
                        for c in m.fence_circles],
        },
        "rallyPoints": {"version": 2, "points": [[r.lat_deg, r.lon_deg, r.alt_m] for r in m.rally]},
    }
    if m.plan_data is not None:
        doc["dronectl"] = m.plan_data.to_dict()
    return doc


def _fail(path, msg):
    raise InputError(f"{path}: not a valid QGroundControl plan: {msg}")


def from_dict(doc: dict, path: str = "<plan>") -> Mission:
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        _fail(path, "'fileType' must be 'Plan'")
    mis = doc.get("mission")
    if not isinstance(mis, dict) or not isinstance(mis.get("items"), list):
        _fail(path, "no 'mission.items' list")
    items: list[MissionItem] = []
    for n, raw in enumerate(mis["items"], start=1):
        if not isinstance(raw, dict):
            _fail(path, f"item {n} is not an object")
        if raw.get("type") != "SimpleItem":
            _fail(path, f"item {n} is a {raw.get('type')!r}; dronectl reads SimpleItems only "
                        "(in QGroundControl, save the survey after 'Convert to simple items')")
        params = raw.get("params")
        if not isinstance(params, list) or len(params) != 7:
            _fail(path, f"item {n} needs 7 params")
        try:
            command = int(raw["command"])
            if command in COMMANDS_WITH_LOCATION:
                lat, lon, alt = _position(params[4], params[5], params[6], "position")
            else:  # params 5-7 of a command without a location: numbers, null read as 0
                lat, lon, alt = (0.0 if v is None else _param(v) for v in params[4:7])
            item = MissionItem(
                command=command, frame=int(raw.get("frame", 3)),
                param1=_param(params[0]), param2=_param(params[1]), param3=_param(params[2]),
                param4=_param(params[3]), lat_deg=lat, lon_deg=lon, alt_m=alt,
                autocontinue=bool(raw.get("autoContinue", True)))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            _fail(path, f"item {n}: {exc}")
        problem = item_problem(item)
        if problem:
            _fail(path, f"item {n}: {problem}")
        items.append(item)
    home = None
    hp = mis.get("plannedHomePosition")
    fence = doc.get("geoFence") or {}
    try:
        if isinstance(hp, list) and len(hp) >= 2:
            home = Home(*_position(hp[0], hp[1], hp[2] if len(hp) > 2 else 0.0, "plannedHomePosition"))
        polys = tuple(FencePolygon(tuple(_position(a, b, 0, "geoFence vertex")[:2] for a, b in p["polygon"]),
                                   bool(p.get("inclusion", True)))
                      for p in fence.get("polygons", []))
        circles = []
        for c in fence.get("circles", []):
            lat, lon, _ = _position(c["circle"]["center"][0], c["circle"]["center"][1], 0, "geoFence circle")
            radius = float(c["circle"]["radius"])
            if not (math.isfinite(radius) and radius > 0):
                raise ValueError(f"geoFence circle radius {radius:g} m must be a positive number")
            circles.append(FenceCircle(lat, lon, radius, bool(c.get("inclusion", True))))
        rally = tuple(RallyPoint(*_position(p[0], p[1], p[2], "rally point"))
                      for p in (doc.get("rallyPoints") or {}).get("points", []))
        speeds = _speed(mis.get("cruiseSpeed", 5.0), "cruiseSpeed"), _speed(mis.get("hoverSpeed", 5.0), "hoverSpeed")
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        _fail(path, f"bad plannedHomePosition, geoFence, rallyPoints or speeds ({exc})")
    data = doc.get("dronectl")
    plan_data = PlanData.from_dict(data, f"{path}: dronectl data") if data is not None else None
    return Mission(items=tuple(items), home=home, fence_polygons=polys, fence_circles=tuple(circles), rally=rally,
                   cruise_speed_mps=speeds[0], hover_speed_mps=speeds[1], plan_data=plan_data)


def dumps(m: Mission) -> str:
    return json.dumps(to_dict(m), indent=2, allow_nan=False) + "\n"


def write(m: Mission, path: Path | str) -> None:
    atomic_write(path, dumps(m))


def read(path: Path | str) -> Mission:
    path = Path(path)
    try:
        doc = json.loads(read_text(path, "a QGroundControl .plan file"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); is it a QGroundControl .plan file?") from None
    return from_dict(doc, str(path))
