// Boots the client: sign in (a token link, or the issuer's callback), then the URL is the state; links and
// filters change the URL, the URL drives the views. An organizer gets the directory; an attendee their own page.
import { docsUrl, onUnauthorized } from "./api.js";
import config from "/config.js";
import { PeopleList } from "./people.js";
import { PersonView } from "./person.js";
import { current, signIn, signOut, signedOutReason, takeTokenLink } from "./session.js";
import { sessionBar, signInScreen } from "./signin.js";
import { readState, urlFor } from "./state.js";

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

function render({ focus = false } = {}) {
  state = readState();
  // An attendee has one page, their own: the directory is the organizers'.
  if (principal.role === "attendee" && state.personId === null) state = { ...state, personId: principal.personId };
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
  if (principal.role === "organizer") {
    people = new PeopleList(document.getElementById("people"), {
      onQuery: (q) => navigate({ ...state, q }, { replace: true }), hrefFor });
  } else {
    document.getElementById("people").hidden = true;
  }
  person = new PersonView(document.getElementById("detail"), {
    onFilters: (filters) => navigate({ ...state, filters }, { replace: true }),
    hrefFor,
    backHref: (q) => urlFor({ personId: null, q }),
    ownHref: principal.personId ? urlFor({ personId: principal.personId, q: "" }) : "/",
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
