// Encounters: one per other person (the first time they met), and the list of them grouped by day.
import { h } from "./dom.js";
import config from "/config.js";
import { dayKey, formatDay, formatLocal, formatPlace, formatWhen, fullName, parseIso } from "./format.js";

/** One entry per other person, the earliest meeting kept, ordered by time then id. */
export function dedupe(connections) {
  const byPerson = new Map();
  for (const item of connections || []) {
    const person = item?.person;
    const location = item?.location;
    if (!person || person.id === undefined || person.id === null || !location) continue;
    const time = Date.parse(location.creation_time);
    const entry = { person, location, time: Number.isFinite(time) ? time : Infinity };
    const previous = byPerson.get(String(person.id));
    if (!previous || entry.time < previous.time) byPerson.set(String(person.id), entry);
  }
  return [...byPerson.values()].sort((a, b) => a.time - b.time || Number(a.person.id) - Number(b.person.id));
}

/** A day-by-day list of encounters; each name links to that person's own page. */
export function encounterList(encounters, { hrefFor, onSelect }) {
  const days = new Map();
  for (const encounter of encounters) {
    const key = dayKey(encounter.location.creation_time);
    if (!days.has(key)) days.set(key, []);
    days.get(key).push(encounter);
  }
  return h(
    "div",
    { class: "encounters", "data-testid": "connections" },
    [...days].map(([key, items]) =>
      h(
        "section",
        { class: "day", "aria-label": formatDay(parseIso(key)) },
        h("h3", { class: "day-title" }, formatDay(parseIso(key)), h("span", { class: "count" }, ` · ${items.length}`)),
        h("ol", { class: "encounter-items" }, items.map((e) => encounterItem(e, { hrefFor, onSelect }))),
      ),
    ),
  );
}

function encounterItem({ person, location }, { hrefFor, onSelect }) {
  const id = String(person.id);
  return h(
    "li",
    { class: "encounter", "data-testid": "connection", "data-person-id": id },
    h(
      "div",
      { class: "who" },
      h("a", { href: hrefFor(id), class: "name" }, fullName(person)),
      person.company_name ? h("span", { class: "company" }, person.company_name) : null,
    ),
    h(
      "div",
      { class: "where-when" },
      "Met at ",
      h("span", { class: "where", "data-testid": "connection-where" }, formatPlace(location)),
      ", ",
      h("time", { datetime: location.creation_time, "data-testid": "connection-when" },
        formatLocal(location.creation_time, config.timeZone) || formatWhen(location.creation_time)),
    ),
    h(
      "button",
      {
        type: "button",
        class: "link-button",
        "aria-label": `Show where you met ${fullName(person)} on the map`,
        onclick: () => onSelect(id, { scroll: "map" }),
      },
      "Show on map",
    ),
  );
}
