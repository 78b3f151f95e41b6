"""Move an archive's SQLite catalogue into PostgreSQL + PostGIS (``dronectl archive migrate --to URL``).

Everything the SQLite catalogue holds (and the unit's register kept beside it: logbook, pilots, aircraft,
authorisations) is copied with its ids (images with their holds and stored Feature
texts, the audit log, users and their token hashes), table by table in batches of ``batch`` rows, each batch
one transaction on the target. The copy is resumable: a batch is committed whole or not at all, and a run
starts each table after the highest id the target already has, so running it again after a kill finishes the
job without duplicates. Then it checks both sides (row counts, highest ids, a sample of rows compared field by
field, every user) and only when they agree points the archive's ``config.toml`` at the new catalogue (written
to a temporary file and renamed over the old one). Until then the archive keeps working on SQLite, and the
SQLite file is left in place afterwards (remove it once the unit is happy).

The target is claimed by the archive's identity (``meta.archive_id``): a schema holding rows of another
archive is refused; one holding rows of this archive is a migration to resume. Writers should be stopped
during the migration (a row added to SQLite meanwhile shows up as a count mismatch: run it again).
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dronectl.archive.catalog import COLUMNS, FEATURE_COLUMNS, from_iso
from dronectl.errors import ArchiveError, InputError

BATCH = 2000
SAMPLE = 500  # rows of each table compared field by field after the copy
ENV_PAUSE = "DRONECTL_MIGRATE_PAUSE_AFTER"  # tests: stop (sleep) after this many batches, to be killed there

_IMAGE_COLUMNS = COLUMNS + FEATURE_COLUMNS
_AUDIT_COLUMNS = ("id", "at", "actor", "action", "image_id", "sha256", "service", "detail")
_USER_COLUMNS = ("name", "service", "admin", "selector", "token_hash", "created_at", "revoked_at")
_TIMES = {"ingested_at", "captured_at", "held_at", "at", "created_at", "revoked_at"}


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://")) or bool(re.match(r"\s*(host|hostaddr|dbname|user|port|service)=", url))


def redact(url: str) -> str:
    """The URL without its password (for messages and reports)."""
    url = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", url)


@dataclass
class MigrateReport:
    url: str
    schema: str
    config: str
    tables: dict[str, dict] = field(default_factory=dict)  # table -> {source, target, copied}
    sampled: int = 0
    switched: bool = False
    register: dict[str, int] = field(default_factory=dict)  # the unit's register: rows per table, all compared

    def to_dict(self) -> dict:
        return {"url": self.url, "schema": self.schema, "config": self.config, "tables": self.tables,
                "sampled": self.sampled, "switched": self.switched, "register": self.register}


def _convert(columns, row) -> tuple:
    """A SQLite row's values as PostgreSQL wants them (times as datetimes, WKB as bytes, JSONB, booleans)."""
    from psycopg.types.json import Jsonb

    out = []
    for c, v in zip(columns, row):
        if c in _TIMES:
            v = from_iso(v)
        elif c == "footprint":
            v = bytes(v)
        elif c == "extra":
            v = Jsonb(json.loads(v or "{}"))
        elif c in ("interior", "admin"):
            v = bool(v)
        out.append(v)
    return tuple(out)


