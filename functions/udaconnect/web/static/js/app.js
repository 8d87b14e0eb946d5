// Boots the client: the URL is the state; links and filters change the URL, the URL drives the views.
import { docsUrl } from "./api.js";
import { PeopleList } from "./people.js";
import { PersonView } from "./person.js";
import { readState, urlFor } from "./state.js";

let state = readState();

function navigate(next, { replace = false, focus = false } = {}) {
  const url = urlFor(next);
  if (url !== location.pathname + location.search) history[replace ? "replaceState" : "pushState"](null, "", url);
  render({ focus });
}

const people = new PeopleList(document.getElementById("people"), {
  onQuery: (q) => navigate({ ...state, q }, { replace: true }),
  hrefFor: (personId) => urlFor({ ...state, personId }),
});
const person = new PersonView(document.getElementById("detail"), {
  onFilters: (filters) => navigate({ ...state, filters }, { replace: true }),
  hrefFor: (personId) => urlFor({ ...state, personId }),
  backHref: (q) => urlFor({ personId: null, q }),
});

function render({ focus = false } = {}) {
  state = readState();
  // Spell the filters out in the address bar, so the link keeps meaning the same view.
  const canonical = urlFor(state);
  if (canonical !== location.pathname + location.search) history.replaceState(null, "", canonical);
  document.body.dataset.view = state.personId === null ? "people" : "person";
  if (state.personId === null) document.title = "UdaConnect";
  people.update(state);
  person.update(state, { focus });
}

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
document.getElementById("docs-link").href = docsUrl;
render();
