#!/usr/bin/env bash
# Another town, its own files: zones, airspace and cameras replace Soissons' shipped ones.
#
#   examples/my_city/run.sh [OUT_DIR]          (default: ./my-city-example)
#
# Copy this folder, draw your zones in QGIS (GeoJSON or GeoPackage, any CRS, a `name` per polygon, optional
# `service` and `notes`), put your restriction zones in airspace.geojson (a `ceiling_m` per polygon, metres
# above ground, 0 = forbidden; take them from the official UAS restriction map), and add your cameras.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dronectl="$(command -v dronectl || echo "$here/../../.venv/bin/dronectl")"
out="${1:-my-city-example}"
mkdir -p "$out"
Z=(--zones "$here/zones.geojson")
A=(--airspace "$here/airspace.geojson")
C=(--cameras "$here/cameras.toml")

"$dronectl" zones list "${Z[@]}"
"$dronectl" cameras list "${C[@]}" --json | python3 -c "import json,sys; print('cameras:', ', '.join(c['id'] for c in json.load(sys.stdin)))"

# A street being resurfaced, with the town's own camera at 2 cm/px, the courtyard (a hole) left out.
"$dronectl" plan survey "${Z[@]}" "${C[@]}" "${A[@]}" --zone voirie-rue-exemple --camera mini4pro --gsd 2 \
    -o "$out/voirie.plan" --preview "$out/voirie.png"
"$dronectl" plan check "$out/voirie.plan" "${A[@]}"
echo "plan: $out/voirie.plan  preview: $out/voirie.png"