def _insert_sql(table: str, columns, conflict: str) -> str:
    vals = ", ".join("ST_GeomFromWKB(%s, 4326)" if c == "footprint" else "%s" for c in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({vals}) {conflict}"


def migrate(root: Path | str, to_url: str, schema: str = "dronectl", batch: int = BATCH, progress=None,
            pause_after: int | None = None, register=None) -> MigrateReport:
    """Copy the SQLite catalogue of the archive in ``root`` into PostGIS at ``to_url`` (tables in ``schema``),
    check, and switch ``config.toml``. ``progress(done, total, text)``; ``pause_after``: see :data:`ENV_PAUSE`.
    ``register(source, target) -> {table: rows}``: copies and compares what the application keeps beside the
    catalogue (the unit's register: :func:`dronectl.register.store.copy_register`, which ``dronectl.api``
    passes), before the switch."""
    from dronectl.archive.archive import ENV_CATALOG, open_catalog
    from dronectl.archive.catalog_postgis import PostgisCatalog
    from dronectl.archive.services import load_config

    root = Path(root)
    to_url = to_url.strip()
    if not is_postgres_url(to_url):
        raise InputError(f"--to '{redact(to_url)}' is not a PostgreSQL URL: give postgresql://user:password@host/database")
    if batch < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch}")
    config = root / "config.toml"
    if not config.is_file():
        raise ArchiveError(f"no archive in {root}: give --archive PATH")
    _, cat_cfg = load_config(config)
    current = os.environ.get(ENV_CATALOG) or cat_cfg.get("url")
    if current and not str(current).startswith("sqlite:"):
        raise ArchiveError(f"the archive in {root} is already on PostgreSQL ({redact(str(current))}): nothing to migrate")
    update = progress or (lambda done, total, text="": None)
    source = open_catalog(current, root)
    try:
        target = PostgisCatalog(to_url, schema=schema)
    except BaseException:
        source.close()
        raise
    report = MigrateReport(redact(to_url), schema, str(config))
    try:
        _claim(source, target, report)
        _copy(source, target, report, batch, update, pause_after)
        _check(source, target, report, update)
        if register is not None:
            report.register = register(source, target)  # the unit's register (logbook, pilots...), compared
    finally:
        target.close()
        source.close()
    set_catalog_url(config, to_url, schema)
    report.switched = True
    return report


def _claim(source, target, report: MigrateReport) -> None:
    """Make sure the target is empty or already this archive's, and that no other migration writes to it."""
    sid = source.archive_id()
    got = target.db.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                            (f"dronectl-migrate:{report.schema}",)).fetchone()[0]
    if not got:  # a session lock: released when this process ends, however it ends
        raise ArchiveError(f"another migration into schema '{report.schema}' of {report.url} is running; wait for it")
    with target._transaction():
        if target.meta("archive_id") == sid:
            return
        n = sum(target._query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("images", "audit", "users"))
        if n:
            raise ArchiveError(f"schema '{report.schema}' of {report.url} already holds another archive's catalogue "
                               f"({n} rows): give an empty database or another --schema")
        target._exec("INSERT INTO meta (key, value) VALUES ('archive_id', ?) ON CONFLICT (key) DO UPDATE "
                     "SET value = excluded.value", (sid,))


