// The meeting points (clustered), the person's own track and the venue's places on a Leaflet map. Leaflet and
// leaflet.markercluster are installed by npm and loaded by index.html from /vendor/ as window.L; a base map is
// drawn only when config.tileUrl is set (none offline: the venue layer alone).
import { getPlaces } from "./api.js";
import { h } from "./dom.js";
import config from "/config.js";
import { formatPlace, formatSpan, fullName, meetingSentence } from "./format.js";

const METERS_PER_DEGREE = 111320;
const MIN_SPAN_M = 40; // a single point still gets a sensible neighbourhood around it
const MAX_ZOOM = 22; // a booth is a few metres: past the tiles' 19, the venue layer still scales
// Place kinds named on the map itself; booths are named on hover, there are too many to label at once.
const LABELLED = new Set(["hall", "room", "stage", "food", "coffee", "lobby", "entrance"]);
const MAJOR = new Set(["hall", "stage", "food"]); // the only names shown when the whole venue is in view
const DETAIL_ZOOM = 19; // from here on rooms, coffee bars and entrances have room for their names

let current = null; // one map at a time: the previous search's map is removed with its listeners

function finite(loc) {
  return Number.isFinite(Number(loc?.latitude)) && Number.isFinite(Number(loc?.longitude));
}

/** [[south, west], [north, east]] around the locations, at least MIN_SPAN_M on each side. */
export function boundsOf(locations) {
  const lats = locations.map((l) => Number(l.latitude));
  const lons = locations.map((l) => Number(l.longitude));
  const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  const lon0 = (Math.min(...lons) + Math.max(...lons)) / 2;
  const halfLat = Math.max(Math.max(...lats) - Math.min(...lats), MIN_SPAN_M / METERS_PER_DEGREE) / 2;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const halfLon = Math.max(Math.max(...lons) - Math.min(...lons), MIN_SPAN_M / (METERS_PER_DEGREE * k)) / 2;
  return [[lat0 - halfLat, lon0 - halfLon], [lat0 + halfLat, lon0 + halfLon]];
}

function venueLayer(L, geojson) {
  return L.geoJSON(geojson, {
    interactive: true,
    style: (f) => ({ className: `place place-${f.properties?.kind || "other"}` }),
    onEachFeature: (f, layer) => {
      const { name, kind } = f.properties || {};
      if (name) {
        layer.bindTooltip(name, { permanent: LABELLED.has(kind), direction: "center",
          className: `place-label${MAJOR.has(kind) ? "" : " minor"}` });
      }
      layer.on("add", () => {
        const el = layer.getElement();
        el?.setAttribute("data-testid", "venue-place");
        if (f.id !== undefined) el?.setAttribute("data-place-id", String(f.id));
      });
    },
  });
}

function unavailable(message) {
  return { el: h("div", { class: "map-wrap" }, h("p", { class: "status", "data-testid": "map-unavailable" }, message)),
    select() {} };
}

/** "speed 2, late 1": how many of `fixes` persist did not believe, by its reason (udaconnect.plausibility). */
function byReason(fixes) {
  const counts = new Map();
  for (const l of fixes) counts.set(l.untrusted, (counts.get(l.untrusted) || 0) + 1);
  return [...counts].map(([reason, n]) => `${reason} ${n}`).join(", ");
}

