// The UdaConnect API as the client uses it; failures become ApiError with words a person can read.
import config from "/config.js";
import { bearer } from "./session.js";
import { followStream } from "./sse.js";

export const apiBase = config.apiBaseUrl || "";
export const docsUrl = `${apiBase}/api/docs`;

/** The problem type of a search the API stopped at its deadline (504): asking the same again will not help. */
export const SEARCH_TIMEOUT = "urn:udaconnect:problem:search-timeout";

export class ApiError extends Error {
  constructor(title, detail, errors = [], status = 0, type = "") {
    super(detail || title);
    this.title = title;
    this.detail = detail;
    this.errors = errors;
    this.status = status;
    this.type = type;
  }
}

async function problemFrom(response) {
  const fallback = `The API answered ${response.status} ${response.statusText}`.trim();
  let body = null;
  try {
    body = await response.json();
  } catch {
    return new ApiError("Request failed", `${fallback}.`, [], response.status);
  }
  const errors = Array.isArray(body?.errors)
    ? body.errors.map((e) => ({ field: e?.field ?? "", message: String(e?.message ?? e) }))
    : [];
  const detail = body?.detail || body?.message || (errors.length ? "" : `${fallback}.`);
  return new ApiError(body?.title || "Request failed", detail, errors, response.status, String(body?.type || ""));
}

/** The API URL of `path` with the non-empty `params`. */
export function apiUrl(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const qs = query.toString();
  return `${apiBase}${path}${qs ? `?${qs}` : ""}`;
}

let whenUnauthorized = () => {};

/** `fn(error)` is called when the API refuses the token (401: expired, revoked, signed by another key). */
export function onUnauthorized(fn) {
  whenUnauthorized = fn;
}

/** Follow a person's live encounters (sse.js: over fetch, the token in the Authorization header as for every
 * other call; never in the URL). `on` as followStream's; a 401 also signs out as any other call's. */
export function followLive(personId, on) {
  const headers = () => {
    const token = bearer();
    return token ? { Authorization: `Bearer ${token}` } : {};
  };
  return followStream(apiUrl(`/api/persons/${encodeURIComponent(personId)}/encounters/live`), headers, {
    ...on,
    refused(status) {
      on.refused?.(status);
      if (status === 401) whenUnauthorized(new ApiError("Signed out", "The API refused the token.", [], 401));
    },
  });
}

async function getJson(path, params, signal) {
  const url = apiUrl(path, params);
  const headers = { Accept: "application/json" };
  const token = bearer();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { headers, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The API could not be reached", `No answer from ${apiBase || "this site"} (${err.message}).`);
  }
  if (!response.ok) {
    const error = await problemFrom(response);
    if (response.status === 401) whenUnauthorized(error);
    throw error;
  }
  return { body: await response.json(), headers: response.headers };
}

export async function listPersons({ q, limit, offset }, signal) {
  const { body, headers } = await getJson("/api/persons", { q, limit, offset }, signal);
  const total = Number.parseInt(headers.get("X-Total-Count") ?? "", 10);
  return { persons: Array.isArray(body) ? body : [], total: Number.isFinite(total) ? total : null };
}

export async function getPerson(id, signal) {
  return (await getJson(`/api/persons/${encodeURIComponent(id)}`, {}, signal)).body;
}

export async function getConnections(id, filters, signal, limit) {
  const params = {
    start_date: filters.start_date,
    end_date: filters.end_date,
    distance: filters.distance,
    window: filters.window,
    limit,
  };
  const { body } = await getJson(`/api/persons/${encodeURIComponent(id)}/connection`, params, signal);
  return Array.isArray(body) ? body : [];
}

export async function getEncounters(id, filters, signal) {
  const params = { start_date: filters.start_date, end_date: filters.end_date, limit: 200 };
  const { body } = await getJson(`/api/persons/${encodeURIComponent(id)}/encounters`, params, signal);
  return Array.isArray(body) ? body : [];
}

let ownTrackOffered;

/** Whether the API's OpenAPI document lists /api/persons/{id}/locations (asked once, no 404 per search). */
function offersOwnTrack() {
  ownTrackOffered ??= getJson("/api/openapi.json", {})
    .then(({ body }) => Object.keys(body?.paths || {}).some((path) => /^\/api\/persons\/\{[^}]+\}\/locations$/.test(path)))
    .catch(() => false);
  return ownTrackOffered;
}

/** The person's own fixes, or null where the API does not offer them (the contract may not yet). */
export async function getOwnTrack(id, filters, signal) {
  if (!(await offersOwnTrack())) return null;
  try {
    const params = { start_date: filters.start_date, end_date: filters.end_date };
    const { body } = await getJson(`/api/persons/${encodeURIComponent(id)}/locations`, params, signal);
    return Array.isArray(body) ? body : null;
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return null;
  }
}

let places;

/** The venue's places as GeoJSON (asked once per page; null where the API has none or cannot answer). */
export function getPlaces() {
  places ??= getJson("/api/places", {})
    .then(({ body }) => (Array.isArray(body?.features) ? body : null))
    .catch(() => null);
  return places;
}
