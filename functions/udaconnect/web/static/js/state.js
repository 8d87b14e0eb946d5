// The view lives in the URL: /persons/{id}?start_date=&end_date=&distance=&window=&q=
import config from "/config.js";

export const DEFAULT_FILTERS = Object.freeze({
  start_date: config.defaultStartDate, // the last days up to today at the venue, unless configured
  end_date: config.defaultEndDate,
  distance: String(config.defaultDistance || "5"),
  // co-presence by default: "met" means within the window of each other (UDACONNECT_WEB_WINDOW; "" for any time)
  window: String(config.defaultWindow ?? "15"),
});

const FILTER_KEYS = Object.keys(DEFAULT_FILTERS);

/** {personId, q, filters} from a location (or anything with pathname and search). */
export function readState(loc = window.location) {
  const match = /^\/persons\/([^/]+)\/?$/.exec(loc.pathname);
  const params = new URLSearchParams(loc.search);
  const filters = {};
  for (const key of FILTER_KEYS) filters[key] = params.get(key) ?? DEFAULT_FILTERS[key];
  return {
    personId: match ? decodeURIComponent(match[1]) : null,
    q: params.get("q") ?? "",
    filters,
  };
}

/** The URL of a state: filters are spelled out on a person's page so a link keeps meaning the same. */
export function urlFor({ personId, q, filters }) {
  const params = new URLSearchParams();
  if (personId !== null && personId !== undefined) {
    for (const key of FILTER_KEYS) {
      const value = (filters || DEFAULT_FILTERS)[key];
      if (value !== "" && value !== undefined && value !== null) params.set(key, value);
      else if (DEFAULT_FILTERS[key] !== "") params.set(key, ""); // "window=": any time, not the default window
    }
  }
  if (q) params.set("q", q);
  const path = personId !== null && personId !== undefined ? `/persons/${encodeURIComponent(personId)}` : "/";
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export function sameFilters(a, b) {
  return FILTER_KEYS.every((key) => (a?.[key] ?? "") === (b?.[key] ?? ""));
}
