"""``/api/logbook``: the unit's flight logbook for admins (404 for anyone else, as a path that does not exist).

``GET /api/logbook?since=&until=&pilot=&aircraft=&service=&mission=&simulated=`` answers the entries (newest first),
each with ``images``: the web app's image search of the mission it flew (the logbook entry beside its images,
``GET /api/images?mission=...``). ``simulated=true`` gives the simulated flights (kept apart), ``all`` both.
Bad parameters answer 400 with one line of JSON, like the rest of the API.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.routing import Route

from dronectl.archive.criteria import parse_date
from dronectl.web.app import BadRequest, _json, not_found, query_params

KEYS = ("since", "until", "pilot", "aircraft", "service", "mission", "simulated")
SIMULATED = {"false": False, "true": True, "all": None}


def logbook(request, a, user):
    if not user.admin:
        return not_found()
    from dronectl.register import Register

    p = query_params(request, KEYS)
    if p.get("simulated", "false") not in SIMULATED:
        raise BadRequest("bad simulated: true, false or all")
    since, until = parse_date(p.get("since")), parse_date(p.get("until"), end=True)
    entries = Register(a.catalog).entries(since=since, pilot=p.get("pilot"), aircraft=p.get("aircraft"),
                                          service=p.get("service"), simulated=SIMULATED[p.get("simulated", "false")])
    out = []
    for e in reversed(entries):
        if (until is not None and e.takeoff_at > until) or ("mission" in p and e.mission != p["mission"]):
            continue
        d = e.to_dict()
        d["images"] = ("/api/images?" + urlencode({"mission": e.mission, **({"service": e.service} if e.service
                                                                             else {})})) if e.mission else None
        out.append(d)
    return _json({"entries": out, "count": len(out)})


def routes(web) -> list[Route]:
    return [Route("/api/logbook", web.api(logbook))]
