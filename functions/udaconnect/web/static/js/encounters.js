// Encounters: one per other person (the first time they met), and the list of them grouped by day, in words and
// on the clock chosen (zone.js): "Met Ada Lovelace (Acme) at Booth 12, Tue 7 Jul, 10:14–10:31 (PDT)". An attendee's
// search without a time window answers a place and a day instead (`presence`, PlaceShared in the API), never the
// other person's coordinates and minute: "You and Ada Lovelace (Acme) were at Booth 12 on Tue 7 Jul".
import { h } from "./dom.js";
import { formatDayKey, formatPlace, formatPresence, formatSpan, fullName, localDayKey } from "./format.js";

/** One entry per other person, the earliest meeting (or presence) kept, ordered by time then id. */
export function dedupe(connections) {
  const byPerson = new Map();
  for (const item of connections || []) {
    const person = item?.person;
    const location = item?.location;
    const presence = item?.presence;
    if (!person || person.id === undefined || person.id === null || !(location || presence?.day)) continue;
    const time = location ? Date.parse(location.creation_time) : Date.parse(`${presence.day}T00:00:00Z`);
    const entry = location ? { person, location } : { person, presence };
    entry.time = Number.isFinite(time) ? time : Infinity;
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
    if (!e.location) return e; // a presence is a day, not a meeting with an end
    const run = (byPerson.get(String(e.person.id)) || []).find((r) =>
      Date.parse(r.first_seen) <= e.time && e.time <= Date.parse(r.last_seen));
    return run && run.last_seen !== e.location.creation_time ? { ...e, until: run.last_seen } : e;
  });
}

/** A day-by-day list of encounters (days of `timeZone`); each name links to that person's own page. */
export function encounterList(encounters, { hrefFor, onSelect, timeZone, together = true }) {
  const days = new Map();
  for (const encounter of encounters) {
    const key = encounter.presence ? encounter.presence.day : localDayKey(encounter.location.creation_time, timeZone);
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
        h("ol", { class: "encounter-items" }, items.map((e) => encounterItem(e, { hrefFor, onSelect, timeZone, together }))),
      ),
    ),
  );
}

function encounterItem({ person, location, presence, until }, { hrefFor, onSelect, timeZone, together }) {
  const id = String(person.id);
  const name = [h("a", { href: hrefFor(id), class: "name" }, fullName(person)),
    person.company_name ? h("span", { class: "company" }, ` (${person.company_name})`) : null];
  let sentence;
  if (presence) {
    sentence = ["You and ", name, " were at ",
      h("span", { class: "where", "data-testid": "connection-where" }, formatPresence(presence)), " on ",
      h("time", { datetime: presence.day, "data-testid": "connection-when" }, formatDayKey(presence.day))];
  } else {
    const where = h("span", { class: "where", "data-testid": "connection-where" }, formatPlace(location));
    const when = h("time", { datetime: location.creation_time, "data-testid": "connection-when" },
      formatSpan(location.creation_time, until, timeZone));
    sentence = together ? ["Met ", name, " at ", where, ", ", when] : [name, " was at ", where, ", ", when];
  }
  return h(
    "li",
    { class: presence ? "encounter presence" : "encounter", "data-testid": "connection", "data-person-id": id },
    h("p", { class: "meeting", "data-testid": "connection-sentence" }, sentence),
    location
      ? h(
        "button",
        {
          type: "button",
          class: "link-button",
          "aria-label": `Show where ${together ? "you met " : ""}${fullName(person)}${together ? "" : " was"} on the map`,
          onclick: () => onSelect(id, { scroll: "map" }),
        },
        "Show on map",
      )
      : null,
  );
}
