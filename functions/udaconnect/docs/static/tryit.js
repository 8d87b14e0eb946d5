// "Try it": a form per GET operation that calls the API and shows the answer (status, type, time, body).
// An operation that needs a bearer token gets a token field; the token is kept for this tab only
// (sessionStorage) and shown as $TOKEN in the curl line.
"use strict";

(function () {
  const tryIt = { base: new URL("/", location.href) };
  const TOKEN_KEY = "udaconnect.docs.token";

  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
  }

  function keepToken(value) {
    try { sessionStorage.setItem(TOKEN_KEY, value); } catch (_) { /* private mode: typed again */ }
    for (const input of document.querySelectorAll("input[data-in=bearer]")) if (input.value !== value) input.value = value;
  }

  function initial(p) {
    const { deref, example } = window.UdaDocs;
    if (p.example !== undefined) return p.example;
    const named = Object.values(p.examples || {}).map(deref).find((e) => "value" in e);
    if (named) return named.value;
    const schema = deref(p.schema);
    if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
    if (schema.example !== undefined) return schema.example;
    if (schema.default !== undefined && schema.default !== null) return schema.default;
    // a request the server can answer right away: required values get a plausible example
    return p.required ? example(p.schema) : "";
  }

  function placeholder(schema) {
    const { deref } = window.UdaDocs;
    schema = deref(schema);
    const branch = [schema, ...(schema.anyOf || []), ...(schema.oneOf || [])].find((s) => s.format || s.type);
    if (!branch) return "";
    return { date: "YYYY-MM-DD", "date-time": "2020-08-18T10:37:06+00:00" }[branch.format] || branch.type || "";
  }

  const quote = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";

  async function send(form, path, output) {
    const { h } = window.UdaDocs;
    const query = new URLSearchParams();
    const headers = {};
    let shownToken = "";
    let target = path;
    for (const input of form.querySelectorAll("input[data-in]")) {
      const value = input.value.trim();
      const where = input.dataset.in;
      if (where === "path") target = target.split("{" + input.name + "}").join(encodeURIComponent(value));
      else if (value === "") continue;
      else if (where === "query") query.append(input.name, value);
      else if (where === "header") headers[input.name] = value;
      else if (where === "bearer") {
        headers.Authorization = "Bearer " + value.replace(/^Bearer\s+/i, "");
        shownToken = "Bearer $TOKEN";
      }
    }
    const accept = form.querySelector("select[name=accept]");
    if (accept) headers.Accept = accept.value;
    const url = new URL(target.replace(/^\//, ""), tryIt.base);
    url.search = query.toString();
    const curl = ["curl", ...Object.entries(headers).map(([k, v]) =>
      "-H " + (k === "Authorization" && shownToken ? '"Authorization: ' + shownToken + '"' : quote(k + ": " + v))),
    quote(url.href)];
    output.replaceChildren(h("p", { class: "muted" }, "Sending GET ", h("code", null, url.href), "\u2026"));
    const started = performance.now();
    try {
      const response = await fetch(url, { headers });
      const text = await response.text();
      const type = response.headers.get("content-type") || "";
      let body = text;
      if (/json/i.test(type)) {
        try { body = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* shown as sent */ }
      }
      output.replaceChildren(
        h("p", { class: "answer" },
          h("span", { class: "status s" + String(response.status)[0] }, response.status), " ", response.statusText,
          type ? [" \u00b7 ", h("code", null, type)] : null, " \u00b7 ", Math.round(performance.now() - started) + " ms"),
        h("pre", { class: "curl" }, curl.join(" ")),
        h("pre", { class: "body" }, body || "(empty body)"));
    } catch (error) {
      output.replaceChildren(h("p", { class: "problem" }, "Request failed: " + error.message),
        h("pre", { class: "curl" }, curl.join(" ")));
    }
  }

  tryIt.form = function (path, params, responses, secured) {
    const { h } = window.UdaDocs;
    const media = [...new Set(responses.flatMap((r) => Object.keys(r.content || {})))];
    const fields = params.filter((p) => ["path", "query", "header"].includes(p.in)).map((p) => {
      const value = initial(p);
      return h("label", null,
        h("span", { class: "name" }, p.name, p.required ? h("span", { class: "req" }, " *") : null, " ",
          h("small", null, p.in)),
        h("input", { name: p.name, "data-in": p.in, placeholder: placeholder(p.schema),
          value: value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : value }));
    });
    if (secured) {
      const token = h("input", { name: "Authorization", "data-in": "bearer", type: "password", autocomplete: "off",
        placeholder: "from: udaconnect token --organizer", value: storedToken() });
      token.addEventListener("input", () => keepToken(token.value.trim()));
      fields.unshift(h("label", null, h("span", { class: "name" }, "Bearer token ", h("small", null, "header")),
        token));
    }
    const output = h("div", { class: "output", "aria-live": "polite" });
    const form = h("form", { class: "tryit", novalidate: true },
      h("h4", null, "Try it"),
      h("div", { class: "inputs" }, fields,
        media.length > 1 ? h("label", null, h("span", { class: "name" }, "Accept"),
          h("select", { name: "accept" }, media.map((m) => h("option", { value: m }, m)))) : null),
      h("button", { type: "submit" }, "Send"),
      output);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(form, path, output);
    });
    return form;
  };

  window.UdaTryIt = tryIt;
})();
