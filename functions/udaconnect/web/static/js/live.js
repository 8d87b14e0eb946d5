// The live panel of a person's page: new encounters as they happen (Server-Sent Events over fetch: sse.js), the
// history below, on the clock chosen (zone.js).
import { followLive, getEncounters } from "./api.js";
import { h } from "./dom.js";
import { formatSpan, localParts, personWithCompany } from "./format.js";
import { currentZone } from "./zone.js";

/** "You just met Ada Lovelace (Acme) at 10:14 (PDT)" */
export function justMet(encounter, timeZone = currentZone()) {
  const at = localParts(Date.parse(encounter?.first_seen), timeZone);
  return `You just met ${personWithCompany(encounter?.person)}${at ? ` at ${at.hour}:${at.minute} (${at.zone})` : ""}`;
}

/** "Ada Lovelace (Acme), Tue 7 Jul, 10:14–10:31 (PDT), 12 contacts" */
export function pastEncounter(encounter, timeZone = currentZone()) {
  const when = Number.isFinite(Date.parse(encounter?.first_seen))
    ? formatSpan(encounter.first_seen, encounter.last_seen, timeZone) : "an unknown time";
  const contacts = Number(encounter?.contacts);
  const count = Number.isFinite(contacts) && contacts > 0 ? `, ${contacts} ${contacts === 1 ? "contact" : "contacts"}` : "";
  return `${personWithCompany(encounter?.person)}, ${when}${count}`;
}

export class LivePanel {
  constructor() {
    this.status = h("p", { class: "status live-status", "data-testid": "live-status" });
    this.news = h("ul", { class: "live-news", "data-testid": "live-news", "aria-live": "polite" });
    this.history = h("ul", { class: "live-history", "data-testid": "live-history" });
    this.historyNote = h("p", { class: "status", "data-testid": "live-history-note" });
    this.el = h("section", { class: "panel live-panel", "aria-labelledby": "live-title", "data-testid": "live" },
      h("h3", { id: "live-title" }, "Live encounters"), this.status, this.news,
      h("h4", {}, "Encounters in these days"), this.historyNote, this.history);
    this.source = null;
    this.personId = null;
    this.fresh = []; // what is shown, kept to be told again on another clock
    this.past = [];
  }

  newsItem(encounter) {
    return h("li", { class: "live-new", "data-testid": "live-encounter", dataset: { id: String(encounter.id) } },
      justMet(encounter));
  }

  /** The same encounters told on the clock now chosen. */
  retell() {
    this.news.replaceChildren(...this.fresh.map((e) => this.newsItem(e)));
    this.history.replaceChildren(...this.past.map((e) => h("li", {}, pastEncounter(e))));
  }

  /** Follow `personId`: one stream at a time; it reconnects by itself (with Last-Event-ID). */
  follow(personId) {
    if (personId === this.personId && this.source) return;
    this.close();
    this.personId = personId;
    this.fresh = [];
    this.news.replaceChildren();
    if (personId === null || typeof ReadableStream === "undefined") return;
    this.status.textContent = "Connecting\u2026";
    this.source = followLive(personId, {
      open: () => { this.status.textContent = "Live: new encounters appear here as they happen."; },
      reconnecting: () => { this.status.textContent = "Reconnecting\u2026"; },
      refused: (status) => {
        this.status.textContent = status === 401 || status === 403
          ? "Live updates stopped: sign in again to follow them."
          : "Live updates stopped: reload the page to try again.";
      },
      event: (type, data) => { if (type === "encounter") this.encountered(data); },
    });
  }

  encountered(data) {
    let encounter;
    try {
      encounter = JSON.parse(data);
    } catch {
      return;
    }
    this.fresh.unshift(encounter);
    this.news.prepend(this.newsItem(encounter));
    const day = String(encounter.first_seen || "").slice(0, 10);
    if (this.range && day >= this.range.start_date && day <= this.range.end_date) {  // the history's days only
      this.past.unshift(encounter);
      this.history.prepend(h("li", {}, pastEncounter(encounter)));
      this.historyNote.textContent = "";
    }
  }

  async showHistory(personId, filters, signal) {
    this.range = { start_date: String(filters.start_date || ""), end_date: String(filters.end_date || "") };
    this.historyNote.textContent = "Loading\u2026";
    try {
      const encounters = await getEncounters(personId, filters, signal);
      this.past = encounters;
      this.history.replaceChildren(...encounters.map((e) => h("li", {}, pastEncounter(e))));
      this.historyNote.textContent = this.history.children.length ? "" : "No encounters in these days yet.";
    } catch (err) {
      if (err.name === "AbortError") return;
      this.past = [];
      this.history.replaceChildren();
      this.historyNote.textContent = `Encounters could not be loaded (${err.detail || err.message}).`;
    }
  }

  close() {
    this.source?.close();
    this.source = null;
    this.personId = null;
  }
}
