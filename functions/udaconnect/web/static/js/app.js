// Boots the client: sign in (a token link, or the issuer's callback), then the URL is the state; links and
// filters change the URL, the URL drives the views. An organizer gets the directory; an attendee their own page.
import { docsUrl, getPerson, onUnauthorized } from "./api.js";
import config from "/config.js";
import { PeopleList } from "./people.js";
import { PersonView } from "./person.js";
import { current, signIn, signOut, signedOutReason, takeTokenLink } from "./session.js";
import { sessionBar, signInScreen } from "./signin.js";
import { readState, urlFor } from "./state.js";
import { loadVenueZone } from "./zone.js";

const CALLBACK_PATH = "/auth/callback"; // oidc.js's, without loading it (and its library) for everyone

let state = readState();
let principal = null;
let people = null;
let person = null;

function navigate(next, { replace = false, focus = false } = {}) {
  const url = urlFor(next);
  if (url !== location.pathname + location.search) history[replace ? "replaceState" : "pushState"](null, "", url);
  render({ focus });
}

let renders = 0;

/** The days a person's page opens on when its address names none: the last three days of their record (days as
 * the API takes them: the venue's), or null (no record yet, or not theirs to see) for the defaults. */
async function recordDays(personId) {
  try {
    const [person, zone] = await Promise.all([getPerson(personId), loadVenueZone()]);
    if (!person?.last_seen) return null;
    const day = (iso) => new Intl.DateTimeFormat("en-CA", { timeZone: zone || "UTC", year: "numeric",
      month: "2-digit", day: "2-digit" }).format(new Date(iso));
    const end = day(person.last_seen);
    const back = new Date(`${end}T00:00:00Z`);
    back.setUTCDate(back.getUTCDate() - 2);
    const start = back.toISOString().slice(0, 10);
    const first = day(person.first_seen || person.last_seen);
    return { start_date: start < first ? first : start, end_date: end };
  } catch {
    return null;
  }
}

function render({ focus = false } = {}) {
  const ticket = ++renders;
  state = readState();
  // An attendee has one page, their own: the directory is the organizers'.
  if (principal.role === "attendee" && state.personId === null) state = { ...state, personId: principal.personId };
  // A person's page without days opens on the days that person was there, never a fixed year.
  if (state.personId !== null && !new URLSearchParams(location.search).has("start_date")) {
    const opening = state;
    recordDays(opening.personId).then((days) => {
      if (ticket !== renders) return; // the address changed meanwhile
      navigate({ ...opening, filters: { ...opening.filters, ...(days || {}) } }, { replace: true, focus });
    });
    return;
  }
  // Spell the filters out in the address bar, so the link keeps meaning the same view.
  const canonical = urlFor(state);
  if (canonical !== location.pathname + location.search) history.replaceState(null, "", canonical);
  document.body.dataset.view = state.personId === null ? "people" : "person";
  if (state.personId === null) document.title = "UdaConnect";
  people?.update(state);
  person.update(state, { focus });
}

let leaving = false;

/** Back to the sign-in screen: a fresh page, so no view, request or live stream of the old token survives. The
 * first reason is the one shown (the requests still in flight fail after it, for want of a token). */
function leave(reason = "") {
  if (leaving) return;
  leaving = true;
  signOut(reason);
  location.replace(principal?.role === "attendee" ? "/" : location.pathname + location.search);
}

async function showSignIn() {
  document.body.dataset.view = "signin";
  document.getElementById("people").hidden = true;
  const oidc = config.oidc;
  const onOidc = oidc ? async () => {
    try {
      await (await import("./oidc.js")).startSignIn(oidc, "/");
    } catch (err) { // the issuer unreachable, its discovery document wrong, the library not installed
      signOut(`Signing in with ${new URL(oidc.issuer).host} did not start: ${err.message}`);
      showSignIn();
    }
  } : null;
  document.getElementById("detail").replaceChildren(
    signInScreen({ reason: signedOutReason(), issuer: oidc?.issuer || "", onOidc }));
}

/** Finishes a sign-in the issuer sent the browser back from; false when this is no such return. */
async function finishOidc() {
  if (location.pathname !== CALLBACK_PATH || !config.oidc) return false;
  let returnTo = "/";
  try {
    const done = await (await import("./oidc.js")).finishSignIn(config.oidc);
    returnTo = done.returnTo;
    signIn(done.token);
  } catch (err) {
    signOut(`Signing in with ${new URL(config.oidc.issuer).host} did not work: ${err.message}`);
  }
  history.replaceState(null, "", returnTo);
  return true;
}

function start() {
  document.body.dataset.role = principal.role;
  document.getElementById("session").replaceChildren(...sessionBar(principal, () => leave()));
  const hrefFor = (personId) => urlFor({ ...state, personId });
  // the directory's links name no days: each person's page opens on the days of that person's record
  const openingHref = (personId) => `/persons/${encodeURIComponent(personId)}` +
    (state.q ? `?${new URLSearchParams({ q: state.q })}` : "");
  if (principal.role === "organizer") {
    people = new PeopleList(document.getElementById("people"), {
      onQuery: (q) => navigate({ ...state, q }, { replace: true }), hrefFor: openingHref });
  } else {
    document.getElementById("people").hidden = true;
  }
  person = new PersonView(document.getElementById("detail"), {
    onFilters: (filters) => navigate({ ...state, filters }, { replace: true }),
    hrefFor,
    backHref: (q) => urlFor({ personId: null, q }),
    ownHref: principal.personId ? `/persons/${encodeURIComponent(principal.personId)}` : "/",
  });
  onUnauthorized((error) => leave(`Your sign-in has ended (${error.detail || error.title}). Open a new sign-in link.`));
  // Same-origin links are handled here (no reload); modified clicks still open new tabs.
  document.addEventListener("click", (event) => {
    const a = event.target.closest?.("a[href]");
    if (!a || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || a.target) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api")) return;
    event.preventDefault();
    if (/^\/persons\//.test(url.pathname) && !url.searchParams.has("start_date")) {
      // a person's page without days: render finds that person's days, then spells them out
      history.pushState(null, "", url.pathname + url.search);
      render({ focus: true });
      return;
    }
    navigate(readState(url), { focus: true });
  });
  window.addEventListener("popstate", () => render());
  render();
}

document.getElementById("docs-link").href = docsUrl;
// A link opened in a tab already at that address changes only the fragment: no new page, so start one.
window.addEventListener("hashchange", () => {
  const token = takeTokenLink();
  if (token === null) return;
  signIn(token);
  location.reload();
});
const linked = takeTokenLink();
if (linked !== null) signIn(linked);
else await finishOidc();
principal = current();
if (principal) start();
else showSignIn();
