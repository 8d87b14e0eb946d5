// The meeting points and the person's own track on an offline SVG map (equirectangular, x scaled by cos(lat)).
import { drawingWidth, h, s } from "./dom.js";
import config from "/config.js";
import { formatDistance, formatLocal, formatPlace, formatWhen, fullName } from "./format.js";

// Set per drawing from the screen's width (drawing is synchronous, so one map at a time).
let W = 640;
let H = 400;
const PAD = 28;
const METERS_PER_DEGREE = 111320;
const MIN_SPAN_M = 40; // a single point still gets a sensible neighbourhood around it

function finite(loc) {
  return Number.isFinite(Number(loc?.latitude)) && Number.isFinite(Number(loc?.longitude));
}

/** Projection fitted to all points: returns lat/lon -> [px, py] and the pixels per meter. */
export function fitProjection(locations) {
  const lats = locations.map((l) => Number(l.latitude));
  const lons = locations.map((l) => Number(l.longitude));
  const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  const lon0 = (Math.min(...lons) + Math.max(...lons)) / 2;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const spanX = Math.max((Math.max(...lons) - Math.min(...lons)) * k * METERS_PER_DEGREE, MIN_SPAN_M);
  const spanY = Math.max((Math.max(...lats) - Math.min(...lats)) * METERS_PER_DEGREE, MIN_SPAN_M);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const project = (loc) => [
    W / 2 + (Number(loc.longitude) - lon0) * k * METERS_PER_DEGREE * scale,
    H / 2 - (Number(loc.latitude) - lat0) * METERS_PER_DEGREE * scale,
  ];
  return { project, scale };
}

function niceStep(meters) {
  const power = 10 ** Math.floor(Math.log10(meters));
  const unit = [1, 2, 5, 10].find((f) => f * power >= meters) ?? 10;
  return unit * power;
}

function grid(scale) {
  const step = niceStep(W / scale / 6) * scale;
  const lines = [];
  for (let x = (W / 2) % step; x < W; x += step) lines.push(s("line", { x1: x, y1: 0, x2: x, y2: H }));
  for (let y = (H / 2) % step; y < H; y += step) lines.push(s("line", { x1: 0, y1: y, x2: W, y2: y }));
  const meters = niceStep(W / scale / 5);
  const px = meters * scale;
  return s(
    "g",
    { class: "map-grid", "aria-hidden": "true" },
    lines,
    s("g", { class: "scale-bar", transform: `translate(${PAD} ${H - 14})` },
      s("path", { d: `M0 -6 V0 H${px} V-6` }),
      s("text", { x: px + 6, y: 0 }, formatDistance(meters))),
    s("text", { class: "north", x: W - 10, y: 22, "text-anchor": "end" }, "N \u2191"),
  );
}

/** Fans out markers that would sit on one another into a small sunflower disc, so each stays clickable. */
function spread(points, radius) {
  const groups = new Map();
  const cell = radius * 1.2;
  for (const p of points) {
    const key = `${Math.round(p.x / cell)},${Math.round(p.y / cell)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(p);
  }
  const golden = Math.PI * (3 - Math.sqrt(5));
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    group.forEach((p, i) => {
      const r = radius * 1.25 * Math.sqrt(i + 0.5);
      // Kept inside the frame: a marker pushed off the edge could be neither seen nor clicked.
      p.mx = Math.min(W - radius, Math.max(radius, p.x + r * Math.cos(i * golden)));
      p.my = Math.min(H - radius, Math.max(radius, p.y + r * Math.sin(i * golden)));
    });
  }
  return points;
}

export function renderMap({ encounters, track, onSelect }) {
  W = drawingWidth();
  H = Math.round(W * 0.625);
  const own = (track || []).filter(finite);
  const meetings = encounters.filter((e) => finite(e.location));
  const card = h("div", { class: "map-card", "data-testid": "map-card", "aria-live": "polite" },
    "Hover over or select a marker to see who you met there and when.");
  if (!meetings.length && !own.length) return { el: h("div", {}), select() {} };
  const { project, scale } = fitProjection([...meetings.map((e) => e.location), ...own]);
  const radius = meetings.length > 60 ? 5 : 7;
  const points = spread(meetings.map((e) => {
    const [x, y] = project(e.location);
    return { e, x, y, mx: x, my: y };
  }), radius);
  const ordered = own.slice().sort((a, b) => Date.parse(a.creation_time) - Date.parse(b.creation_time));
  const trackPath = ordered.map((l) => project(l).map((v) => v.toFixed(1)).join(",")).join(" ");
  const describe = (e) => `${fullName(e.person)}, ${formatWhen(e.location.creation_time)}`;
  const show = (e) => {
    card.replaceChildren(
      h("strong", {}, fullName(e.person)), e.person.company_name ? ` (${e.person.company_name})` : "",
      " \u2014 met ", h("time", { datetime: e.location.creation_time },
        formatLocal(e.location.creation_time, config.timeZone) || formatWhen(e.location.creation_time)),
      " at ", formatPlace(e.location));
  };
  const markers = points.map(({ e, x, y, mx, my }) => s("g", {
      class: "marker", tabindex: "0", role: "button", "data-testid": "map-marker",
      "data-person-id": String(e.person.id), "aria-label": `Met ${describe(e)}`,
      onclick: () => onSelect(String(e.person.id)), onmouseenter: () => show(e), onfocus: () => show(e),
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(String(e.person.id)); }
      },
    },
    s("title", {}, describe(e)),
    mx !== x || my !== y ? s("line", { class: "leader", x1: x, y1: y, x2: mx, y2: my }) : null,
    s("circle", { cx: mx.toFixed(1), cy: my.toFixed(1), r: radius })));
  const svg = s("svg", {
      class: "map", viewBox: `0 0 ${W} ${H}`, role: "group", "data-testid": "map",
      "aria-label": `Map of ${meetings.length} meeting point${meetings.length === 1 ? "" : "s"}`,
    },
    grid(scale),
    trackPath ? s("polyline", { class: "own-track", points: trackPath, "data-testid": "own-track" }) : null,
    ordered.map((l) => { const [x, y] = project(l); return s("circle", { class: "track-point", cx: x, cy: y, r: 2 }); }),
    s("g", { class: "markers" }, markers));
  const legend = h("p", { class: "legend" },
    h("span", { class: "key meeting" }, "meeting point"),
    own.length ? h("span", { class: "key track" }, "own track") : h("span", { class: "muted" }, "(own track not available)"));
  const select = (id) => {
    for (const m of markers) {
      m.classList.toggle("selected", m.dataset.personId === id);
      if (m.dataset.personId === id) m.parentNode?.append(m); // drawn last: on top of its neighbours
    }
    const hit = points.find((p) => String(p.e.person.id) === id);
    if (hit) show(hit.e);
  };
  return { el: h("div", { class: "map-wrap" }, svg, card, legend), select };
}
