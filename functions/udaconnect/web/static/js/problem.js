// Renders an API failure (problem+json) as words: the title, the detail, each field's message.
import { SEARCH_TIMEOUT } from "./api.js";
import { h } from "./dom.js";

const TIMEOUT_HINT = "Ask for less: fewer days, a shorter distance or a time window.";

export function problemBlock(error, { retry } = {}) {
  // 504: the API stopped the search at its deadline (its detail says what to change), or something in between
  // gave up waiting (no such words: ours stand in). Trying the same search again would only wait again.
  const timedOut = error?.status === 504;
  const ours = timedOut && error?.type === SEARCH_TIMEOUT;
  const title = timedOut && !ours ? "The search took too long"
    : error?.status === 403 ? "Not yours: you are signed in as someone else"
    : error?.title || "Something went wrong";
  const detail = timedOut && !ours ? TIMEOUT_HINT : error?.detail || (error?.errors?.length ? "" : error?.message || "");
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
    retry && !timedOut ? h("button", { type: "button", class: "secondary", onclick: retry }, "Try again") : null,
  );
}
