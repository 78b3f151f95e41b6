// dronectl web map: plain JavaScript over the JSON API (/api/...), Leaflet from the xstatic-leaflet package.
// Footprints are drawn on one canvas (L.canvas) so that ten thousand of them stay smooth.
// Everything shown from the catalogue goes through textContent, never innerHTML.
"use strict";

(function () {
  const COLORS = { police: "#c1121f", communication: "#7b2cbf", technical: "#0077b6" };
  const MAX_FEATURES = 20000;   // the page stops following `next` links past this many footprints
  const FLAG_TEXT = {
    nadir_assumed: "footprint assumed nadir (no gimbal attitude)",
    clamped_near_horizon: "footprint clamped near the horizon",
    yaw_unknown: "heading unknown (north up assumed)",
    height_unknown: "height unknown (camera position only)",
    intrinsics_assumed: "camera unknown (generic lens assumed)",
  };
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };

  const map = L.map("map", { preferCanvas: true, zoomControl: true }).setView([49.3817, 3.3236], 14);
  const canvas = L.canvas({ padding: 0.5, tolerance: 3 });
  L.control.scale({ imperial: false }).addTo(map);
  const zoneLayer = L.layerGroup().addTo(map);
  const trackLayer = L.layerGroup().addTo(map);
  const mosaicLayer = L.layerGroup().addTo(map);  // each mission's mosaic, under the footprints
  L.control.layers(null, { "Mission mosaics": mosaicLayer, "Mission tracks": trackLayer }).addTo(map);
  let footprints = null, selected = null, zones = {};
  window.dronectl = { map: map, layers: () => footprints };  // for scripts and the browser tests

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  function filterQuery() {
    const q = new URLSearchParams();
    for (const name of ["service", "zone", "since", "until", "mission", "camera"]) {
      const v = $("f-" + name).value.trim();
      if (v) q.set(name, v);
    }
    return q;
  }

  function addOption(select, value, text) {
    const o = document.createElement("option");
    o.value = value; o.textContent = text;
    select.appendChild(o);
  }

  async function loadMe() {
    const me = await getJSON("/api/me");
    $("who").textContent = `${me.name} (${me.service}${me.admin ? ", admin" : ""})`;
    for (const s of me.services) addOption($("f-service"), s, s);
    if (me.tiles) L.tileLayer(me.tiles, { maxZoom: 21, attribution: "basemap" }).addTo(map);
  }

  async function loadZones() {
    const fc = await getJSON("/api/zones");
    for (const f of fc.features) {
      const layer = L.geoJSON(f, { interactive: false, renderer: canvas,
        style: { color: "#333", weight: 2, dashArray: "6 4", fill: false } }).addTo(zoneLayer);
      zones[f.properties.name] = layer;
      addOption($("f-zone"), f.properties.name, f.properties.name);
    }
  }

  async function loadMissions() {
    const fc = await getJSON("/api/missions");
    for (const f of fc.features) {
      const p = f.properties;
      addOption($("f-mission"), p.mission, `${p.mission} (${p.service}, ${p.images})`);
      if (f.geometry) {
        L.geoJSON(f, { interactive: false, renderer: canvas,
          style: { color: COLORS[p.service] || "#555", weight: 1.5, opacity: 0.7 } }).addTo(trackLayer);
      }
      if (p.mosaic) {  // XYZ tiles read from the mosaic's COG, at full resolution when zoomed in
        const [w, s, e, n] = p.mosaic.bounds;
        L.tileLayer(p.mosaic.tiles, { bounds: [[s, w], [n, e]], maxNativeZoom: p.mosaic.maxzoom, maxZoom: 22,
          className: "mosaic", attribution: `${p.mission} mosaic` }).addTo(mosaicLayer);
      }
    }
  }

  function style(feature) {
    const c = COLORS[feature.properties.service] || "#2a9d8f";
    return { color: c, weight: 1, opacity: 0.9, fillColor: c, fillOpacity: 0.15 };
  }

  let ready = null;  // the zones, missions and user: drawn before the footprints

  async function loadImages() {
    const t0 = performance.now();
    const q = filterQuery();
    $("export-geojson").href = "/api/export?" + new URLSearchParams([...q, ["format", "geojson"]]);
    $("export-stac").href = "/api/export?" + new URLSearchParams([...q, ["format", "stac"]]);
    document.body.dataset.footprints = "";
    status("Loading footprints…");
    let url = "/api/images?" + new URLSearchParams([...q, ["limit", "5000"], ["fields", "map"]]);
    const features = [];
    while (url && features.length < MAX_FEATURES) {
      const page = await getJSON(url);
      features.push(...page.features);
      url = page.next;
    }
    const fetched = performance.now();
    await ready;
    if (footprints) footprints.remove();
    footprints = L.geoJSON({ type: "FeatureCollection", features: features }, {
      renderer: canvas, style: style,
      onEachFeature: (f, layer) => layer.on("click", () => showImage(f.id, layer)),
    }).addTo(map);
    // show the zone asked for and every footprint found (no animation: the view is final when drawn)
    let view = q.get("zone") && zones[q.get("zone")] ? zones[q.get("zone")].getBounds() : null;
    if (features.length) view = view ? view.extend(footprints.getBounds()) : footprints.getBounds();
    if (view) map.fitBounds(view, { padding: [20, 20], maxZoom: 18, animate: false });
    requestAnimationFrame(() => {
      document.body.dataset.footprints = String(features.length);
      document.body.dataset.drawMs = String(Math.round(performance.now() - t0));
      document.body.dataset.fetchMs = String(Math.round(fetched - t0));
      document.body.dataset.startMs = String(Math.round(t0));
      document.body.dataset.sinceStartMs = String(Math.round(performance.now()));
      status(`${features.length} image(s)` + (url ? ` (first ${features.length} shown; narrow the filters)` : ""));
    });
  }

  function row(dl, term, value) {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = term;
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = String(value);
    dl.append(dt, dd);
  }

  const num = (v, unit, digits) => (v === null || v === undefined ? null : `${Number(v).toFixed(digits)} ${unit}`);

  async function showImage(id, layer) {
    if (selected) footprints.resetStyle(selected);
    selected = layer;
    layer.setStyle({ color: "#f77f00", fillColor: "#f77f00", weight: 3, fillOpacity: 0.35 });
    layer.bringToFront();
    const f = await getJSON(`/api/images/${encodeURIComponent(id)}`);
    const p = f.properties;
    $("p-title").textContent = p.source_name || `image ${f.id}`;
    $("p-thumb").src = f.links.thumbnail;
    $("p-file").href = f.links.file;
    $("p-download").href = f.links.download;
    const dl = $("p-meta");
    dl.replaceChildren();
    row(dl, "captured (UTC)", p.captured_at ? p.captured_at.replace("T", " ").slice(0, 19) : "unknown");
    row(dl, "height", num(p.height_m, "m", 1));
    row(dl, "camera", p.camera || p.model);
    row(dl, "service", p.service);
    row(dl, "mission", p.mission);
    if (p.pitch_deg !== null || p.yaw_deg !== null || p.roll_deg !== null) {
      row(dl, "gimbal", [["pitch", p.pitch_deg], ["yaw", p.yaw_deg], ["roll", p.roll_deg]]
        .filter(([, v]) => v !== null).map(([k, v]) => `${k} ${Number(v).toFixed(1)}°`).join(", "));
    }
    row(dl, "size", p.width_px ? `${p.width_px} × ${p.height_px} px` : null);
    if (p.flags.length) {
      const span = document.createElement("span");
      for (const flag of p.flags) {
        const s = document.createElement("span");
        s.className = "flag"; s.textContent = FLAG_TEXT[flag] || flag;
        span.appendChild(s);
      }
      row(dl, "flags", span);
    }
    if (p.hold_reason) row(dl, "legal hold", p.hold_reason);
    row(dl, "id", f.id);
    $("panel").hidden = false;
    map.invalidateSize();
  }

  $("panel-close").addEventListener("click", () => {
    $("panel").hidden = true;
    if (selected) footprints.resetStyle(selected);
    selected = null;
    map.invalidateSize();
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadImages().catch((err) => status(err.message)); });
  $("f-zone").addEventListener("change", () => loadImages().catch((err) => status(err.message)));

  // the footprints are fetched while the rest loads
  ready = Promise.all([loadMe(), loadZones(), loadMissions()]);
  Promise.all([ready, loadImages()]).catch((err) => status("Error: " + err.message));
})();
