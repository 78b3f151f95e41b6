"""Services (police, communication, technical...): who may see their images, how long they are kept.

The archive folder holds a ``config.toml`` written with the defaults at creation; a unit edits it to
add services or change a rule. Defaults follow French rules for police drone imagery: 7 days, 48 hours
for images of private interiors; the other services keep their images without limit and everyone may
see them. Access to police images is audited.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from dronectl.errors import InputError

DAY_S = 86400.0
AUDIT_RETENTION_DAYS = 3 * 365 + 1  # three years

DEFAULT_CONFIG = """\
# dronectl archive configuration. Edit and keep: every command reads it.
#
# [services.NAME]
#   retention_days            keep images this many days after capture (omit: no limit)
#   interior_retention_hours  shorter limit for images ingested with --interior (omit: same as above)
#   visible_to                services allowed to see these images (omit: every service)
#   audit_access              write every access to these images in the audit log

[services.police]
retention_days = 7
interior_retention_hours = 48
visible_to = ["police"]
audit_access = true

[services.communication]

[services.technical]

[audit]
retention_days = 1096   # three years

[catalog]
# url = "postgresql://user:password@host/dronectl"   # PostGIS catalogue; default: SQLite in this folder
"""


@dataclass(frozen=True)
class Service:
    name: str
    retention_s: float | None = None
    interior_retention_s: float | None = None
    visible_to: frozenset[str] | None = None  # None: every service
    audit_access: bool = False

    def retention_for(self, interior: bool) -> float | None:
        if interior and self.interior_retention_s is not None:
            return self.interior_retention_s
        return self.retention_s

    def describe_retention(self) -> str:
        def fmt(s):
            return f"{s / DAY_S:g} days" if s % DAY_S == 0 else f"{s / 3600:g} h"
        if self.retention_s is None and self.interior_retention_s is None:
            return "unlimited"
        out = fmt(self.retention_s) if self.retention_s is not None else "unlimited"
        if self.interior_retention_s is not None:
            out += f" ({fmt(self.interior_retention_s)} for interiors)"
        return out


@dataclass(frozen=True)
class Services:
    by_name: dict[str, Service]
    audit_retention_s: float = AUDIT_RETENTION_DAYS * DAY_S

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    def get(self, name: str) -> Service:
        s = self.by_name.get(name) or self.by_name.get(str(name).lower())
        if s is None:
            raise InputError(f"unknown service '{name}'; known services: {', '.join(self.by_name)}"
                             " (add one in the archive's config.toml)")
        return s

    def can_see(self, asker: str, service: str) -> bool:
        s = self.get(service)
        return s.visible_to is None or asker in s.visible_to

    def visible_to(self, asker: str) -> list[str]:
        """Services whose images ``asker`` may see."""
        self.get(asker)
        return [n for n in self.by_name if self.can_see(asker, n)]


def _service(name: str, d: dict, where: str) -> Service:
    known = {"retention_days", "interior_retention_hours", "visible_to", "audit_access"}
    unknown = set(d) - known
    if unknown:
        raise InputError(f"{where}: service '{name}' has unknown settings: {', '.join(sorted(unknown))}")

    def pos(key, scale):
        v = d.get(key)
        if v is None:
            return None
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise InputError(f"{where}: {key} of service '{name}' must be a positive number, got {v!r}")
        return float(v) * scale

    vis = d.get("visible_to")
    if vis is not None and (not isinstance(vis, list) or not all(isinstance(x, str) for x in vis)):
        raise InputError(f"{where}: visible_to of service '{name}' must be a list of service names")
    return Service(name, pos("retention_days", DAY_S), pos("interior_retention_hours", 3600.0),
                   frozenset(vis) if vis is not None else None, bool(d.get("audit_access", False)))


def parse_config(text: str, where: str = "config.toml") -> tuple[Services, dict]:
    """(services, catalog settings) of a config text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where} cannot be parsed: {exc}") from None
    raw = data.get("services") or {}
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where} defines no [services.NAME] table")
    services = {n: _service(n, d or {}, where) for n, d in raw.items()}
    for s in services.values():
        for other in s.visible_to or ():
            if other not in services:
                raise InputError(f"{where}: service '{s.name}' is visible_to unknown service '{other}'")
    audit_days = (data.get("audit") or {}).get("retention_days", AUDIT_RETENTION_DAYS)
    return Services(services, float(audit_days) * DAY_S), dict(data.get("catalog") or {})


def default_services() -> Services:
    return parse_config(DEFAULT_CONFIG)[0]


def load_config(path: Path) -> tuple[Services, dict]:
    return parse_config(path.read_text(encoding="utf-8"), str(path))
