#!/usr/bin/env bash
# Plan a survey over a shipped Soissons zone, check it, export it, and look at it.
#
#   examples/plan_and_check.sh [OUT_DIR]        (default: ./plan-example)
#
# Uses the `dronectl` on your PATH, or the project's .venv/bin/dronectl (run `make venv` once).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dronectl="$(command -v dronectl || echo "$here/../.venv/bin/dronectl")"
out="${1:-plan-example}"
mkdir -p "$out"

# 1. What zones are there? (the shipped, illustrative Soissons file; --zones FILE for your own)
"$dronectl" zones list

# 2. Plan the abbey at 1.5 cm/px with the DJI Mavic 3 Enterprise, 80/70 % overlap (the defaults),
#    the quickest line bearing, a PNG preview beside the plan. --json prints the summary for scripts.
"$dronectl" plan survey --zone abbaye-saint-jean-des-vignes --camera mavic3e --gsd 1.5 \
    -o "$out/abbaye.plan" --preview "$out/abbaye.png" --json > "$out/abbaye-summary.json"
python3 - "$out/abbaye-summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"planned: {s['photos']} photos, {s['length_m']:.0f} m, {s['duration_s'] / 60:.1f} min, "
      f"{s['sorties']} sortie(s), coverage {100 * s['coverage']:.1f} %")
PY

# 3. The preflight checks: 120 m, airspace ceilings, geofence, battery, capacity, line of sight (500 m).
#    Exit 0 when every check passes, 1 when one fails (each failure is one line on stderr).
"$dronectl" plan check "$out/abbaye.plan" --vlos 500

# 4. Export for other tools: Mission Planner's .waypoints, KML for Google Earth / QGIS.
"$dronectl" plan export "$out/abbaye.plan" --format waypoints -o "$out/abbaye.waypoints"
"$dronectl" plan export "$out/abbaye.plan" --format kml -o "$out/abbaye.kml"

# 5. Look at it: the PNG shows the zone, the flight lines and the photo positions.
echo "plan:      $out/abbaye.plan (open it in QGroundControl as it is)"
echo "preview:   $out/abbaye.png"
echo "waypoints: $out/abbaye.waypoints"
echo "kml:       $out/abbaye.kml"
