// Renders an API failure (problem+json) as words: the title, the detail, each field's message.
import { h } from "./dom.js";

export function problemBlock(error, { retry } = {}) {
  const title = error?.title || "Something went wrong";
  const detail = error?.detail || (error?.errors?.length ? "" : error?.message || "");
  const errors = Array.isArray(error?.errors) ? error.errors : [];
  return h(
    "div",
    { class: "problem", role: "alert", "data-testid": "error" },
    h("p", { class: "problem-title" }, title),
    detail ? h("p", { class: "problem-detail" }, detail) : null,
    errors.length
      ? h(
          "ul",
          { class: "problem-errors" },
          errors.map((e) =>
            h("li", {}, e.field ? h("span", { class: "field" }, `${e.field}: `) : null, e.message),
          ),
        )
      : null,
    retry ? h("button", { type: "button", class: "secondary", onclick: retry }, "Try again") : null,
  );
}
