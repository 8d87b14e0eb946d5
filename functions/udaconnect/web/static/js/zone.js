// Which clock times are told in: the venue's (GET /api/places' time_zone, else the web target's setting) or the
// viewer's own; the choice is kept in localStorage, and the views that show times re-render when it changes.
import { getPlaces } from "./api.js";
import { h } from "./dom.js";
import config from "/config.js";
import { zoneName } from "./format.js";

const KEY = "udaconnect.clock";
let venue = config.timeZone || "";
const listeners = new Set();

export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** "venue" (the default) or "viewer". */
export function clock() {
  try {
    return localStorage.getItem(KEY) === "viewer" ? "viewer" : "venue";
  } catch {
    return "venue"; // storage refused (privacy settings): the default
  }
}

/** The IANA zone times are shown in now. */
export function currentZone() {
  return clock() === "viewer" || !venue ? viewerZone() : venue;
}

/** The venue's zone as the API names it (asked once per page, with the places). */
export async function loadVenueZone() {
  const places = await getPlaces();
  if (places?.time_zone) venue = String(places.time_zone);
  return venue;
}

export function setClock(choice) {
  try {
    localStorage.setItem(KEY, choice === "viewer" ? "viewer" : "venue");
  } catch { /* not remembered; still switched below for this page */ }
  for (const fn of listeners) fn(currentZone());
}

export function onClockChange(fn) {
  listeners.add(fn);
}

/** Two radio buttons: "Times in: venue (PDT) / yours (CEST)", each zone named. */
export function clockControl() {
  const name = "clock";
  let at = Date.now();
  const option = (value, label, zone) => h("label", { class: "clock-option" },
    h("input", { type: "radio", name, value, "data-testid": `clock-${value}`, checked: clock() === value,
      onchange: () => setClock(value) }),
    ` ${label} `, h("span", { class: "zone", "data-testid": `clock-${value}-zone`, title: zone }, `(${zoneName(zone, at)})`));
  const el = h("fieldset", { class: "clock", "data-testid": "clock" });
  // the zones named as at the meetings shown (PDT in July, though it is December)
  const render = (epoch = at) => {
    at = Number.isFinite(epoch) ? epoch : Date.now();
    el.replaceChildren(h("legend", {}, "Times in"),
      option("venue", "venue time", venue || viewerZone()), option("viewer", "your time", viewerZone()));
  };
  render();
  el.refresh = render; // once the venue's zone, or the meetings' time, is known
  return el;
}
