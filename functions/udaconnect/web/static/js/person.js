// A person's page: who they are, the filters, and whom they met (summary, map, timeline, list).
import { apiUrl, getConnections, getEncounters, getOwnTrack, getPerson } from "./api.js";
import { h } from "./dom.js";
import { dedupe, encounterList, withEnds } from "./encounters.js";
import { FiltersForm } from "./filters.js";
import { formatDateInput, formatDistance, fullName } from "./format.js";
import { LivePanel } from "./live.js";
import { renderMap } from "./map.js";
import { problemBlock } from "./problem.js";
import { sameFilters } from "./state.js";
import { renderTimeline } from "./timeline.js";
import { clockControl, currentZone, loadVenueZone, onClockChange } from "./zone.js";

// Enough for any real conference day; beyond it the map and list stop being readable anyway.
export const CONNECTION_LIMIT = 500;

export class PersonView {
  constructor(root, { onFilters, hrefFor, backHref, ownHref = "/" }) {
    this.root = root;
    this.ownHref = ownHref;
    this.hrefFor = hrefFor;
    this.backHref = backHref;
    this.personId = null;
    this.filters = null;
    this.form = new FiltersForm({ onChange: onFilters });
    this.back = h("a", { class: "back", href: "/" }, "\u2190 All people");
    this.heading = h("h2", { id: "person-name", tabindex: "-1", "data-testid": "person-name" });
    this.company = h("p", { class: "company", "data-testid": "person-company" });
    this.results = h("div", { class: "results", "data-testid": "results" });
    // One short sentence is announced per search, not the whole list.
    this.announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    this.live = new LivePanel();
    this.clock = clockControl();
    // another clock: the same answer told again, nothing asked of the API
    onClockChange(() => {
      if (this.shown) this.renderResults(...this.shown);
      this.live.retell();
    });
  }

  welcome() {
    this.personId = null;
    this.live.close();
    this.root.replaceChildren(h("div", { class: "welcome" },
      h("h2", {}, "Whom did you cross paths with?"),
      h("p", {}, "Pick a person from the list to see everyone they met, where, and when.")));
  }

  /** The API said this page is not the signed-in person's (403): one notice, no half-loaded page behind it. */
  refuse(err) {
    if (this.refused === this.personId) return;
    this.refused = this.personId;
    for (const c of [this.personController, this.controller, this.historyController]) c?.abort();
    this.live.close();
    this.root.replaceChildren(h("div", { class: "refused", "data-testid": "refused" }, problemBlock(err),
      h("p", {}, h("a", { href: this.ownHref, "data-testid": "own-page" }, "Go to your own page"))));
  }

  update({ personId, filters, q }, { focus = false } = {}) {
    this.back.href = this.backHref(q);
    if (personId === null) return this.welcome();
    const personChanged = personId !== this.personId;
    if (personChanged) {
      this.personId = personId;
      this.refused = null;
      this.results.replaceChildren();
      this.root.replaceChildren(this.back, this.heading, this.company, this.form.el, this.clock, this.announcer,
        this.live.el, this.results);
      this.personLoaded = this.loadPerson(personId);
      this.live.follow(personId);
    }
    this.form.write(filters);
    if (personChanged || !sameFilters(filters, this.filters)) {
      this.filters = { ...filters };
      this.loadConnections(personId, this.filters);
      this.historyController?.abort();
      this.historyController = new AbortController();
      this.live.showHistory(personId, this.filters, this.historyController.signal);
    }
    if (focus) this.heading.focus();
  }

  async loadPerson(id) {
    this.personController?.abort();
    const controller = (this.personController = new AbortController());
    this.heading.textContent = `Person ${id}`;
    this.company.textContent = "";
    try {
      const person = await getPerson(id, controller.signal);
      this.person = person;
      this.heading.textContent = fullName(person);
      this.company.textContent = person.company_name || "";
      document.title = `${fullName(person)} \u2014 UdaConnect`;
    } catch (err) {
      if (err.status === 403) this.refuse(err);
      else if (err.name !== "AbortError") this.company.replaceChildren(problemBlock(err));
    }
  }

