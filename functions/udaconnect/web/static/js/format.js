// Human-readable names, places and times; times keep the offset they were recorded with.
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

export function fullName(person) {
  if (!person) return "Unknown person";
  const name = [person.first_name, person.last_name].filter(Boolean).join(" ");
  return name || `Person ${person.id}`;
}

/** Splits an ISO 8601 string without converting zones: a meeting at 10:37 local stays 10:37. */
export function parseIso(text) {
  const m = ISO.exec(String(text || "").trim());
  if (!m) return null;
  const [, y, mo, d, hh = "00", mm = "00", , zone] = m;
  let offset = "";
  if (zone === "Z" || zone === "+00:00" || zone === "+0000") offset = "UTC";
  else if (zone) offset = `UTC${zone.slice(0, 3).replace("-", "\u2212")}:${zone.slice(-2)}`;
  return { year: +y, month: +mo, day: +d, time: `${hh}:${mm}`, offset, epoch: Date.parse(text) };
}

export function formatDay(parts) {
  return parts ? `${parts.day} ${MONTHS[parts.month - 1]} ${parts.year}` : "an unknown date";
}

/** "15 Aug 2020, 10:37 (UTC−07:00)" */
export function formatWhen(iso) {
  const parts = parseIso(iso);
  if (!parts) return String(iso || "an unknown time");
  return `${formatDay(parts)}, ${parts.time}${parts.offset ? ` (${parts.offset})` : ""}`;
}

/** The calendar day an ISO time falls on where it was recorded, as "YYYY-MM-DD". */
export function dayKey(iso) {
  const p = parseIso(iso);
  if (!p) return "unknown";
  return `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

export function formatDateInput(value) {
  return formatDay(parseIso(value));
}

/** The wall clock of an instant in `timeZone`: {weekday, day, month, year, hour, minute, zone, key}; null when
 * the instant or the zone is unreadable. `zone` is the short name ("PDT"; "UTC+2" where a zone has none). */
export function localParts(epoch, timeZone) {
  if (!Number.isFinite(epoch) || !timeZone) return null;
  let parts;
  try {
    parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone, weekday: "short", day: "numeric", month: "numeric", year: "numeric", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(new Date(epoch)).map((p) => [p.type, p.value]));
  } catch {
    return null;  // an unknown time zone: the caller falls back to the recorded offset
  }
  const month = Number(parts.month);
  const day = Number(parts.day);
  return {
    weekday: parts.weekday, day, month: MONTHS[month - 1], year: Number(parts.year), hour: parts.hour,
    minute: parts.minute, zone: parts.timeZoneName.replace(/^GMT/, "UTC"),
    key: `${parts.year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`,
    // minutes the zone is ahead of UTC at this instant (for whole-hour ticks on the local clock)
    offset: Math.round((Date.UTC(Number(parts.year), month - 1, day, Number(parts.hour), Number(parts.minute))
      - Math.floor(epoch / 60_000) * 60_000) / 60_000),
  };
}

/** "Tue 7 Jul, 10:14 (PDT)": the instant in `timeZone` (the venue's or the viewer's), the zone named; "" when
 * unreadable. */
export function formatLocal(iso, timeZone) {
  const p = localParts(Date.parse(iso), timeZone);
  return p ? `${p.weekday} ${p.day} ${p.month}, ${p.hour}:${p.minute} (${p.zone})` : "";
}

/** "Tue 7 Jul, 10:14–10:31 (PDT)"; one time when both ends fall in the same minute; both days when the span
 * crosses midnight. Falls back to the recorded offset when the zone is unreadable. */
export function formatSpan(firstIso, lastIso, timeZone) {
  const a = localParts(Date.parse(firstIso), timeZone);
  const b = lastIso ? localParts(Date.parse(lastIso), timeZone) : null;
  if (!a) return formatWhen(firstIso);
  const start = `${a.weekday} ${a.day} ${a.month}, ${a.hour}:${a.minute}`;
  if (!b || (b.key === a.key && b.hour === a.hour && b.minute === a.minute)) return `${start} (${a.zone})`;
  if (b.key === a.key) return `${start}\u2013${b.hour}:${b.minute} (${b.zone})`;
  return `${start} \u2013 ${b.weekday} ${b.day} ${b.month}, ${b.hour}:${b.minute} (${b.zone})`;
}

/** The calendar day an instant falls on in `timeZone`, as "YYYY-MM-DD" (the recorded day when unreadable). */
export function localDayKey(iso, timeZone) {
  return localParts(Date.parse(iso), timeZone)?.key ?? dayKey(iso);
}

/** "Tue 7 Jul 2020": a day heading for a "YYYY-MM-DD" key. */
export function formatDayKey(key) {
  const p = parseIso(key);
  if (!p) return "an unknown date";
  const weekday = new Date(Date.UTC(p.year, p.month - 1, p.day)).toLocaleDateString("en-US", { weekday: "short", timeZone: "UTC" });
  return `${weekday} ${formatDay(p)}`;
}

/** "PDT": the short name of `timeZone` at an instant (now by default); the zone's id when unreadable. */
export function zoneName(timeZone, epoch = Date.now()) {
  return localParts(epoch, timeZone)?.zone ?? String(timeZone || "");
}

/** "Ada Lovelace (Acme)" */
export function personWithCompany(person) {
  return person?.company_name ? `${fullName(person)} (${person.company_name})` : fullName(person);
}

/** A match in words, as honest as the search: with a time window (`together`), "Met Ada Lovelace (Acme) at Booth
 * 12, Tue 7 Jul, 10:14–10:31 (PDT)" (`until`: the encounter's last_seen, when the data has an end); without one,
 * being at the same place at any time is no meeting: "Ada Lovelace (Acme) was at Booth 12, Tue 7 Jul, 10:14 (PDT)"
 * (an organizer's answer), or only the place and the venue's day (`presence`, an attendee's answer): "You and Ada
 * Lovelace (Acme) were at Booth 12 on Tue 7 Jul". */
export function meetingSentence({ person, location, presence, until }, timeZone, together = true) {
  if (presence) return `You and ${personWithCompany(person)} were at ${formatPresence(presence)} on ${formatDayKey(presence.day)}`;
  const when = formatSpan(location?.creation_time, until, timeZone);
  if (!together) return `${personWithCompany(person)} was at ${formatPlace(location)}, ${when}`;
  return `Met ${personWithCompany(person)} at ${formatPlace(location)}, ${when}`;
}

/** Where a presence was: the venue place's name, else the coarse area ("within 75 m of 37.55400, -122.29100"). */
export function formatPresence(presence) {
  if (presence?.place?.name) return String(presence.place.name);
  const area = presence?.area;
  if (!area) return "an unknown place";
  return `within ${formatDistance(Number(area.radius))} of ${formatPlace(area)}`;
}

/** The venue place's name when the API named one ("Booth 12"), else the coordinates. */
export function formatPlace(location) {
  if (location?.place?.name) return String(location.place.name);
  const lat = Number(location?.latitude);
  const lon = Number(location?.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return "an unknown place";
  return `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
}

export function formatDistance(meters) {
  if (meters >= 1000) return `${+(meters / 1000).toFixed(meters >= 10000 ? 0 : 1)}\u00a0km`;
  return `${+Number(meters).toFixed(meters < 10 ? 1 : 0)}\u00a0m`;
}
