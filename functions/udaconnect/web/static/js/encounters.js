// Encounters: one per other person (the first time they met), and the list of them grouped by day, in words and
// on the clock chosen (zone.js): "Met Ada Lovelace (Acme) at Booth 12, Tue 7 Jul, 10:14–10:31 (PDT)".
import { h } from "./dom.js";
import { formatDayKey, formatPlace, formatSpan, fullName, localDayKey } from "./format.js";

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

/** Each meeting's end where the data has one: the detected encounter (first_seen..last_seen) with the same person
 * that holds the meeting's instant gives `until`; a search's meeting alone is one instant. */
export function withEnds(encounters, runs) {
  const byPerson = new Map();
  for (const run of runs || []) {
    const id = String(run?.person?.id);
    if (!byPerson.has(id)) byPerson.set(id, []);
    byPerson.get(id).push(run);
  }
  return encounters.map((e) => {
    const run = (byPerson.get(String(e.person.id)) || []).find((r) =>
      Date.parse(r.first_seen) <= e.time && e.time <= Date.parse(r.last_seen));
    return run && run.last_seen !== e.location.creation_time ? { ...e, until: run.last_seen } : e;
  });
}

/** A day-by-day list of encounters (days of `timeZone`); each name links to that person's own page. */
export function encounterList(encounters, { hrefFor, onSelect, timeZone }) {
  const days = new Map();
  for (const encounter of encounters) {
    const key = localDayKey(encounter.location.creation_time, timeZone);
    if (!days.has(key)) days.set(key, []);
    days.get(key).push(encounter);
  }
  return h(
    "div",
    { class: "encounters", "data-testid": "connections" },
    [...days].map(([key, items]) =>
      h(
        "section",
        { class: "day", "aria-label": formatDayKey(key) },
        h("h3", { class: "day-title", "data-testid": "day-title" }, formatDayKey(key),
          h("span", { class: "count" }, ` · ${items.length}`)),
        h("ol", { class: "encounter-items" }, items.map((e) => encounterItem(e, { hrefFor, onSelect, timeZone }))),
      ),
    ),
  );
}

function encounterItem({ person, location, until }, { hrefFor, onSelect, timeZone }) {
  const id = String(person.id);
  return h(
    "li",
    { class: "encounter", "data-testid": "connection", "data-person-id": id },
    h(
      "p",
      { class: "meeting", "data-testid": "connection-sentence" },
      "Met ",
      h("a", { href: hrefFor(id), class: "name" }, fullName(person)),
      person.company_name ? h("span", { class: "company" }, ` (${person.company_name})`) : null,
      " at ",
      h("span", { class: "where", "data-testid": "connection-where" }, formatPlace(location)),
      ", ",
      h("time", { datetime: location.creation_time, "data-testid": "connection-when" },
        formatSpan(location.creation_time, until, timeZone)),
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