  async loadConnections(id, filters) {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    this.shown = null;
    this.results.setAttribute("aria-busy", "true");
    this.results.classList.add("loading");
    this.results.querySelector(".loading-note")?.remove();
    this.results.prepend(h("p", { class: "status loading-note", "data-testid": "loading" }, "Looking for connections\u2026"));
    this.announcer.textContent = "Looking for connections\u2026";
    try {
      const [connections, track, runs] = await Promise.all([
        getConnections(id, filters, controller.signal, CONNECTION_LIMIT),
        getOwnTrack(id, filters, controller.signal),
        // the detected encounters give a meeting its end ("10:14-10:31"); without them, one instant
        getEncounters(id, filters, controller.signal).catch((err) => {
          if (err.name === "AbortError") throw err;
          return [];
        }),
        loadVenueZone(),
        this.personLoaded, // the summary names the person
      ]);
      this.renderResults(withEnds(dedupe(connections), runs), track, filters, connections.length >= CONNECTION_LIMIT);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 403) return this.refuse(err);
      this.results.replaceChildren(problemBlock(err, { retry: () => this.loadConnections(id, filters) }));
      this.announcer.textContent = `${err.title}: ${err.detail || err.errors?.map((e) => e.message).join("; ")}`;
    } finally {
      if (this.controller === controller) {
        this.results.removeAttribute("aria-busy");
        this.results.classList.remove("loading");
      }
    }
  }

  summary(count, filters, truncated = false) {
    const who = this.person && String(this.person.id) === this.personId ? fullName(this.person) : "This person";
    const range = `between ${formatDateInput(filters.start_date)} and ${formatDateInput(filters.end_date)}`;
    const near = filters.distance ? `within ${formatDistance(Number(filters.distance))}` : "nearby";
    const people = `${truncated ? "at least " : ""}${count} ${count === 1 ? "person" : "people"}`;
    if (filters.window) {
      const when = `, within ${filters.window} minutes of each other`;
      if (!count) return `No one was ${near} of ${who} ${range}${when}. Try a larger distance, a wider date range or a longer time window.`;
      return `${who} met ${people} ${near} ${range}${when}.`;
    }
    // Without a window, the same place at any time of the range: no one was met, only places shared.
    if (!count) return `No one was ${near} of where ${who} was ${range}, at any time. Try a larger distance or a wider date range.`;
    return `${people[0].toUpperCase()}${people.slice(1)} ${count === 1 ? "was" : "were"} ${near} of where ${who} was ${range}, `
      + "not necessarily at the same time.";
  }

  renderResults(encounters, track, filters, truncated) {
    this.shown = [encounters, track, filters, truncated];
    const timeZone = currentZone();
    this.clock.refresh(encounters[0]?.time);
    this.announcer.textContent = this.summary(encounters.length, filters, truncated);
    const summary = h("p", { class: "summary", "data-testid": "summary" }, this.summary(encounters.length, filters, truncated),
      truncated
        ? h("span", { class: "truncated", "data-testid": "truncated" },
            ` Showing the first ${CONNECTION_LIMIT}: narrow the dates or distance, or set a time window, to see the rest.`)
        : null);
    if (!encounters.length) {
      this.shown = null;
      this.results.replaceChildren(h("div", { class: "empty", "data-testid": "empty" }, summary));
      return;
    }
    const select = (id, { scroll } = {}) => {
      map.select(id);
      timeline.select(id);
      for (const li of this.results.querySelectorAll("li.encounter")) {
        li.classList.toggle("selected", li.dataset.personId === id);
        if (li.dataset.personId === id && scroll !== "map") li.scrollIntoView({ block: "nearest" });
      }
      if (scroll === "map") map.el.scrollIntoView({ block: "nearest" });
    };
    const together = Boolean(filters.window); // "met" only for co-presence
    const map = renderMap({ encounters, track, onSelect: select, timeZone, together });
    const timeline = renderTimeline({ encounters, onSelect: select, timeZone, together });
    const copy = h("button", { type: "button", class: "link-button", "data-testid": "copy-link" }, "Copy link to this view");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(window.location.href);
        copy.textContent = "Link copied";
      } catch {
        copy.textContent = "Copy the address bar: it holds this view";
      }
    });
    // a link would open without the token (401): the command line instead, with the token as a placeholder
    const searchUrl = apiUrl(`/api/persons/${encodeURIComponent(this.personId)}/connection`, filters);
    const command = `curl -H "Authorization: Bearer $UDACONNECT_TOKEN" '${searchUrl}'`;
    const copyCurl = h("button", { type: "button", class: "link-button", "data-testid": "copy-curl" }, "Copy");
    copyCurl.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(command);
        copyCurl.textContent = "Copied";
      } catch {
        copyCurl.textContent = "Select the line to copy it";
      }
    });
    const asJson = h("details", { class: "api-search", "data-testid": "api-search" },
      h("summary", {}, "This search in the API"),
      h("p", {}, "Set UDACONNECT_TOKEN to your token (`udaconnect token` prints one), then:"),
      h("code", { "data-testid": "api-curl", "data-url": searchUrl }, command), " ", copyCurl);
    this.results.replaceChildren(
      summary,
      h("p", { class: "actions" }, copy, asJson),
      // places shared on a day (an attendee's answer without a window) have no time to put on an axis
      encounters.some((e) => e.location)
        ? h("section", { class: "panel", "aria-labelledby": "timeline-title" },
          h("h3", { id: "timeline-title" }, "When"), timeline.el)
        : null,
      h("div", { class: "views" },
        h("section", { class: "panel map-panel", "aria-labelledby": "map-title" },
          h("h3", { id: "map-title" }, "Where"), map.el),
        h("section", { class: "panel", "aria-labelledby": "list-title" },
          h("h3", { id: "list-title" }, "Who"),
          encounterList(encounters, { hrefFor: this.hrefFor, onSelect: select, timeZone, together }))));
  }
}