export function renderMap({ encounters, track, onSelect, timeZone, together = true }) {
  current?.remove();
  current = null;
  const L = window.L;
  const own = (track || []).filter(finite);
  const meetings = encounters.filter((e) => finite(e.location));
  if (!meetings.length && !own.length) return { el: h("div", {}), select() {} };
  if (!L?.markerClusterGroup) {
    return unavailable("The map library is not installed on this server (npm ci): the list and timeline show every meeting.");
  }
  const card = h("div", { class: "map-card", "data-testid": "map-card", "aria-live": "polite" },
    !meetings.length ? "Your own track; the places you shared are named in the list."
      : `Hover over or select a marker to see who ${together ? "you met there" : "was there"} and when.`);
  const describe = (e) => meetingSentence(e, timeZone, together);
  const show = (e) => {
    card.replaceChildren(together ? "Met " : "",
      h("strong", {}, fullName(e.person)), e.person.company_name ? ` (${e.person.company_name})` : "",
      together ? " at " : " was at ", h("span", { "data-testid": "map-card-where" }, formatPlace(e.location)), ", ",
      h("time", { datetime: e.location.creation_time }, formatSpan(e.location.creation_time, e.until, timeZone)));
  };
  const box = h("div", { class: "map", role: "group", "data-testid": "map",
    "aria-label": `Map of ${meetings.length} meeting point${meetings.length === 1 ? "" : "s"}` });
  let selected = null;
  const markers = new Map(); // person id -> marker (the list is de-duplicated: one meeting per person)
  const still = window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
  const clusters = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40, spiderfyOnMaxZoom: true,
    animate: !still });
  for (const e of meetings) {
    const id = String(e.person.id);
    const marker = L.marker([Number(e.location.latitude), Number(e.location.longitude)], {
      icon: L.divIcon({ className: "marker", iconSize: [16, 16] }), keyboard: true, title: describe(e),
    });
    marker.on("click", () => onSelect(id));
    marker.on("mouseover", () => show(e));
    marker.on("add", () => {
      const el = marker.getElement();
      Object.assign(el.dataset, { testid: "map-marker", personId: id });
      el.setAttribute("aria-label", describe(e));
      el.classList.toggle("selected", selected === id);
      if (el.dataset.bound) return;
      el.dataset.bound = "1"; // Leaflet reuses the element when a cluster lets the marker go
      el.addEventListener("focus", () => show(e));
      el.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(id); }
      });
    });
    markers.set(id, { marker, e });
    clusters.addLayer(marker);
  }
  // The track is what was believed; a fix persist did not believe (TrackedLocation.untrusted) is marked apart.
  const ordered = own.filter((l) => !l.untrusted)
    .sort((a, b) => Date.parse(a.creation_time) - Date.parse(b.creation_time));
  const doubted = own.filter((l) => l.untrusted);
  const line = ordered.length
    ? L.polyline(ordered.map((l) => [Number(l.latitude), Number(l.longitude)]), { className: "own-track", interactive: false })
    : null;
  line?.on("add", () => {
    const el = line.getElement();
    el.setAttribute("data-testid", "own-track");
    el.setAttribute("data-points", String(ordered.length));
  });
  const map = L.map(box, { maxZoom: MAX_ZOOM, zoomSnap: 0.5, attributionControl: Boolean(config.tileUrl),
    zoomAnimation: !still, fadeAnimation: !still, markerZoomAnimation: !still });
  if (config.tileUrl) {
    // The page sends no referrer; tile servers such as OpenStreetMap's require one (their usage policy): the origin.
    L.tileLayer(config.tileUrl, { maxNativeZoom: 19, maxZoom: MAX_ZOOM, attribution: config.tileAttribution || "",
      referrerPolicy: "strict-origin-when-cross-origin" }).addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);
  const labels = () => box.classList.toggle("zoomed-out", map.getZoom() < DETAIL_ZOOM);
  map.on("zoomend", labels);
  // zooms ended so far: what a test waits on after a zoom (an event, not a guess at the animation's length)
  map.on("zoomend", () => { box.dataset.zooms = String(Number(box.dataset.zooms || 0) + 1); });
  const bounds = L.latLngBounds(boundsOf([...meetings.map((e) => e.location), ...own]));
  map.setView(bounds.getCenter(), 19); // a view now; fitted once the caller has put the element on the page
  queueMicrotask(() => {
    if (current !== map || !box.isConnected) return;
    map.invalidateSize();
    map.fitBounds(bounds, { padding: [24, 24], animate: false });
    labels();
  });
  line?.addTo(map);
  for (const l of doubted) {
    const mark = L.circleMarker([Number(l.latitude), Number(l.longitude)], { className: "own-untrusted", radius: 4 });
    mark.bindTooltip(`Not believed (${l.untrusted}): ${formatSpan(l.creation_time, null, timeZone)}`);
    mark.on("add", () => mark.getElement()?.setAttribute("data-testid", "own-untrusted"));
    mark.addTo(map);
  }
  clusters.addTo(map);
  current = map;
  getPlaces().then((places) => {
    if (places && current === map) venueLayer(L, places).addTo(map).bringToBack();
  });
  const legend = h("p", { class: "legend" },
    meetings.length ? h("span", { class: "key meeting" }, together ? "meeting point" : "where they were") : null,
    meetings.length ? h("span", { class: "key cluster" }, "several (select to zoom in)") : null,
    own.length ? h("span", { class: "key track" }, "own track") : h("span", { class: "muted" }, "(own track not available)"),
    doubted.length ? h("span", { class: "key untrusted", "data-testid": "untrusted-count" },
      `${doubted.length} fix${doubted.length === 1 ? "" : "es"} of this track not believed (${byReason(doubted)})`)
      : null);
  const select = (id) => {
    selected = id;
    for (const [other, { marker }] of markers) marker.getElement()?.classList.toggle("selected", other === id);
    const hit = markers.get(id);
    if (!hit) return;
    show(hit.e);
    // Out of a cluster if need be, so the selected meeting is on screen ("Show on map" from the list).
    clusters.zoomToShowLayer(hit.marker, () => hit.marker.getElement()?.classList.add("selected"));
  };
  return { el: h("div", { class: "map-wrap" }, box, card, legend), select };
}
