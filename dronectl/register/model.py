"""The register's values: pilots, aircraft, authorisations and declarations, logbook entries, problems.

Plain frozen dataclasses with ``to_dict``/``from_dict``; no I/O. Validation happens where a value is made
(``__post_init__`` for what is always true, :func:`new_pilot` / :func:`new_authorisation` for what is only
checked at creation, such as an expiry date already past).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timezone

from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from dronectl.errors import InputError

COMPETENCES = ("A1/A3", "A2", "STS")
CLASSES = ("C0", "C1", "C2", "C3", "C4", "C5", "C6")
KINDS = ("authorisation", "declaration")
# the competences a class of aircraft needs (any one of them, valid on the day of the flight)
NEEDS = {"C0": COMPETENCES, "C1": COMPETENCES, "C2": ("A2", "STS"), "C3": COMPETENCES, "C4": COMPETENCES,
         "C5": ("STS",), "C6": ("STS",)}


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str | None) -> datetime | None:
    return None if not text else utc(datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def _text(value, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(f"{what} is empty; give it")
    if any(ord(c) < 32 for c in value):
        raise InputError(f"{what} holds control characters; type it again")
    return value


def _finite(value, what: str, minimum: float = 0.0) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise InputError(f"{what} must be a number of at least {minimum:g}, got {value!r}")
    return value


# --- pilots ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Competence:
    kind: str  # A1/A3, A2, STS
    certificate: str
    expires: date

    def __post_init__(self):
        if self.kind.upper() not in COMPETENCES:
            raise InputError(f"competence '{self.kind}' is not one of {', '.join(COMPETENCES)}")
        object.__setattr__(self, "kind", self.kind.upper())
        object.__setattr__(self, "certificate", _text(self.certificate, f"the {self.kind} certificate number"))

    def valid_on(self, day: date) -> bool:
        return day <= self.expires

    def to_dict(self) -> dict:
        return {"kind": self.kind, "certificate": self.certificate, "expires": self.expires.isoformat()}

    @classmethod
    def from_dict(cls, d: dict) -> "Competence":
        return cls(d["kind"], d["certificate"], date.fromisoformat(d["expires"]))


@dataclass(frozen=True)
class Pilot:
    name: str
    competences: tuple[Competence, ...]
    created_at: datetime

    def __post_init__(self):
        object.__setattr__(self, "name", _text(self.name, "the pilot's name"))
        if not self.competences:
            raise InputError(f"pilot '{self.name}' has no competence: give --competence KIND CERTIFICATE EXPIRY")

    def valid_competences(self, day: date) -> tuple[Competence, ...]:
        return tuple(c for c in self.competences if c.valid_on(day))

    def to_dict(self) -> dict:
        return {"name": self.name, "competences": [c.to_dict() for c in self.competences],
                "created_at": iso(self.created_at)}

    @classmethod
    def from_dict(cls, d: dict) -> "Pilot":
        return cls(d["name"], tuple(Competence.from_dict(c) for c in d["competences"]), from_iso(d["created_at"]))


def new_pilot(name: str, competences, now: datetime) -> Pilot:
    """A pilot being registered: each competence ``(kind, certificate, expiry)``; an expiry already past is
    refused (register the renewed certificate instead)."""
    comps = []
    for kind, cert, expires in competences:
        if isinstance(expires, str):
            try:
                expires = date.fromisoformat(expires.strip())
            except ValueError:
                raise InputError(f"expiry '{expires}' of the {kind} competence is not a date (YYYY-MM-DD)") from None
        c = Competence(kind, cert, expires)
        if c.expires < utc(now).date():
            raise InputError(f"the {c.kind} certificate {c.certificate} expired on {c.expires.isoformat()}; "
                             "register the renewed certificate")
        comps.append(c)
    kinds = [c.kind for c in comps]
    if len(set(kinds)) != len(kinds):
        raise InputError("a competence is given twice; give each of A1/A3, A2, STS once")
    return Pilot(name, tuple(comps), utc(now))


# --- aircraft ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Aircraft:
    registration: str  # what is shown on the aircraft
    cls: str  # C0..C6
    operator: str  # the operator's registration number (e.g. FRA...)
    autopilot: str  # identity read from the vehicle: "uid:...", "sysid:1"...
    model: str = ""
    hours_before_h: float = 0.0  # flight hours before it entered the register
    maintenance_interval_h: float = 50.0
    maintained_at_h: float = 0.0  # its total hours when last maintained
    created_at: datetime | None = None

    def __post_init__(self):
        object.__setattr__(self, "registration", _text(self.registration, "the aircraft's registration"))
        if self.cls.upper() not in CLASSES:
            raise InputError(f"class '{self.cls}' is not one of {', '.join(CLASSES)}")
        object.__setattr__(self, "cls", self.cls.upper())
        object.__setattr__(self, "operator", _text(self.operator, "the operator's registration number"))
        object.__setattr__(self, "autopilot", _text(self.autopilot, "the autopilot identity"))
        _finite(self.hours_before_h, "--hours")
        _finite(self.maintained_at_h, "the hours at the last maintenance")
        if _finite(self.maintenance_interval_h, "--maintenance-every") <= 0:
            raise InputError("--maintenance-every must be more than 0 hours")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["created_at"] = iso(self.created_at)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Aircraft":
        return cls(**{**d, "created_at": from_iso(d.get("created_at"))})


# --- authorisations and declarations ---------------------------------------------------------------
@dataclass(frozen=True)
class Authorisation:
    """A prefect's authorisation (police purposes) or a flight declaration (populated area), as filed."""

    reference: str
    kind: str  # authorisation | declaration
    authority: str
    purpose: str
    perimeter: BaseGeometry  # lon/lat polygon(s)
    place: str  # the zone's name or the polygon file's name
    valid_from: datetime
    valid_until: datetime
    max_height_m: float
    service: str = "police"
    filed_on: date | None = None  # declarations: when it was sent to the prefect
    created_at: datetime | None = None

    def __post_init__(self):
        object.__setattr__(self, "reference", _text(self.reference, "the reference"))
        if self.kind not in KINDS:
            raise InputError(f"kind '{self.kind}' is not one of {', '.join(KINDS)}")
        object.__setattr__(self, "authority", _text(self.authority, "--authority"))
        object.__setattr__(self, "purpose", _text(self.purpose, "--purpose"))
        if self.perimeter is None or self.perimeter.geom_type not in ("Polygon", "MultiPolygon") \
                or self.perimeter.is_empty or not self.perimeter.is_valid:
            raise InputError(f"the perimeter of {self.reference} is not a valid polygon")
        object.__setattr__(self, "valid_from", utc(self.valid_from))
        object.__setattr__(self, "valid_until", utc(self.valid_until))
        if self.valid_until <= self.valid_from:
            raise InputError(f"{self.reference}: --until is not after --from")
        if _finite(self.max_height_m, "--max-height") <= 0:
            raise InputError("--max-height must be more than 0 m")

    def covers_time(self, start: datetime, end: datetime) -> bool:
        return self.valid_from <= utc(start) and utc(end) <= self.valid_until

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(perimeter=mapping(self.perimeter), valid_from=iso(self.valid_from), valid_until=iso(self.valid_until),
                 filed_on=self.filed_on.isoformat() if self.filed_on else None, created_at=iso(self.created_at))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Authorisation":
        return cls(**{**d, "perimeter": shape(d["perimeter"]), "valid_from": from_iso(d["valid_from"]),
                      "valid_until": from_iso(d["valid_until"]),
                      "filed_on": date.fromisoformat(d["filed_on"]) if d.get("filed_on") else None,
                      "created_at": from_iso(d.get("created_at"))})


