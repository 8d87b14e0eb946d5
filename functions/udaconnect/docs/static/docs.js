// UdaConnect API reference: renders the OpenAPI document beside this page. No dependencies; text from the
// document only ever reaches the page through textContent, never as HTML.
"use strict";

(function () {
  const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
  const MAX_DEPTH = 4;
  let spec = {};

  // ---- DOM helpers -------------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const anchor = (prefix, name) => prefix + "-" + String(name).replace(/[^A-Za-z0-9_-]+/g, "-");
  const json = (value) => JSON.stringify(value, null, 2);

  // ---- $ref resolution (local JSON pointers only: a document on this origin) ---------------------------
  function resolve(ref) {
    if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
    let node = spec;
    for (const part of ref.slice(2).split("/")) {
      const key = decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~");
      if (node === null || typeof node !== "object" || !(key in node)) return undefined;
      node = node[key];
    }
    return node;
  }

  function deref(node) {
    for (let hops = 0; node && node.$ref && hops < 20; hops++) node = resolve(node.$ref) || {};
    return node || {};
  }

  const refName = (ref) => decodeURIComponent(ref.split("/").pop());
  const isNull = (schema) => schema && (schema.type === "null" || schema.const === null);

  // ---- schemas -----------------------------------------------------------------------------------------
  function typeLabel(schema) {
    if (!schema || typeof schema !== "object") return "any";
    if (schema.$ref) return h("a", { href: "#" + anchor("schema", refName(schema.$ref)), class: "ref" },
      refName(schema.$ref));
    for (const [key, glue] of [["anyOf", " | "], ["oneOf", " | "], ["allOf", " & "]]) {
      if (Array.isArray(schema[key])) {
        return h("span", null, schema[key].map((s, i) => [i ? glue : "", typeLabel(s)]));
      }
    }
    if (Array.isArray(schema.enum)) return "enum: " + schema.enum.map((v) => JSON.stringify(v)).join(", ");
    if ("const" in schema) return "const " + JSON.stringify(schema.const);
    const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
    if (type === "array") return h("span", null, "array of ", typeLabel(schema.items));
    const label = type || (schema.properties ? "object" : "any");
    const nullable = schema.nullable ? " | null" : "";
    return schema.format ? `${label} (${schema.format})${nullable}` : label + nullable;
  }

  const CONSTRAINTS = ["default", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength",
    "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "multipleOf"];

  function constraints(schema) {
    if (!schema || typeof schema !== "object" || schema.$ref) return [];
    const own = CONSTRAINTS.filter((k) => k in schema && !(k === "default" && schema[k] === null))
      .map((k) => `${k}: ${JSON.stringify(schema[k])}`);
    const branches = [...(schema.anyOf || []), ...(schema.oneOf || [])].filter((s) => !isNull(s));
    return own.concat(...branches.map(constraints));
  }

  function example(schema, depth = 0) {
    schema = schema || {};
    if (schema.$ref) return depth > MAX_DEPTH ? {} : example(deref(schema), depth + 1);
    if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
    if ("example" in schema) return schema.example;
    if ("const" in schema) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    if ("default" in schema && schema.default !== null) return schema.default;
    const branch = (schema.anyOf || schema.oneOf || []).find((s) => !isNull(s));
    if (branch) return example(branch, depth + 1);
    if (Array.isArray(schema.allOf)) return Object.assign({}, ...schema.allOf.map((s) => example(s, depth + 1)));
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
    if (type === "object" || schema.properties) {
      const out = {};
      for (const [name, prop] of Object.entries(schema.properties || {})) {
        out[name] = depth > MAX_DEPTH ? null : example(prop, depth + 1);
      }
      return out;
    }
    if (type === "array") return depth > MAX_DEPTH ? [] : [example(schema.items, depth + 1)];
    if (type === "string") {
      return { "date-time": "2020-08-18T10:37:06+00:00", date: "2020-08-18", email: "ada@example.com",
        uri: "https://example.com/" }[schema.format] || "string";
    }
    return { integer: 1, number: 1.5, boolean: true, null: null }[type] ?? null;
  }

  // The object behind a schema, for a fields table (a $ref or an array of one is expanded).
  function objectOf(schema) {
    schema = deref(schema);
    if (schema.type === "array" && schema.items) return objectOf(schema.items);
    return schema.properties ? schema : null;
  }

  function fieldsTable(schema, trail) {
    const obj = objectOf(schema);
    if (!obj) return null;
    const required = new Set(obj.required || []);
    const rows = Object.entries(obj.properties).map(([name, prop]) => {
      const notes = constraints(prop);
      const sample = Array.isArray(prop.examples) && prop.examples.length ? prop.examples[0] : prop.example;
      const target = [prop, prop.items, ...(prop.anyOf || [])].find((s) => s && s.$ref)
        || (prop.items && prop.items.$ref ? prop.items : null);
      let nested = null;
      if (target && trail.length < MAX_DEPTH && !trail.includes(target.$ref)) {
        const inner = fieldsTable(target, trail.concat(target.$ref));
        if (inner) nested = h("details", null, h("summary", null, "fields of " + refName(target.$ref)), inner);
      }
      return h("tr", null,
        h("td", null, h("code", null, name)),
        h("td", null, typeLabel(prop)),
        h("td", null, required.has(name) ? h("span", { class: "req" }, "required") : "optional"),
        h("td", null,
          prop.description || "",
          notes.length ? h("div", { class: "notes" }, notes.join(", ")) : null,
          sample !== undefined ? h("div", { class: "notes" }, "example: ",
            h("code", null, JSON.stringify(sample))) : null,
          nested));
    });
    return h("table", { class: "fields" },
      h("thead", null, h("tr", null, h("th", null, "Field"), h("th", null, "Type"), h("th", null, "Required"),
        h("th", null, "Description"))),
      h("tbody", null, rows));
  }

  // The alternatives of a schema (or of its array's items) that is one of several objects.
  function alternativesOf(schema) {
    let node = deref(schema);
    if (node.type === "array" && node.items) node = deref(node.items);
    return node.anyOf || node.oneOf || null;
  }

  function schemaView(schema) {
    const alternatives = alternativesOf(schema);
    const table = alternatives
      ? alternatives.map((alt) => h("div", { class: "alternative" },
        h("p", null, "One of: ", h("code", null, alt.$ref ? refName(alt.$ref) : typeLabel(alt))),
        fieldsTable(alt, alt.$ref ? [alt.$ref] : [])))
      : fieldsTable(schema, schema && schema.$ref ? [schema.$ref] : []);
    return h("div", { class: "schema" },
      h("p", { class: "type" }, "Type: ", typeLabel(schema)),
      deref(schema).description ? h("p", null, deref(schema).description) : null,
      table,
      h("details", { class: "example" }, h("summary", null, "Example"), h("pre", null, json(example(schema)))));
  }

  function contentView(content) {
    return Object.entries(content || {}).map(([media, body]) =>
      h("div", { class: "media" }, h("h5", null, h("code", null, media)),
        body && body.schema ? schemaView(body.schema) : h("p", { class: "muted" }, "No schema.")));
  }

  // ---- operations ----------------------------------------------------------------------------------------
  function parameters(pathItem, operation) {
    const merged = new Map();
    for (const p of [...(pathItem.parameters || []), ...(operation.parameters || [])].map(deref)) {
      merged.set(p.in + ":" + p.name, p);
    }
    return [...merged.values()];
  }

  function parametersTable(params) {
    return h("table", { class: "fields params" },
      h("thead", null, h("tr", null, ["Name", "In", "Required", "Schema", "Description"].map((t) =>
        h("th", null, t)))),
      h("tbody", null, params.map((p) => {
        const notes = constraints(p.schema);
        return h("tr", null,
          h("td", null, h("code", null, p.name)), h("td", null, p.in),
          h("td", null, p.required ? h("span", { class: "req" }, "required") : "optional"),
          h("td", null, typeLabel(p.schema), notes.length ? h("div", { class: "notes" }, notes.join(", ")) : null),
          h("td", null, p.description || "", p.deprecated ? h("div", { class: "req" }, "deprecated") : null));
      })));
  }

  function operationId(method, path, operation) {
    return anchor("op", operation.operationId || method + path);
  }

  function operationView(path, method, pathItem, operation) {
    const params = parameters(pathItem, operation);
    const body = deref(operation.requestBody);
    const responses = Object.entries(operation.responses || {});
    return h("section", { class: "operation", id: operationId(method, path, operation) },
      h("h3", null, h("span", { class: "method " + method }, method.toUpperCase()), " ", h("code", null, path)),
      operation.summary ? h("p", { class: "summary" }, operation.summary) : null,
      operation.description ? h("p", null, operation.description) : null,
      operation.operationId ? h("p", { class: "muted" }, "operationId: ", h("code", null, operation.operationId))
        : null,
      h("h4", null, "Parameters"),
      params.length ? parametersTable(params) : h("p", { class: "muted" }, "None."),
      operation.requestBody ? [h("h4", null, "Request body", body.required ? " (required)" : ""),
        body.description ? h("p", null, body.description) : null, contentView(body.content)] : null,
      h("h4", null, "Responses"),
      responses.map(([status, response]) => {
        response = deref(response);
        return h("div", { class: "response" },
          h("h5", null, h("span", { class: "status s" + String(status)[0] }, status), " ",
            response.description || ""),
          contentView(response.content));
      }),
      method === "get" ? window.UdaTryIt.form(path, params,
        responses.filter(([status]) => /^2/.test(status)).map(([, r]) => deref(r)),
        (operation.security || spec.security || []).length > 0) : null);
  }

  // ---- the page ------------------------------------------------------------------------------------------
  function render() {
    const info = spec.info || {};
    const content = document.getElementById("content");
    const toc = document.getElementById("toc");
    const sections = [];
    const tocOps = [];
    for (const [path, rawItem] of Object.entries(spec.paths || {})) {
      const pathItem = deref(rawItem);
      for (const method of METHODS.filter((m) => pathItem[m])) {
        const operation = pathItem[method];
        sections.push(operationView(path, method, pathItem, operation));
        tocOps.push(h("li", null, h("a", { href: "#" + operationId(method, path, operation) },
          h("span", { class: "method " + method }, method.toUpperCase()), " ", path)));
      }
    }
    const schemas = Object.entries((spec.components || {}).schemas || {});
    content.append(...[
      h("h1", null, info.title || "API", info.version ? h("small", null, " v" + info.version) : null),
      info.description ? h("p", { class: "lead" }, info.description) : null,
      h("p", { class: "muted" }, "OpenAPI ", spec.openapi || spec.swagger || "?"),
      h("h2", { id: "operations" }, "Operations"), sections,
      schemas.length ? h("h2", { id: "schemas" }, "Schemas") : null,
      schemas.map(([name, schema]) => h("section", { class: "component", id: anchor("schema", name) },
        h("h3", null, name), schemaView({ $ref: "#/components/schemas/" + encodeURIComponent(name) }))),
    ].flat().filter(Boolean));
    toc.append(...[h("h2", null, h("a", { href: "#operations" }, "Operations")), h("ul", null, tocOps),
      schemas.length ? [h("h2", null, h("a", { href: "#schemas" }, "Schemas")), h("ul", null, schemas.map(([n]) =>
        h("li", null, h("a", { href: "#" + anchor("schema", n) }, n))))] : null].flat().filter(Boolean));
    document.title = (info.title || "API") + " reference";
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  }

  async function load() {
    const status = document.getElementById("status");
    const url = new URL(document.body.dataset.spec || "../openapi.json", document.baseURI);
    document.getElementById("spec-link").href = url.href;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`.trim());
      spec = await response.json();
      window.UdaTryIt.base = new URL((spec.servers && spec.servers[0] && spec.servers[0].url) || "/", url);
      render();
      status.textContent = "";
      status.hidden = true;
      document.body.dataset.ready = "true";
    } catch (error) {
      status.textContent = `Could not load the OpenAPI document from ${url.href}: ${error.message}`;
      status.className = "status problem";
      document.body.dataset.ready = "error";
    }
  }

  window.UdaDocs = { h, deref, example, typeLabel };
  document.addEventListener("DOMContentLoaded", load);
})();
