// The people directory: server-side search (debounced), paged with "Show more", arrow-key navigation.
import { listPersons } from "./api.js";
import { h, debounce } from "./dom.js";
import { fullName } from "./format.js";
import { problemBlock } from "./problem.js";

const PAGE = 50;

export class PeopleList {
  constructor(root, { onQuery, hrefFor }) {
    this.hrefFor = hrefFor;
    this.q = null;
    this.persons = [];
    this.selectedId = null;
    this.search = h("input", {
      id: "person-search", type: "search", "data-testid": "person-search", autocomplete: "off",
      placeholder: "Name or company", "aria-controls": "people-list",
    });
    const query = debounce(() => onQuery(this.search.value.trim()), 250);
    this.search.addEventListener("input", query);
    this.search.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown") { ev.preventDefault(); this.links()[0]?.focus(); }
      if (ev.key === "Escape" && this.search.value) { this.search.value = ""; query(); }
    });
    this.status = h("p", { class: "status", role: "status", "aria-live": "polite", "data-testid": "people-status" });
    this.list = h("ul", { id: "people-list", class: "people-list", "data-testid": "people-list", "aria-label": "People" });
    this.list.addEventListener("keydown", (ev) => this.onKey(ev));
    // Scrolling to the end of the list fetches the next page; the button stays for keyboards.
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !this.more.hidden && !this.loading) this.load(false);
    }); // the viewport as root: clipping by the list's own scroll box counts too
    this.more = h("button", { type: "button", class: "secondary more", hidden: true, onclick: () => this.load(false) },
      "Show more");
    root.replaceChildren(
      h("label", { for: "person-search", class: "search-label" }, "Find people"),
      this.search, this.status, this.list, this.more);
  }

  links() {
    return [...this.list.querySelectorAll("a")];
  }

  onKey(ev) {
    const links = this.links();
    const i = links.indexOf(document.activeElement);
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: links.length - 1 }[ev.key];
    if (to === undefined || i < 0) return;
    ev.preventDefault();
    if (to < 0) this.search.focus();
    else links[Math.min(to, links.length - 1)].focus();
  }

  update({ q, personId }) {
    this.selectedId = personId;
    if (document.activeElement !== this.search && this.search.value !== q) this.search.value = q;
    if (q !== this.q) {
      this.q = q;
      this.load(true);
    } else {
      this.refreshLinks();
    }
  }

  refreshLinks() {
    for (const a of this.links()) {
      a.href = this.hrefFor(a.dataset.personId);
      if (a.dataset.personId === this.selectedId) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  async load(reset) {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    const offset = reset ? 0 : this.persons.length;
    this.loading = true;
    this.list.setAttribute("aria-busy", "true");
    this.status.replaceChildren(reset ? "Loading people\u2026" : "Loading more\u2026");
    try {
      const { persons, total } = await listPersons({ q: this.q, limit: PAGE, offset }, controller.signal);
      this.persons = reset ? persons : this.persons.concat(persons);
      if (reset) this.list.replaceChildren();
      this.list.append(...persons.map((p) => this.item(p)));
      this.refreshLinks();
      this.more.hidden = total !== null ? this.persons.length >= total : persons.length < PAGE;
      this.status.replaceChildren(this.describe(total));
      this.observer.disconnect();
      if (!this.more.hidden && this.list.lastElementChild) this.observer.observe(this.list.lastElementChild);
    } catch (err) {
      if (err.name === "AbortError") return;
      this.status.replaceChildren(problemBlock(err, { retry: () => this.load(reset) }));
    } finally {
      if (this.controller === controller) {
        this.list.removeAttribute("aria-busy");
        this.loading = false;
      }
    }
  }

  describe(total) {
    const n = this.persons.length;
    if (!n) return this.q ? `No one matches \u201c${this.q}\u201d.` : "No people yet.";
    const count = total !== null ? `${n} of ${total}` : `${n}`;
    return `${count} ${n === 1 && total === null ? "person" : "people"}${this.q ? ` matching \u201c${this.q}\u201d` : ""}`;
  }

  item(person) {
    const id = String(person.id);
    return h("li", {},
      h("a", { href: this.hrefFor(id), "data-testid": "person-link", "data-person-id": id },
        h("span", { class: "name" }, fullName(person)),
        h("span", { class: "company" }, person.company_name || "")));
  }
}