# --- problems (what a gate finds) --------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    code: str  # pilot-unknown, competence-expired, aircraft-unknown, maintenance-overdue, no-authorisation, ...
    message: str  # one sentence a pilot understands
    blocking: bool = True  # False: a warning (the flight may go, the warning is recorded)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        return cls(**d)


# --- the logbook ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Override:
    """A ``--force`` and its reason: what was overridden."""

    what: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Override":
        return cls(**d)


@dataclass(frozen=True)
class LogEntry:
    """One flight. ``seq``, ``prev_hash`` and ``hash`` are set by the store when the entry is appended."""

    pilot: str
    aircraft: str  # registration; "" when the log's vehicle matched no registered aircraft
    takeoff_at: datetime
    landing_at: datetime
    takeoff_lat_deg: float | None = None
    takeoff_lon_deg: float | None = None
    landing_lat_deg: float | None = None
    landing_lon_deg: float | None = None
    duration_s: float = 0.0
    max_height_m: float = 0.0  # above take-off
    distance_m: float = 0.0
    mission: str = ""
    plan_file: str = ""
    plan_sha256: str = ""
    service: str = ""
    purpose: str = ""
    authorisation: str = ""  # reference of the authorisation or declaration the flight was made under
    photos: int = 0
    battery_start_pct: float | None = None
    battery_end_pct: float | None = None
    events: tuple[str, ...] = ()  # failsafes and incidents (the autopilot's warnings, the gate's warnings)
    overrides: tuple[Override, ...] = ()
    simulated: bool = False
    autopilot: str = ""  # identity of the vehicle that flew
    firmware: str = ""
    source: str = ""  # "fly", "import flight.tlog"...
    recorded_at: datetime | None = None
    seq: int | None = None
    prev_hash: str = ""
    hash: str = ""

    def __post_init__(self):
        object.__setattr__(self, "pilot", _text(self.pilot, "the pilot"))
        object.__setattr__(self, "takeoff_at", utc(self.takeoff_at))
        object.__setattr__(self, "landing_at", utc(self.landing_at))
        if self.landing_at < self.takeoff_at:
            raise InputError("the landing is before the take-off")
        object.__setattr__(self, "events", tuple(self.events))
        object.__setattr__(self, "overrides", tuple(self.overrides))

    @property
    def date(self) -> date:
        return self.takeoff_at.date()

    def body(self) -> dict:
        """The entry without its chain fields: what its hash covers (with ``seq`` and ``prev_hash``)."""
        d = self.to_dict()
        d.pop("hash")
        return d

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(takeoff_at=iso(self.takeoff_at), landing_at=iso(self.landing_at), recorded_at=iso(self.recorded_at),
                 events=list(self.events), overrides=[o.to_dict() for o in self.overrides])
        for k in ("duration_s", "max_height_m", "distance_m"):
            d[k] = round(float(d[k]), 1)
        for k in ("takeoff_lat_deg", "takeoff_lon_deg", "landing_lat_deg", "landing_lon_deg"):
            d[k] = None if d[k] is None else round(float(d[k]), 7)
        for k in ("battery_start_pct", "battery_end_pct"):
            d[k] = None if d[k] is None else round(float(d[k]), 1)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LogEntry":
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        return cls(**{**d, "takeoff_at": from_iso(d["takeoff_at"]), "landing_at": from_iso(d["landing_at"]),
                      "recorded_at": from_iso(d.get("recorded_at")), "events": tuple(d.get("events", ())),
                      "overrides": tuple(Override.from_dict(o) for o in d.get("overrides", ()))})

    def chained(self, seq: int, prev_hash: str, recorded_at: datetime) -> "LogEntry":
        from dronectl.register.chain import entry_hash

        e = replace(self, seq=seq, prev_hash=prev_hash, recorded_at=utc(recorded_at), hash="")
        return replace(e, hash=entry_hash(e.body()))
