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
from dronectl.formats import atomic_write, read_text
from dronectl.mission import FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint

FIRMWARE_ARDUPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = 2  # MAV_TYPE_QUADROTOR


def _num(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _param(v) -> float:
    return math.nan if v is None else float(v)


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
    if m.meta:
        doc["dronectl"] = m.meta
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
            items.append(MissionItem(
                command=int(raw["command"]), frame=int(raw.get("frame", 3)),
                param1=_param(params[0]), param2=_param(params[1]), param3=_param(params[2]),
                param4=_param(params[3]), lat_deg=float(params[4] or 0.0), lon_deg=float(params[5] or 0.0),
                alt_m=float(params[6] or 0.0), autocontinue=bool(raw.get("autoContinue", True))))
        except (KeyError, TypeError, ValueError) as exc:
            _fail(path, f"item {n}: {exc}")
    home = None
    hp = mis.get("plannedHomePosition")
    if isinstance(hp, list) and len(hp) >= 2 and hp[0] is not None:
        home = Home(float(hp[0]), float(hp[1]), float(hp[2] if len(hp) > 2 and hp[2] is not None else 0.0))
    fence = doc.get("geoFence") or {}
    try:
        polys = tuple(FencePolygon(tuple((float(a), float(b)) for a, b in p["polygon"]), bool(p.get("inclusion", True)))
                      for p in fence.get("polygons", []))
        circles = tuple(FenceCircle(float(c["circle"]["center"][0]), float(c["circle"]["center"][1]),
                                    float(c["circle"]["radius"]), bool(c.get("inclusion", True)))
                        for c in fence.get("circles", []))
        rally = tuple(RallyPoint(float(p[0]), float(p[1]), float(p[2]))
                      for p in (doc.get("rallyPoints") or {}).get("points", []))
        speeds = float(mis.get("cruiseSpeed", 5.0)), float(mis.get("hoverSpeed", 5.0))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        _fail(path, f"bad geoFence, rallyPoints or speeds ({type(exc).__name__}: {exc})")
    return Mission(items=tuple(items), home=home, fence_polygons=polys, fence_circles=circles, rally=rally,
                   cruise_speed_mps=speeds[0], hover_speed_mps=speeds[1], meta=dict(doc.get("dronectl") or {}))


def dumps(m: Mission) -> str:
    return json.dumps(to_dict(m), indent=2) + "\n"


def write(m: Mission, path: Path | str) -> None:
    atomic_write(path, dumps(m))


def read(path: Path | str) -> Mission:
    path = Path(path)
    try:
        doc = json.loads(read_text(path, "a QGroundControl .plan file"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); is it a QGroundControl .plan file?") from None
    return from_dict(doc, str(path))
