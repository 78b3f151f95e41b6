"""The register's values and pure parts: round trips, the integrity chain against any edit or deletion, the gates."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st
from shapely.geometry import box

from dronectl.errors import InputError
from dronectl.register.chain import GENESIS, canonical, verify_chain
from dronectl.register.gates import flight_gate
from dronectl.register.model import Aircraft, Authorisation, LogEntry, Override, Pilot, new_pilot

from .conftest import HOME, mission

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)


def _entry(k: int) -> LogEntry:
    return LogEntry("dupont", "F-DRNE", T0 + timedelta(hours=k), T0 + timedelta(hours=k, minutes=12), HOME[0],
                    HOME[1], HOME[0], HOME[1], 720.0, 40.0 + k, 900.0, "m-1", "m.plan", "ab" * 32, "technical",
                    "quais", "", 20 + k, 100.0, 55.5, ("Failsafe: battery",), (Override("aircraft-unknown", "essai"),))


def _chain(n: int) -> list[tuple[int, str, str]]:
    rows, prev = [], GENESIS
    for k in range(1, n + 1):
        e = _entry(k).chained(k, prev, T0)
        rows.append((k, canonical(e.body()), e.hash))
        prev = e.hash
    return rows


def test_values_round_trip():
    e = _entry(1).chained(1, GENESIS, T0)
    assert LogEntry.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    p = new_pilot("dupont", [("a2", "FRA-1", "2030-01-01")], T0)
    assert Pilot.from_dict(p.to_dict()) == p and p.competences[0].kind == "A2"
    a = Aircraft("F-DRNE", "c2", "FRA-OP", "sysid:1", created_at=T0)
    assert Aircraft.from_dict(a.to_dict()) == a
    auth = Authorisation("AP-1", "authorisation", "Préfecture", "x", box(3.32, 49.37, 3.33, 49.39), "z", T0,
                         T0 + timedelta(days=1), 60.0, filed_on=date(2026, 11, 1), created_at=T0)
    back = Authorisation.from_dict(json.loads(json.dumps(auth.to_dict())))
    assert back.perimeter.equals(auth.perimeter) and back.valid_until == auth.valid_until and back.filed_on == auth.filed_on


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 6), data=st.data())
def test_the_chain_reports_any_edit_or_deletion(n, data):
    rows = _chain(n)
    assert verify_chain(rows, (n, rows[-1][2])).ok
    k = data.draw(st.integers(0, n - 1))
    seq, body, h = rows[k]
    if data.draw(st.booleans()):  # edit one field of one entry to another value
        d = json.loads(body)
        key = data.draw(st.sampled_from(["pilot", "max_height_m", "distance_m", "photos", "takeoff_at", "events",
                                         "overrides", "service", "simulated"]))
        new = data.draw(st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.text(max_size=3))))
        if d[key] == new:
            return
        d[key] = new
        edited = rows[:k] + [(seq, canonical(d), h)] + rows[k + 1:]
        report = verify_chain(edited, (n, rows[-1][2]))
        assert not report.ok and any(f"entry {seq}" in p for p in report.problems)
    else:  # delete one entry (the last one included)
        report = verify_chain(rows[:k] + rows[k + 1:], (n, rows[-1][2]))
        assert not report.ok and any("deleted" in p for p in report.problems)


def test_an_expiry_already_past_is_refused_at_creation_only():
    with pytest.raises(InputError, match="expired on 2026-12-03"):
        new_pilot("x", [("STS", "C-1", "2026-12-03")], T0)
    p = new_pilot("x", [("STS", "C-1", "2026-12-04")], T0)  # valid through its last day
    assert Pilot.from_dict(p.to_dict()).competences[0].expires == date(2026, 12, 4)  # read back later: kept


def _gate(m, service="technical", when=T0, pilot=True, auths=(), populated=None, since_h=0.0):
    p = new_pilot("dupont", [("A2", "FRA-1", "2027-01-01")], T0) if pilot else None
    ac = Aircraft("F-DRNE", "C2", "FRA-OP", "sysid:1", maintenance_interval_h=50)
    return flight_gate(m, when, service, "dupont", p, "F-DRNE", ac, since_h, list(auths), populated)


def test_gates():
    m = mission(35.0)
    assert _gate(m) == []
    assert [p.code for p in _gate(m, pilot=False)] == ["pilot-unknown"]
    assert [p.code for p in _gate(m, when=T0 + timedelta(days=60))] == ["competence-expired"]
    assert [p.code for p in _gate(m, since_h=50.0)] == ["maintenance-overdue"]
    area = box(HOME[1] - 0.002, HOME[0] - 0.002, HOME[1] + 0.002, HOME[0] + 0.002)
    auth = Authorisation("AP-1", "authorisation", "Préfecture", "x", area, "z", T0 - timedelta(hours=1),
                         T0 + timedelta(hours=1), 35.0)
    assert _gate(m, "police", auths=[auth]) == []
    assert [p.code for p in _gate(mission(36.0), "police", auths=[auth])] == ["outside-authorisation"]
    assert [p.code for p in _gate(m, "police", when=T0 + timedelta(hours=2), auths=[auth])] == ["outside-authorisation"]
    probs = _gate(m, populated={"q": area})
    assert [(p.code, p.blocking) for p in probs] == [("no-declaration", False)]
    decl = Authorisation("D-1", "declaration", "Préfecture", "x", area, "z", T0 - timedelta(hours=1),
                         T0 + timedelta(hours=1), 50.0, "technical", filed_on=(T0 - timedelta(days=10)).date())
    assert _gate(m, populated={"q": area}, auths=[decl]) == []
    late = Authorisation(**{**decl.__dict__, "filed_on": (T0 - timedelta(days=9)).date()})
    assert [p.code for p in _gate(m, populated={"q": area}, auths=[late])] == ["no-declaration"]