def _copy(source, target, report: MigrateReport, batch: int, update, pause_after: int | None) -> None:
    counts = {t: source._query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("images", "audit", "users")}
    total = sum(counts.values())
    have = {t: target._query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in counts}
    done = sum(min(have[t], counts[t]) for t in counts)
    update(done, total, "resuming" if done else "")
    batches = 0
    for table, columns in (("images", _IMAGE_COLUMNS), ("audit", _AUDIT_COLUMNS)):
        copied = 0
        last = target._query(f"SELECT COALESCE(MAX(id), 0) FROM {table}")[0][0]
        insert = _insert_sql(table, columns, "ON CONFLICT DO NOTHING")
        while True:
            rows = source._query(f"SELECT {', '.join(columns)} FROM {table} WHERE id > ? ORDER BY id LIMIT ?",
                                 (last, batch))
            if not rows:
                break
            with target._transaction():
                target.db.cursor().executemany(insert, [_convert(columns, r) for r in rows])
                if table == "images":  # what caches keyed by the rows' version (extents, a server's index) follow
                    target._bump_rows()
            last = rows[-1][0]
            copied += len(rows)
            done += len(rows)
            batches += 1
            update(done, total, table)
            if pause_after is not None and batches >= pause_after:
                print(f"migrate: paused after {batches} batches ({ENV_PAUSE})", file=sys.stderr, flush=True)
                while True:  # a test kills us here
                    time.sleep(60)
        report.tables[table] = {"source": counts[table], "copied": copied}
    users = source._query(f"SELECT {', '.join(_USER_COLUMNS)} FROM users ORDER BY name")
    with target._transaction():
        sets = ", ".join(f"{c} = excluded.{c}" for c in _USER_COLUMNS[1:])
        target.db.cursor().executemany(_insert_sql("users", _USER_COLUMNS, f"ON CONFLICT (name) DO UPDATE SET {sets}"),
                                       [_convert(_USER_COLUMNS, r) for r in users])
        for table in ("images", "audit"):  # new rows after the copied ones
            target._exec(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")
    report.tables["users"] = {"source": counts["users"], "copied": len(users)}
    update(done + len(users) - min(have["users"], counts["users"]), total, "users")


def _check(source, target, report: MigrateReport, update) -> None:
    """Counts, highest ids, a sample of rows field by field, every user: the same on both sides, or raise."""
    for table in ("images", "audit", "users"):
        n_src = source._query(f"SELECT COUNT(*) FROM {table}")[0][0]
        n_dst = target._query(f"SELECT COUNT(*) FROM {table}")[0][0]
        report.tables[table]["target"] = n_dst
        if n_src != n_dst:
            raise ArchiveError(f"check failed, config.toml left on SQLite: {table} has {n_src} rows in SQLite and "
                               f"{n_dst} in PostgreSQL (did something write to the archive meanwhile? run migrate again)")
    sampled = 0
    for table, key in (("images", "id"), ("audit", "id"), ("users", "name")):
        keys = [r[0] for r in source._query(f"SELECT {key} FROM {table} ORDER BY {key}")]
        if table != "users" and len(keys) > SAMPLE:  # spread over the table, its ends, and at random
            step = len(keys) / (SAMPLE // 2)
            pick = {keys[int(k * step)] for k in range(SAMPLE // 2)} | {keys[0], keys[-1]}
            pick |= set(random.sample(keys, SAMPLE // 2))
            keys = sorted(pick)
        for k in range(0, len(keys), 500):
            chunk = keys[k:k + 500]
            a, b = _rows(source, table, key, chunk), _rows(target, table, key, chunk)
            for kv in chunk:
                if a.get(kv) != b.get(kv):
                    raise ArchiveError(f"check failed, config.toml left on SQLite: {table} row {kv} differs between "
                                       "SQLite and PostgreSQL; run migrate again, or report it")
        sampled += len(keys)
    report.sampled = sampled


def _rows(cat, table: str, key: str, keys: list) -> dict:
    """Rows by key, as comparable values (the same on both backends when the copy is right)."""
    marks = ", ".join("?" * len(keys))
    if table == "images":
        rows = cat._query(f"SELECT {cat.SELECT}, i.feature, i.map_feature FROM images i WHERE i.id IN ({marks})", keys)
        out = {}
        for r in rows:
            d = cat._record(r[:len(COLUMNS)]).to_dict()
            d["footprint"] = json.dumps(d["footprint"])
            out[d["id"]] = (d, r[-2], r[-1])
        return out
    columns = _AUDIT_COLUMNS if table == "audit" else _USER_COLUMNS
    rows = cat._query(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN ({marks})", keys)
    return {r[0]: tuple(cat._time_out(v) if c in _TIMES else (bool(v) if c == "admin" else v)
                        for c, v in zip(columns, r)) for r in rows}


def set_catalog_url(config: Path, url: str, schema: str = "dronectl") -> None:
    """Point ``config.toml``'s ``[catalog]`` at ``url`` (and ``schema``), keeping the rest of the text and its
    comments; written atomically, and read back before it replaces the old file."""
    from dronectl.archive.services import parse_config
    from dronectl.formats import atomic_write

    text = config.read_text(encoding="utf-8")
    lines = text.splitlines()
    new = [f"url = {json.dumps(url)}"] + ([f"schema = {json.dumps(schema)}"] if schema != "dronectl" else [])
    head = next((i for i, ln in enumerate(lines) if re.fullmatch(r"\s*\[catalog\]\s*(#.*)?", ln)), None)
    if head is None:
        lines += ["", "[catalog]"] + new
    else:
        end = next((i for i in range(head + 1, len(lines)) if re.match(r"\s*\[", lines[i])), len(lines))
        body = [ln for ln in lines[head + 1:end] if not re.match(r"\s*(url|schema)\s*=", ln)]
        lines = lines[:head + 1] + new + body + lines[end:]
    out = "\n".join(lines) + "\n"
    cat = parse_config(out, str(config))[1]
    if cat.get("url") != url or cat.get("schema", "dronectl") != schema:
        raise ArchiveError(f"cannot edit {config}: set url = {json.dumps(redact(url))} under [catalog] by hand")
    atomic_write(config, out)
