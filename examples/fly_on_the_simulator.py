"""Fly a survey on the built-in test vehicle from Python: what a dronekit user wrote their scripts for.

    .venv/bin/python examples/fly_on_the_simulator.py [OUT_DIR]        (default: ./fly-example)

Plans the `chantier-mediatheque` zone, starts the built-in ArduCopter stand-in (sped up 30x), uploads and
verifies the mission, flies it with a progress callback, then does a short hop "by hand" (GUIDED, arm,
take-off, return to launch) and prints the flight record. To fly a real drone or ArduPilot SITL instead, give
`api.connect` its connection string (`tcp:127.0.0.1:5760`, `/dev/ttyUSB0,57600`...) and leave out the simulator.
"""

import json
import sys
from pathlib import Path

from dronectl import api

out = Path(sys.argv[1] if len(sys.argv) > 1 else "fly-example")
out.mkdir(parents=True, exist_ok=True)

# 1. Plan: the same planner as `dronectl plan survey` (SurveyParams fields as keyword arguments).
plan = api.plan_survey(zone="chantier-mediatheque", camera="sim", altitude_m=40)
mission = plan.missions[0]
api.write_plan(mission, out / "mediatheque.plan")
print(f"planned {plan.summary.photos} photos in {len(mission.items)} mission items")

# 2. A vehicle: the built-in simulator at the plan's take-off point.
with api.simulator(home=mission.home, speedup=30) as sim, api.connect(sim.connection_string) as drone:
    drone.wait_ready()  # heartbeat came with connect(); now a GPS fix
    print("vehicle at", drone.position())

    # 3. Fly the survey: upload + read-back check, GUIDED, arm, take-off, AUTO, land. Ctrl-C returns to launch.
    last = [-1]

    def progress(done, total, text):  # called several times a second; print when an item is reached
        if done != last[0]:
            last[0] = done
            print(f"  item {done}/{total}: {text}", flush=True)

    record = drone.fly(mission, progress=progress, log_path=out / "flight.tlog")

    # 4. The same vehicle "by hand", as dronekit scripts did it (simple_takeoff, mode = RTL...).
    drone.set_mode("GUIDED")
    drone.arm()
    drone.takeoff(15)
    print(f"hop: reached {drone.wait_altitude(15):.1f} m")
    drone.rtl()
    drone.wait_landed()
    print("hop: landed at", drone.position())

# 5. The flight record: planned vs flown, camera events (where each photo was taken).
summary = record.to_dict(track=False)
(out / "flight.json").write_text(json.dumps(record.to_dict(), indent=2))
print(json.dumps({k: summary[k] for k in ("duration_s", "distance_m", "items_reached", "items_total", "photos",
                                          "battery_used_pct", "landed")}, indent=2))
print(f"photos taken: {record.photos} of {plan.summary.photos} planned; record in {out / 'flight.json'}")
