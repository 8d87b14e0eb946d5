// The connection filters form: dates, distance in meters and the optional "same time" window.
import { h, debounce } from "./dom.js";

const FIELDS = [
  { name: "start_date", label: "From", type: "date", hint: "First day, inclusive" },
  { name: "end_date", label: "Until", type: "date", hint: "Last day" },
  { name: "distance", label: "Within (meters)", type: "number", min: "0", step: "any", inputmode: "decimal" },
  {
    name: "window",
    label: "At the same time",
    type: "number",
    min: "1",
    step: "1",
    inputmode: "numeric",
    placeholder: "off",
    hint: "Minutes apart; empty: any time",
  },
];

export class FiltersForm {
  constructor({ onChange }) {
    this.onChange = onChange;
    this.inputs = {};
    const apply = debounce(() => this.onChange(this.read()), 450);
    this.apply = apply;
    this.el = h(
      "form",
      {
        class: "filters",
        "aria-label": "Connection filters",
        "data-testid": "filters",
        onsubmit: (event) => {
          event.preventDefault();
          apply.cancel();
          this.onChange(this.read());
        },
        oninput: apply,
        onchange: apply,
      },
      FIELDS.map((field) => this.field(field)),
      h("button", { type: "submit", class: "primary" }, "Show connections"),
    );
  }

  field({ name, label, hint, ...attrs }) {
    const id = `filter-${name.replace("_", "-")}`;
    const input = h("input", {
      id,
      name,
      "data-testid": id,
      "aria-describedby": hint ? `${id}-hint` : undefined,
      ...attrs,
    });
    this.inputs[name] = input;
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      input,
      hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null,
    );
  }

  read() {
    const filters = {};
    for (const [name, input] of Object.entries(this.inputs)) filters[name] = input.value.trim();
    return filters;
  }

  write(filters) {
    for (const [name, input] of Object.entries(this.inputs)) {
      const value = filters[name] ?? "";
      // Leave a field alone while it already says the same thing, so typing is never disturbed.
      if (input.value !== value && document.activeElement !== input) input.value = value;
    }
  }
}
