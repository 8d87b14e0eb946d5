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

/** "Tue 7 Jul, 10:14 (PDT)": the instant in `timeZone` (the venue's), the zone named; "" when unreadable. */
export function formatLocal(iso, timeZone) {
  const epoch = Date.parse(iso);
  if (!Number.isFinite(epoch) || !timeZone) return "";
  let parts;
  try {
    parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(new Date(epoch)).map((p) => [p.type, p.value]));
  } catch {
    return "";  // an unknown time zone in the configuration: the caller falls back to the recorded offset
  }
  const zone = parts.timeZoneName.replace(/^GMT/, "UTC");  // "PDT"; "UTC+2" where a zone has no short name
  return `${parts.weekday} ${parts.day} ${parts.month}, ${parts.hour}:${parts.minute} (${zone})`;
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

/** The UTC offset an ISO time was written with, in minutes (0 for Z or none). */
export function offsetMinutes(iso) {
  const m = /([+-])(\d{2}):?(\d{2})$/.exec(String(iso || ""));
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}
