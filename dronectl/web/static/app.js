// dronectl web map: plain JavaScript over the JSON API (/api/...), Leaflet from the xstatic-leaflet package.
// Footprints are drawn on one canvas (L.canvas) so that ten thousand of them stay smooth; at low zoom a coverage
// grid (how many photos saw each place) replaces thousands of outlines. Mosaics are XYZ tiles read from their COGs.
// Everything shown from the catalogue goes through textContent, never innerHTML.
"use strict";

(function () {
  const COLORS = { police: "#c1121f", communication: "#7b2cbf", technical: "#0077b6" };
  const CATEGORY_COLORS = { defect: "#d62828", works: "#f77f00", other: "#2a9d8f" };
  const MAX_FEATURES = 20000;   // the page stops following `next` links past this many footprints
  const COVERAGE_BELOW_ZOOM = 15; // under this zoom, with many footprints, show the coverage grid instead
  const COVERAGE_MIN_FEATURES = 300;
  const FLAG_TEXT = {
    nadir_assumed: "footprint assumed nadir (no gimbal attitude)",
    clamped_near_horizon: "footprint clamped near the horizon",
    yaw_unknown: "heading unknown (north up assumed)",
    height_unknown: "height unknown (camera position only)",
    intrinsics_assumed: "camera unknown (generic lens assumed)",
    truncated: "file truncated (part of the image missing)",
  };
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) e.append(c);
    return e;
  };

  const map = L.map("map", { preferCanvas: true, zoomControl: true }).setView([49.3817, 3.3236], 14);
  const canvas = L.canvas({ padding: 0.5, tolerance: 3 });
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  const zoneLayer = L.layerGroup().addTo(map);
  const trackLayer = L.layerGroup().addTo(map);
  const mosaicLayer = L.layerGroup().addTo(map);  // each mission's mosaic, under the footprints
  const coverageLayer = L.layerGroup();
  const annotationLayer = L.layerGroup().addTo(map);
  let footprints = null, features = [], selection = [], selIndex = 0, selectedLayer = null, zones = {};
  let missions = [], me = null, footprintOpacity = 1, footprintsOn = true;
  window.dronectl = { map: map, layers: () => footprints };  // for scripts and the browser tests

  async function getJSON(url, options) {
    const r = await fetch(url, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } },
      options || {}));
    if (r.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
    if (r.status === 204) return null;
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }
  const postJSON = (url, obj) => getJSON(url, { method: "POST", body: JSON.stringify(obj),
    headers: { Accept: "application/json", "Content-Type": "application/json" } });

  // --- filters, URL state -------------------------------------------------------------------------
  const FILTERS = ["service", "zone", "since", "until", "mission", "camera"];
  function filterQuery() {
    const q = new URLSearchParams();
    for (const name of FILTERS) {
      const v = $("f-" + name).value.trim();
      if (v) q.set(name, v);
    }
    return q;
  }
  function saveState() {  // ?zone=…&compare=A,B: a view one can share
    const q = filterQuery();
    if (compare) q.set("compare", compare.ids.join(","));
    history.replaceState(null, "", q.toString() ? "?" + q : window.location.pathname);
  }
  const initial = new URLSearchParams(window.location.search);

  function addOption(select, value, text) {
    const known = [...select.options].find((o) => o.value === value);
    if (known) known.textContent = text;
    else select.appendChild(el("option", { value: value, textContent: text }));
  }

  // --- the header on a phone: filters collapse into a drawer ---------------------------------------
  $("filters-toggle").addEventListener("click", () => {
    const open = !document.body.classList.contains("drawer-open");
    document.body.classList.toggle("drawer-open", open);
    $("filters-toggle").setAttribute("aria-expanded", String(open));
    map.invalidateSize();
  });

  // --- map controls: legend and footprints, tools -------------------------------------------------
  const Legend = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      const box = el("div", { className: "leaflet-control legend" });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      box.append(el("strong", { textContent: "Footprints" }));
      for (const [service, color] of Object.entries(COLORS)) {
        const swatch = el("span", { className: "swatch" });
        swatch.style.background = color;
        box.append(el("div", { className: "legend-row service-" + service }, swatch, service));
      }
      const show = el("input", { type: "checkbox", checked: true, id: "fp-show" });
      show.addEventListener("change", () => { footprintsOn = show.checked; drawFootprintsOrCoverage(); });
      const fade = el("input", { type: "range", min: 0, max: 100, value: 100, id: "fp-opacity" });
      fade.setAttribute("aria-label", "Footprint opacity");
      fade.addEventListener("input", () => { footprintOpacity = fade.value / 100; restyle(); });
      box.append(el("label", { className: "legend-row" }, show, " show"), el("label", { className: "legend-row" },
        "fade ", fade));
      const mos = el("input", { type: "checkbox", checked: true, id: "mosaic-show" });
      mos.addEventListener("change", () => (mos.checked ? map.addLayer(mosaicLayer) : map.removeLayer(mosaicLayer)));
      const trk = el("input", { type: "checkbox", checked: true, id: "track-show" });
      trk.addEventListener("change", () => (trk.checked ? map.addLayer(trackLayer) : map.removeLayer(trackLayer)));
      const ann = el("input", { type: "checkbox", checked: true, id: "annotation-show" });
      ann.addEventListener("change", () => (ann.checked ? map.addLayer(annotationLayer)
        : map.removeLayer(annotationLayer)));
      box.append(el("label", { className: "legend-row" }, mos, " mosaics"),
        el("label", { className: "legend-row" }, trk, " tracks"),
        el("label", { className: "legend-row" }, ann, " annotations"));
      box.append(el("div", { className: "legend-row coverage-key", id: "coverage-key", hidden: true },
        el("span", { className: "ramp" }), el("span", { id: "coverage-max" })));
      return box;
    },
  });
  new Legend().addTo(map);

  const Tools = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      const box = el("div", { className: "leaflet-control leaflet-bar tools" });
      L.DomEvent.disableClickPropagation(box);
      for (const [id, label, title] of [["m-line", "↔", "Measure a distance"], ["m-area", "⬠", "Measure an area"],
        ["m-point", "⊕", "Coordinates of a point"], ["a-point", "⚑", "Annotate a point"],
        ["a-line", "✎", "Annotate a line"], ["a-polygon", "▱", "Annotate an area"]]) {
        const b = el("a", { href: "#", id: "tool-" + id, title: title, textContent: label, role: "button" });
        b.setAttribute("aria-label", title);
        b.addEventListener("click", (e) => { e.preventDefault(); startTool(id); });
        box.append(b);
      }
      return box;
    },
  });
  new Tools().addTo(map);

  // --- the user, zones, missions ------------------------------------------------------------------
  async function loadMe() {
    me = await getJSON("/api/me");
    $("who").textContent = `${me.name} (${me.service}${me.admin ? ", admin" : ""})`;
    $("logbook-open").hidden = !me.admin;  // /api/logbook answers admins only
    for (const s of me.services) addOption($("f-service"), s, s);
    if (me.tiles) L.tileLayer(me.tiles, { maxZoom: 21, attribution: "basemap" }).addTo(map);
  }

  async function loadZones() {
    const fc = await getJSON("/api/zones");
    for (const f of fc.features) {
      const layer = L.geoJSON(f, { interactive: false, renderer: canvas,
        style: { color: "#333", weight: 2, dashArray: "6 4", fill: false } }).addTo(zoneLayer);
      zones[f.properties.name] = layer;
      L.tooltip({ permanent: true, direction: "center", className: "zone-label", interactive: false })
        .setLatLng(layer.getBounds().getCenter()).setContent(f.properties.name).addTo(zoneLayer);
      addOption($("f-zone"), f.properties.name, f.properties.name);
    }
  }

  async function loadMissions() {
    const fc = await getJSON("/api/missions");
    missions = fc.features.map((f) => ({ id: f.id, p: f.properties, geometry: f.geometry }));
    for (const m of missions) addOption($("f-mission"), m.p.mission, `${m.p.mission} (${m.p.service}, ${m.p.images})`);
  }

  // mosaics and tracks follow the filters: a mission shows when it matches them
  function missionMatches(m, q) {
    if (q.get("mission") && m.p.mission !== q.get("mission")) return false;
    if (q.get("service") && m.p.service !== q.get("service")) return false;
    if (q.get("since") && m.p.last && m.p.last.slice(0, 10) < q.get("since")) return false;
    if (q.get("until") && m.p.first && m.p.first.slice(0, 10) > q.get("until")) return false;
    if (q.get("zone") && zones[q.get("zone")] && m.p.mosaic) {
      const [w, s, e, n] = m.p.mosaic.bounds;
      if (!zones[q.get("zone")].getBounds().intersects(L.latLngBounds([s, w], [n, e]))) return false;
    }
    return true;
  }
  function mosaicLayerOf(m, pane) {
    const [w, s, e, n] = m.p.mosaic.bounds;
    return L.tileLayer(m.p.mosaic.tiles, { bounds: [[s, w], [n, e]], maxNativeZoom: m.p.mosaic.maxzoom,
      maxZoom: 22, className: "mosaic", pane: pane || "tilePane", attribution: `${m.p.mission} mosaic` });
  }
  function drawMissions(q) {
    trackLayer.clearLayers();
    mosaicLayer.clearLayers();
    for (const m of missions) {
      if (!missionMatches(m, q)) continue;
      if (m.geometry) {
        L.geoJSON({ type: "Feature", geometry: m.geometry, properties: m.p }, { interactive: false, renderer: canvas,
          style: { color: COLORS[m.p.service] || "#555", weight: 1.5, opacity: 0.7 } }).addTo(trackLayer);
      }
      if (m.p.mosaic && !compare) mosaicLayerOf(m).addTo(mosaicLayer);
    }
  }

  // --- footprints and the coverage grid -------------------------------------------------------------
  function style(feature) {
    const c = COLORS[feature.properties.service] || "#2a9d8f";
    return { color: c, weight: 1, opacity: 0.9 * footprintOpacity, fillColor: c, fillOpacity: 0.15 * footprintOpacity };
  }
  function restyle() {
    if (!footprints) return;
    footprints.setStyle(style);
    if (selectedLayer) highlight(selectedLayer);
  }
  function highlight(layer) {
    layer.setStyle({ color: "#f77f00", fillColor: "#f77f00", weight: 3, opacity: 1, fillOpacity: 0.35 });
    layer.bringToFront();
  }

  function drawCoverage() {
    coverageLayer.clearLayers();
    const size = map.getSize(), cell = 24;
    const cols = Math.ceil(size.x / cell), rows = Math.ceil(size.y / cell);
    const counts = new Uint32Array(cols * rows);
    for (const f of features) {
      const b = f._bounds;
      const a = map.latLngToContainerPoint([b[3], b[0]]), z = map.latLngToContainerPoint([b[1], b[2]]);
      const c0 = Math.max(0, Math.floor(a.x / cell)), c1 = Math.min(cols - 1, Math.floor(z.x / cell));
      const r0 = Math.max(0, Math.floor(a.y / cell)), r1 = Math.min(rows - 1, Math.floor(z.y / cell));
      for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) counts[r * cols + c]++;
    }
    let max = 0;
    for (const v of counts) max = Math.max(max, v);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = counts[r * cols + c];
        if (!v) continue;
        const nw = map.containerPointToLatLng([c * cell, r * cell]);
        const se = map.containerPointToLatLng([(c + 1) * cell, (r + 1) * cell]);
        const t = Math.log1p(v) / Math.log1p(max);
        L.rectangle([nw, se], { renderer: canvas, interactive: false, weight: 0, fillOpacity: 0.15 + 0.6 * t,
          fillColor: `hsl(${Math.round(200 - 170 * t)}, 80%, 45%)` }).addTo(coverageLayer);
      }
    }
    $("coverage-max").textContent = ` 1 … ${max} photos`;
    document.body.dataset.coverageCells = String(coverageLayer.getLayers().length);
  }

  function drawFootprintsOrCoverage() {
    const coverage = footprintsOn && features.length >= COVERAGE_MIN_FEATURES && map.getZoom() < COVERAGE_BELOW_ZOOM;
    $("coverage-key").hidden = !coverage;
    document.body.dataset.view = !footprintsOn ? "none" : coverage ? "coverage" : "footprints";
    if (coverage) {
      if (footprints) map.removeLayer(footprints);
      map.addLayer(coverageLayer);
      drawCoverage();
    } else {
      map.removeLayer(coverageLayer);
      if (footprints && footprintsOn) map.addLayer(footprints);
      if (footprints && !footprintsOn) map.removeLayer(footprints);
    }
  }
  map.on("zoomend moveend", () => { if (features.length >= COVERAGE_MIN_FEATURES) drawFootprintsOrCoverage(); });

  let ready = null;  // the zones, missions and user: drawn before the footprints

  async function loadImages() {
    const t0 = performance.now();
    const q = filterQuery();
    $("export-geojson").href = "/api/export?" + new URLSearchParams([...q, ["format", "geojson"]]);
    $("export-stac").href = "/api/export?" + new URLSearchParams([...q, ["format", "stac"]]);
    document.body.dataset.footprints = "";
    status("Loading footprints…");
    let url = "/api/images?" + new URLSearchParams([...q, ["limit", "5000"], ["fields", "map"]]);
    const got = [];
    while (url && got.length < MAX_FEATURES) {
      const page = await getJSON(url);
      got.push(...page.features);
      url = page.next;
    }
    const fetched = performance.now();
    await ready;
    for (const f of got) f._bounds = L.geoJSON(f).getBounds().toBBoxString().split(",").map(Number);
    features = got;
    if (footprints) footprints.remove();
    selectedLayer = null;
    footprints = L.geoJSON({ type: "FeatureCollection", features: features }, {
      renderer: canvas, style: style, interactive: false,
    });
    drawMissions(q);
    saveState();
    // show the zone asked for and every footprint found (no animation: the view is final when drawn)
    let view = q.get("zone") && zones[q.get("zone")] ? zones[q.get("zone")].getBounds() : null;
    if (features.length) view = view ? view.extend(footprints.getBounds()) : footprints.getBounds();
    if (view) map.fitBounds(view, { padding: [20, 20], maxZoom: 18, animate: false });
    drawFootprintsOrCoverage();
    requestAnimationFrame(() => {
      document.body.dataset.footprints = String(features.length);
      document.body.dataset.drawMs = String(Math.round(performance.now() - t0));
      document.body.dataset.fetchMs = String(Math.round(fetched - t0));
      document.body.dataset.startMs = String(Math.round(t0));
      document.body.dataset.sinceStartMs = String(Math.round(performance.now()));
      status(`${features.length} image(s)` + (url ? ` (first ${features.length} shown; narrow the filters)` : ""));
    });
  }

  // --- a click: every photo that saw the place, newest first, stepped through ------------------------
  function inRing(lng, lat, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function contains(f, ll) {
    const b = f._bounds;
    if (ll.lng < b[0] || ll.lng > b[2] || ll.lat < b[1] || ll.lat > b[3]) return false;
    const g = f.geometry;
    const polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    return polys.some((p) => inRing(ll.lng, ll.lat, p[0]) && !p.slice(1).some((h) => inRing(ll.lng, ll.lat, h)));
  }
  function photosAt(ll) {
    return features.filter((f) => contains(f, ll))
      .sort((a, b) => (b.properties.captured_at || "").localeCompare(a.properties.captured_at || "") || String(b.id).localeCompare(String(a.id)));
  }
  function layerOf(id) {
    let found = null;
    if (footprints) footprints.eachLayer((l) => { if (l.feature.id === id) found = l; });
    return found;
  }

  function row(dl, term, value) {
    if (value === null || value === undefined || value === "") return;
    const dt = el("dt", { textContent: term }), dd = el("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = String(value);
    dl.append(dt, dd);
  }
  const num = (v, unit, digits) => (v === null || v === undefined ? null : `${Number(v).toFixed(digits)} ${unit}`);

  function openPanel(which) {
    $("p-image").hidden = which !== "image";
    $("p-timeline").hidden = which !== "timeline";
    $("p-logbook").hidden = which !== "logbook";
    $("panel").hidden = false;
    document.body.classList.add("panel-open");
    map.invalidateSize();
  }
  function closePanel() {
    $("panel").hidden = true;
    document.body.classList.remove("panel-open");
    if (selectedLayer) footprints.resetStyle(selectedLayer);
    selectedLayer = null;
    map.invalidateSize();
  }

  async function showSelection(index) {
    selIndex = (index + selection.length) % selection.length;
    const id = selection[selIndex].id;
    if (selectedLayer) footprints.resetStyle(selectedLayer);
    selectedLayer = layerOf(id);
    if (selectedLayer) highlight(selectedLayer);
    $("p-step").hidden = selection.length < 2;
    $("p-count").textContent = `${selIndex + 1} of ${selection.length} photos here`;
    const f = await getJSON(`/api/images/${encodeURIComponent(id)}`);
    const p = f.properties;
    $("p-title").textContent = p.source_name || `image ${f.id}`;
    $("p-thumb").src = f.links.thumbnail;
    $("p-thumb").dataset.file = f.links.file;
    $("p-file").href = f.links.file;
    $("p-download").href = f.links.download;
    $("panel").dataset.image = String(f.id);
    const dl = $("p-meta");
    dl.replaceChildren();
    row(dl, "captured (UTC)", p.captured_at ? p.captured_at.replace("T", " ").slice(0, 19) : "unknown");
    row(dl, "height", num(p.height_m, "m", 1));
    row(dl, "camera", p.camera || p.model);
    row(dl, "service", p.service);
    row(dl, "mission", p.mission);
    if (p.pitch_deg !== null || p.yaw_deg !== null || p.roll_deg !== null) {
      row(dl, "gimbal", [["pitch", p.pitch_deg], ["yaw", p.yaw_deg], ["roll", p.roll_deg]]
        .filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k} ${Number(v).toFixed(1)}°`).join(", "));
    }
    row(dl, "size", p.width_px ? `${p.width_px} × ${p.height_px} px` : null);
    if (p.flags && p.flags.length) {
      const span = el("span");
      for (const flag of p.flags) span.appendChild(el("span", { className: "flag", textContent: FLAG_TEXT[flag] || flag }));
      row(dl, "flags", span);
    }
    if (p.holds && p.holds.length) row(dl, "legal hold", p.holds.join("; "));
    row(dl, "id", f.id);
    openPanel("image");
  }
  $("p-prev").addEventListener("click", () => showSelection(selIndex - 1));
  $("p-next").addEventListener("click", () => showSelection(selIndex + 1));
  $("panel-close").addEventListener("click", closePanel);

  // --- the photo viewer: the thumbnail at once, then the full file, panned and zoomed ----------------
  const view = { scale: 1, x: 0, y: 0 };
  function applyView() {
    $("v-img").style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    $("v-zoom").textContent = `${Math.round(view.scale * 100)} %`;
    $("viewer").dataset.scale = String(view.scale);
  }
  function fit() {
    const img = $("v-img"), stage = $("v-stage").getBoundingClientRect();
    if (!img.naturalWidth) return;
    view.scale = Math.min(stage.width / img.naturalWidth, stage.height / img.naturalHeight, 1);
    view.x = (stage.width - img.naturalWidth * view.scale) / 2;
    view.y = (stage.height - img.naturalHeight * view.scale) / 2;
    applyView();
  }
  function zoomAt(factor, cx, cy) {
    const s = Math.min(8, Math.max(0.05, view.scale * factor));
    view.x = cx - ((cx - view.x) * s) / view.scale;
    view.y = cy - ((cy - view.y) * s) / view.scale;
    view.scale = s;
    applyView();
  }
  function openViewer() {
    const img = $("v-img");
    $("viewer").hidden = false;
    $("viewer").dataset.full = "";
    $("v-title").textContent = $("p-title").textContent;
    img.onload = () => {
      fit();
      if (img.src.endsWith("/thumbnail")) {
        const full = new Image();
        full.onload = () => { img.onload = () => { fit(); $("viewer").dataset.full = String(img.naturalWidth); };
          img.src = full.src; };
        full.src = $("p-thumb").dataset.file;
      }
    };
    img.src = $("p-thumb").src;
  }
  $("p-view").addEventListener("click", (e) => { e.preventDefault(); openViewer(); });
  $("p-thumb").addEventListener("click", openViewer);
  $("v-close").addEventListener("click", () => { $("viewer").hidden = true; });
  $("v-fit").addEventListener("click", fit);
  $("v-one").addEventListener("click", () => {
    const r = $("v-stage").getBoundingClientRect();
    zoomAt(1 / view.scale, r.width / 2, r.height / 2);
  });
  $("v-stage").addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = $("v-stage").getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  const pointers = new Map();
  let pinch = 0;
  $("v-stage").addEventListener("pointerdown", (e) => { $("v-stage").setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, [e.clientX, e.clientY]); });
  $("v-stage").addEventListener("pointermove", (e) => {
    if (!pointers.has(e.pointerId)) return;
    const [px, py] = pointers.get(e.pointerId);
    pointers.set(e.pointerId, [e.clientX, e.clientY]);
    if (pointers.size === 1) { view.x += e.clientX - px; view.y += e.clientY - py; applyView(); return; }
    const [a, b] = [...pointers.values()];
    const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
    if (pinch) {
      const r = $("v-stage").getBoundingClientRect();
      zoomAt(d / pinch, (a[0] + b[0]) / 2 - r.left, (a[1] + b[1]) / 2 - r.top);
    }
    pinch = d;
  });
  const release = (e) => { pointers.delete(e.pointerId); pinch = 0; };
  $("v-stage").addEventListener("pointerup", release);
  $("v-stage").addEventListener("pointercancel", release);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("viewer").hidden) $("viewer").hidden = true;
    else if (e.key === "Escape" && tool) stopTool();
  });

  // --- tools: measure (metres in the local projected CRS, computed by the server) and annotate ---------
  let tool = null;  // {id, kind, points: [LatLng], layer}
  const toolLayer = L.layerGroup().addTo(map);
  const ToolBox = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd: function () {
      const box = el("div", { className: "leaflet-control toolbox", id: "toolbox", hidden: true });
      L.DomEvent.disableClickPropagation(box);
      box.append(el("div", { id: "tb-text" }),
        el("div", { id: "tb-form", hidden: true },
          el("select", { id: "tb-category" }, el("option", { value: "defect", textContent: "defect" }),
            el("option", { value: "works", textContent: "works progress" }), el("option", { value: "other", textContent: "other" })),
          el("textarea", { id: "tb-note", rows: 2, placeholder: "note", maxLength: 2000 }),
          el("button", { type: "button", id: "tb-save", textContent: "Save" })),
        el("button", { type: "button", id: "tb-finish", textContent: "Finish" }),
        el("button", { type: "button", id: "tb-cancel", textContent: "Cancel" }));
      return box;
    },
  });
  new ToolBox().addTo(map);
  const KIND = { "m-line": "LineString", "m-area": "Polygon", "m-point": "Point", "a-point": "Point",
    "a-line": "LineString", "a-polygon": "Polygon" };

  function startTool(id) {
    stopTool();
    tool = { id: id, kind: KIND[id], points: [], done: false };
    map.doubleClickZoom.disable();
    $("toolbox").hidden = false;
    $("tb-form").hidden = true;
    $("tb-finish").hidden = tool.kind === "Point";
    $("tb-text").textContent = tool.kind === "Point" ? "Click a point on the map."
      : "Click the vertices on the map, then Finish.";
    document.body.dataset.tool = id;
    map.getContainer().classList.add("drawing");
  }
  function stopTool() {
    tool = null;
    toolLayer.clearLayers();
    $("toolbox").hidden = true;
    delete document.body.dataset.tool;
    map.doubleClickZoom.enable();
    map.getContainer().classList.remove("drawing");
  }
  function toolGeometry() {
    const c = tool.points.map((p) => [p.lng, p.lat]);
    if (tool.kind === "Point") return { type: "Point", coordinates: c[0] };
    if (tool.kind === "LineString") return { type: "LineString", coordinates: c };
    return { type: "Polygon", coordinates: [c.concat([c[0]])] };
  }
  function drawTool() {
    toolLayer.clearLayers();
    const pts = tool.points;
    if (tool.kind === "Point" || pts.length === 1) {
      L.circleMarker(pts[0], { radius: 5, color: "#f77f00", renderer: canvas }).addTo(toolLayer);
    } else if (tool.kind === "LineString") {
      L.polyline(pts, { color: "#f77f00", weight: 3 }).addTo(toolLayer);
    } else {
      L.polygon(pts, { color: "#f77f00", weight: 3, fillOpacity: 0.15 }).addTo(toolLayer);
    }
  }
  const fmt = (v, d) => Number(v).toLocaleString("en-GB", { maximumFractionDigits: d, minimumFractionDigits: d });
  async function measureTool() {
    const enough = tool.kind === "Point" ? 1 : tool.kind === "LineString" ? 2 : 3;
    if (tool.points.length < enough) return;
    const m = await postJSON("/api/measure", toolGeometry());
    let text;
    if (m.kind === "Point") text = `x ${fmt(m.xy[0][0], 1)} m, y ${fmt(m.xy[0][1], 1)} m (${m.crs})`;
    else if (m.kind === "LineString") text = `${fmt(m.length_m, 1)} m (${m.crs})`;
    else text = `${fmt(m.area_m2, 0)} m², perimeter ${fmt(m.length_m, 1)} m (${m.crs})`;
    $("tb-text").textContent = text;
    document.body.dataset.measure = JSON.stringify(m);
  }
  async function finishTool() {
    if (!tool) return;
    const enough = tool.kind === "Point" ? 1 : tool.kind === "LineString" ? 2 : 3;
    if (tool.points.length < enough) { status(`Give at least ${enough} points.`); return; }
    tool.done = true;
    if (tool.id.startsWith("m-")) { await measureTool(); return; }
    $("tb-text").textContent = "Describe it, then Save.";
    $("tb-form").hidden = false;
    $("tb-finish").hidden = true;
    $("tb-note").focus();
  }
  map.on("click", (e) => {
    if (tool && !tool.done) {
      tool.points.push(e.latlng);
      drawTool();
      if (tool.kind === "Point") { finishTool().catch((err) => status(err.message)); return; }
      if (tool.id.startsWith("m-")) measureTool().catch((err) => status(err.message));
      return;
    }
    if (tool) return;
    selection = photosAt(e.latlng);
    if (selection.length) showSelection(0).catch((err) => status(err.message));
  });
  $("tb-finish").addEventListener("click", () => finishTool().catch((err) => status(err.message)));
  $("tb-cancel").addEventListener("click", stopTool);
  $("tb-save").addEventListener("click", async () => {
    try {
      await postJSON("/api/annotations", { type: "Feature", geometry: toolGeometry(),
        properties: { note: $("tb-note").value, category: $("tb-category").value } });
      $("tb-note").value = "";
      stopTool();
      await loadAnnotations();
      status("Annotation saved.");
    } catch (err) { status("Not saved: " + err.message); }
  });

  async function loadAnnotations() {
    const fc = await getJSON("/api/annotations");
    annotationLayer.clearLayers();
    for (const f of fc.features) {
      const color = CATEGORY_COLORS[f.properties.category] || "#333";
      const layer = L.geoJSON(f, { style: { color: color, weight: 3, fillOpacity: 0.2 },
        pointToLayer: (_, ll) => L.circleMarker(ll, { radius: 7, color: color, weight: 3, fillOpacity: 0.6 }) });
      const p = f.properties;
      const box = el("div", { className: "annotation" }, el("strong", { textContent: p.category }),
        el("p", { textContent: p.note || "(no note)" }),
        el("small", { textContent: `${p.author} (${p.service}), ${p.created_at.slice(0, 16).replace("T", " ")} UTC` }));
      if (me && (p.author === me.name || me.admin)) {
        const del = el("button", { type: "button", textContent: "Delete" });
        del.addEventListener("click", async () => {
          try { await getJSON(`/api/annotations/${encodeURIComponent(f.id)}`, { method: "DELETE" }); await loadAnnotations(); }
          catch (err) { status(err.message); }
        });
        box.append(del);
      }
      layer.bindPopup(box);
      layer.addTo(annotationLayer);
    }
    document.body.dataset.annotations = String(fc.features.length);
  }

  // --- timeline and compare --------------------------------------------------------------------------
  let compare = null;  // {ids: [A, B], left, right}
  function timelineMissions() {
    const z = $("f-zone").value;
    const area = z && zones[z] ? zones[z].getBounds() : map.getBounds();
    return missions.filter((m) => {
      const b = m.p.mosaic ? m.p.mosaic.bounds : null;
      if (b) return area.intersects(L.latLngBounds([b[1], b[0]], [b[3], b[2]]));
      return m.geometry && area.intersects(L.geoJSON(m.geometry).getBounds());
    }).sort((a, b) => (a.p.first || "").localeCompare(b.p.first || ""));
  }
  function openTimeline() {
    const z = $("f-zone").value;
    $("t-where").textContent = z || "the map view";
    const list = $("t-list");
    list.replaceChildren();
    for (const m of timelineMissions()) {
      const box = el("input", { type: "checkbox", value: m.id, disabled: !m.p.mosaic });
      box.addEventListener("change", () => {
        const ticked = [...list.querySelectorAll("input:checked")];
        if (ticked.length > 2) box.checked = false;
        $("t-compare").disabled = list.querySelectorAll("input:checked").length !== 2;
      });
      list.append(el("li", {}, el("label", {}, box,
        ` ${(m.p.first || "").slice(0, 10)} — ${m.p.mission} (${m.p.service}, ${m.p.images} photos${m.p.mosaic ? "" : ", no mosaic"})`)));
    }
    if (!list.children.length) list.append(el("li", { textContent: "No mission here." }));
    openPanel("timeline");
  }
  $("timeline-open").addEventListener("click", openTimeline);

  // --- the flight logbook (admins) -----------------------------------------------------------------
  async function openLogbook() {
    const book = await getJSON("/api/logbook");
    const list = $("l-list");
    list.replaceChildren();
    $("l-count").textContent = `${book.count} flight${book.count === 1 ? "" : "s"}, newest first`;
    for (const e of book.entries) {
      const dl = el("dl");
      row(dl, "Pilot", e.pilot);
      row(dl, "Aircraft", e.aircraft || "(not registered)");
      row(dl, "Landed", (e.landing_at || "").replace("T", " ").slice(0, 16));
      row(dl, "Duration", num(e.duration_s / 60, "min", 1));
      row(dl, "Height", num(e.max_height_m, "m", 0));
      row(dl, "Service", e.service);
      row(dl, "Purpose", e.purpose);
      row(dl, "Photos", e.photos);
      if (e.events && e.events.length) row(dl, "Events", e.events.join("; "));
      const item = el("li", {}, el("strong", { textContent: `${(e.takeoff_at || "").replace("T", " ").slice(0, 16)}`
        + (e.mission ? ` — ${e.mission}` : "") }), dl);
      const known = [...$("f-mission").options].some((o) => o.value === e.mission);
      if (e.mission && known) {
        const show = el("button", { type: "button", textContent: "Show its images" });
        show.addEventListener("click", () => {
          $("f-mission").value = e.mission;
          $("f-service").value = "";
          loadImages().catch((err) => status(err.message));
        });
        item.append(show);
      }
      list.append(item);
    }
    if (!book.entries.length) list.append(el("li", { textContent: "No flight recorded." }));
    openPanel("logbook");
  }
  $("logbook-open").addEventListener("click", () => openLogbook().catch((err) => status(err.message)));
  $("t-compare").addEventListener("click", () => {
    const ids = [...$("t-list").querySelectorAll("input:checked")].map((i) => i.value);
    startCompare(ids);
  });
  $("t-stop").addEventListener("click", stopCompare);

  if (!map.getPane("compareLeft")) { map.createPane("compareLeft"); map.createPane("compareRight"); }
  function clipCompare() {
    if (!compare) return;
    const ratio = $("swipe-range").value / 100;
    const size = map.getSize();
    const nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
    const x = nw.x + size.x * ratio;
    map.getPane("compareLeft").style.clip = `rect(${nw.y}px, ${x}px, ${se.y}px, ${nw.x}px)`;
    map.getPane("compareRight").style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${x}px)`;
    $("swipe-line").style.left = `${ratio * 100}%`;
    document.body.dataset.swipe = String(ratio);
  }
  function startCompare(ids) {
    const found = ids.map((id) => missions.find((m) => m.id === id && m.p.mosaic));
    if (found.length !== 2 || found.some((m) => !m)) { status("Compare needs two missions with a mosaic."); return; }
    stopCompare(true);
    found.sort((a, b) => (a.p.first || "").localeCompare(b.p.first || ""));
    compare = { ids: found.map((m) => m.id), left: mosaicLayerOf(found[0], "compareLeft"),
      right: mosaicLayerOf(found[1], "compareRight") };
    mosaicLayer.clearLayers();
    compare.left.addTo(map);
    compare.right.addTo(map);
    $("swipe").hidden = false;
    $("t-stop").hidden = false;
    document.body.dataset.compare = compare.ids.join(",");
    status(`Left: ${found[0].p.mission} (${(found[0].p.first || "").slice(0, 10)}) — right: ${found[1].p.mission} ` +
      `(${(found[1].p.first || "").slice(0, 10)}). Drag the divider.`);
    const b = found[0].p.mosaic.bounds, c = found[1].p.mosaic.bounds;
    map.fitBounds(L.latLngBounds([b[1], b[0]], [b[3], b[2]]).extend(L.latLngBounds([c[1], c[0]], [c[3], c[2]])),
      { animate: false });
    clipCompare();
    saveState();
  }
  function stopCompare(quiet) {
    if (!compare) return;
    map.removeLayer(compare.left);
    map.removeLayer(compare.right);
    compare = null;
    map.getPane("compareLeft").style.clip = "";
    map.getPane("compareRight").style.clip = "";
    $("swipe").hidden = true;
    $("t-stop").hidden = true;
    delete document.body.dataset.compare;
    if (quiet !== true) { drawMissions(filterQuery()); saveState(); }
  }
  $("swipe-range").addEventListener("input", clipCompare);
  map.on("move zoom resize", clipCompare);

  // --- start -------------------------------------------------------------------------------------------
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadImages().catch((err) => status(err.message)); });
  $("f-zone").addEventListener("change", () => loadImages().catch((err) => status(err.message)));

  for (const name of FILTERS) {  // the shared URL's filters, before anything loads
    const v = initial.get(name);
    if (!v) continue;
    if ($("f-" + name).tagName === "SELECT") addOption($("f-" + name), v, v);
    $("f-" + name).value = v;
  }
  // the footprints are fetched while the rest loads
  ready = Promise.all([loadMe(), loadZones(), loadMissions()]);
  const first = loadImages();
  Promise.all([first, ready.then(loadAnnotations)]).then(() => {
    if (initial.get("compare")) startCompare(initial.get("compare").split(","));
  }).catch((err) => status("Error: " + err.message));
})();
