"""The register's tables, in the archive's database (SQLite or PostgreSQL+PostGIS), beside the catalogue.

Each record is kept as its JSON text (the dataclass's ``to_dict``) with a few columns to filter on; the
logbook is append-only (no method updates or deletes an entry) and chained (:mod:`dronectl.register.chain`).
The store borrows the catalogue's connection (``catalog.db``) and creates its own tables on first use.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from dronectl.errors import InputError
from dronectl.register.chain import GENESIS, ChainReport, canonical, verify_chain
from dronectl.register.model import Aircraft, Authorisation, LogEntry, Pilot, from_iso, iso, utc

RETENTION_DAYS = 3 * 365 + 1  # entries are kept at least three years (nothing here deletes them)

_TABLES = """
CREATE TABLE IF NOT EXISTS register_pilots (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register_aircraft (registration TEXT PRIMARY KEY, autopilot TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register_authorisations (reference TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register_logbook (
    seq BIGINT PRIMARY KEY,
    takeoff_at TEXT NOT NULL,            -- fixed-width UTC ISO text, as in the entry
    pilot TEXT NOT NULL, aircraft TEXT NOT NULL, service TEXT NOT NULL,
    simulated INTEGER NOT NULL,
    body TEXT NOT NULL,                  -- the entry's canonical JSON, without its hash
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS register_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
"""
TABLES = ("register_pilots", "register_aircraft", "register_authorisations", "register_logbook", "register_head")
KEYS = {"register_pilots": "name", "register_aircraft": "registration", "register_authorisations": "reference",
        "register_logbook": "seq", "register_head": "id"}
COLUMNS = {"register_pilots": ("name", "body"), "register_aircraft": ("registration", "autopilot", "body"),
           "register_authorisations": ("reference", "kind", "body"),
           "register_logbook": ("seq", "takeoff_at", "pilot", "aircraft", "service", "simulated", "body", "hash"),
           "register_head": ("id", "seq", "hash")}


def create_tables(db, backend: str) -> None:
    """The register's tables in ``db`` (a sqlite3 connection, or a psycopg one whose search_path is set)."""
    if backend == "sqlite":
        db.executescript(_TABLES)
    else:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended('dronectl-register-schema', 0))")
            db.execute(_TABLES)


class Register:
    """The unit's register over the archive's catalogue connection."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.db = catalog.db
        self.backend = catalog.backend
        create_tables(self.db, self.backend)

    # --- plumbing --------------------------------------------------------------------------------
    def _q(self, sql: str, params=()) -> list:  # the catalogue's own dialect: ? placeholders
        return self.catalog._query(sql, tuple(params))

    def _x(self, sql: str, params=()):
        return self.catalog._exec(sql, tuple(params))

    @contextmanager
    def _tx(self):
        """The catalogue's write transaction; on PostGIS also the register's lock, so that two writers append to
        the chain one after the other (SQLite's BEGIN IMMEDIATE already serialises them)."""
        with self.catalog._transaction():
            if self.backend != "sqlite":
                self._x("SELECT pg_advisory_xact_lock(hashtextextended('dronectl-register', 0))")
            yield

    def _insert_new(self, table: str, values: tuple, what: str) -> None:
        key = KEYS[table]
        with self._tx():
            if self._q(f"SELECT 1 FROM {table} WHERE {key} = ?", (values[0],)):
                raise InputError(f"{what} is already in the register")
            cols = COLUMNS[table]
            self._x(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)

    # --- pilots ---------------------------------------------------------------------------------------
    def add_pilot(self, pilot: Pilot) -> Pilot:
        self._insert_new("register_pilots", (pilot.name, canonical(pilot.to_dict())), f"pilot '{pilot.name}'")
        return pilot

    def pilot(self, name: str) -> Pilot | None:
        rows = self._q("SELECT body FROM register_pilots WHERE name = ?", (name,))
        return Pilot.from_dict(json.loads(rows[0][0])) if rows else None

    def pilots(self) -> list[Pilot]:
        return [Pilot.from_dict(json.loads(r[0])) for r in self._q("SELECT body FROM register_pilots ORDER BY name")]

    # --- aircraft -------------------------------------------------------------------------------------
    def add_aircraft(self, ac: Aircraft) -> Aircraft:
        if self._q("SELECT registration FROM register_aircraft WHERE autopilot = ?", (ac.autopilot,)):
            other = self._q("SELECT registration FROM register_aircraft WHERE autopilot = ?", (ac.autopilot,))[0][0]
            raise InputError(f"autopilot {ac.autopilot} is already registered as aircraft {other}")
        self._insert_new("register_aircraft", (ac.registration, ac.autopilot, canonical(ac.to_dict())),
                         f"aircraft {ac.registration}")
        return ac

    def aircraft(self, name: str | None = None) -> list[Aircraft]:
        rows = self._q("SELECT body FROM register_aircraft ORDER BY registration")
        out = [Aircraft.from_dict(json.loads(r[0])) for r in rows]
        return [a for a in out if a.registration == name] if name is not None else out

    def find_aircraft(self, name_or_autopilot: str | None) -> Aircraft | None:
        """The aircraft of that registration, or whose autopilot identity is that (``sysid:1``, ``uid:...``)."""
        if not name_or_autopilot:
            return None
        rows = self._q("SELECT body FROM register_aircraft WHERE registration = ? OR autopilot = ?",
                       (name_or_autopilot, name_or_autopilot))
        return Aircraft.from_dict(json.loads(rows[0][0])) if rows else None

    def maintained(self, registration: str) -> Aircraft:
        """Record a maintenance of the aircraft now: its hours since maintenance start again from 0."""
        with self._tx():
            found = self.aircraft(registration)
            if not found:
                raise InputError(f"no aircraft {registration} in the register; `dronectl aircraft list` shows them")
            ac = replace(found[0], maintained_at_h=self.aircraft_hours(found[0]))
            self._x("UPDATE register_aircraft SET body = ? WHERE registration = ?",
                    (canonical(ac.to_dict()), registration))
        return ac

    # --- authorisations -------------------------------------------------------------------------------
    def add_authorisation(self, auth: Authorisation) -> Authorisation:
        self._insert_new("register_authorisations", (auth.reference, auth.kind, canonical(auth.to_dict())),
                         f"{auth.kind} {auth.reference}")
        return auth

    def authorisations(self) -> list[Authorisation]:
        return [Authorisation.from_dict(json.loads(r[0]))
                for r in self._q("SELECT body FROM register_authorisations ORDER BY reference")]

    # --- the logbook ------------------------------------------------------------------------------------
    def append(self, entry: LogEntry, now: datetime | None = None) -> LogEntry:
        """Add ``entry`` at the end of the logbook, chained to the previous one; the entry as stored."""
        now = now or datetime.now(timezone.utc)
        with self._tx():
            head = self._q("SELECT seq, hash FROM register_head WHERE id = 1")
            seq, prev = (head[0][0] + 1, head[0][1]) if head else (1, GENESIS)
            e = entry.chained(seq, prev, now)
            self._x("INSERT INTO register_logbook (seq, takeoff_at, pilot, aircraft, service, simulated, body, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, iso(e.takeoff_at), e.pilot, e.aircraft, e.service,
                                                        int(e.simulated), canonical(e.body()), e.hash))
            if head:
                self._x("UPDATE register_head SET seq = ?, hash = ? WHERE id = 1", (seq, e.hash))
            else:
                self._x("INSERT INTO register_head (id, seq, hash) VALUES (1, ?, ?)", (seq, e.hash))
        return e

    def entries(self, since: datetime | None = None, pilot: str | None = None, aircraft: str | None = None,
                service: str | None = None, simulated: bool | None = False) -> list[LogEntry]:
        """Logbook entries in order; ``simulated``: False real flights only (default), True simulated only,
        None both."""
        where, params = [], []
        for term, value in (("takeoff_at >= ?", iso(since) if since else None), ("pilot = ?", pilot),
                            ("aircraft = ?", aircraft), ("service = ?", service),
                            ("simulated = ?", None if simulated is None else int(simulated))):
            if value is not None:
                where.append(term)
                params.append(value)
        sql = "SELECT body, hash FROM register_logbook" + (" WHERE " + " AND ".join(where) if where else "")
        return [LogEntry.from_dict({**json.loads(b), "hash": h}) for b, h in self._q(sql + " ORDER BY seq", params)]

    def entry(self, seq: int) -> LogEntry:
        rows = self._q("SELECT body, hash FROM register_logbook WHERE seq = ?", (seq,))
        if not rows:
            raise InputError(f"no logbook entry {seq}; `dronectl logbook list` shows them")
        return LogEntry.from_dict({**json.loads(rows[0][0]), "hash": rows[0][1]})

    def verify(self) -> ChainReport:
        """The integrity chain checked from the first entry to the head: every edit and deletion reported."""
        rows = self._q("SELECT seq, body, hash, takeoff_at, pilot, aircraft, service, simulated "
                       "FROM register_logbook ORDER BY seq")
        head = self._q("SELECT seq, hash FROM register_head WHERE id = 1")
        report = verify_chain([r[:3] for r in rows], (head[0][0], head[0][1]) if head else None)
        extra = []
        for seq, body, _, *cols in rows:  # the columns lists filter on must say what the entry says
            try:
                b = json.loads(body)
            except ValueError:
                continue
            want = [iso(from_iso(b.get("takeoff_at"))), b.get("pilot"), b.get("aircraft"), b.get("service"),
                    int(bool(b.get("simulated")))]
            if list(cols) != want:
                extra.append(f"entry {seq}: its filter columns were edited (they differ from the entry)")
        return ChainReport(report.entries, report.problems + tuple(extra)) if extra else report

    # --- totals ----------------------------------------------------------------------------------------
    def pilot_totals(self, name: str, now: datetime | None = None) -> dict:
        now = utc(now or datetime.now(timezone.utc))
        es = self.entries(pilot=name)
        recent = [e for e in es if e.takeoff_at >= now - timedelta(days=90)]
        return {"flights": len(es), "hours": round(sum(e.duration_s for e in es) / 3600, 2),
                "flights_90d": len(recent), "hours_90d": round(sum(e.duration_s for e in recent) / 3600, 2),
                "last_flight": iso(max((e.takeoff_at for e in es), default=None))}

    def aircraft_hours(self, ac: Aircraft) -> float:
        """Total hours: those it had when registered plus its real flights in the logbook."""
        flown = sum(e.duration_s for e in self.entries(aircraft=ac.registration)) / 3600
        return ac.hours_before_h + flown

    def aircraft_totals(self, ac: Aircraft) -> dict:
        total = self.aircraft_hours(ac)
        since = total - ac.maintained_at_h
        return {"hours": round(total, 2), "hours_since_maintenance": round(since, 2),
                "maintenance_due": since >= ac.maintenance_interval_h}

    # --- the rows as they are (migration) -----------------------------------------------------------
    def rows(self, table: str) -> list[tuple]:
        cols = COLUMNS[table]
        return self._q(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {KEYS[table]}")


def copy_register(source_catalog, target_catalog) -> dict:
    """Copy the register's tables from one catalogue's database to another's (``archive migrate``): rows the
    target already has are kept (a re-run after a kill finishes the job), then every row is compared. The
    counts per table; ArchiveError when the two sides differ."""
    from dronectl.errors import ArchiveError

    src, dst = Register(source_catalog), Register(target_catalog)
    counts = {}
    with dst._tx():
        for table in TABLES:
            cols = COLUMNS[table]
            rows = src.rows(table)
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                   f"ON CONFLICT ({KEYS[table]}) DO NOTHING").replace("?", dst.catalog.P)
            if rows:
                dst.db.cursor().executemany(sql, [tuple(r) for r in rows])
            counts[table] = len(rows)
    for table in TABLES:
        a, b = src.rows(table), dst.rows(table)
        if [tuple(r) for r in a] != [tuple(r) for r in b]:
            raise ArchiveError(f"check failed, config.toml left on SQLite: the register's {table} differs between "
                               "SQLite and PostgreSQL; run migrate again, or report it")
    return counts
