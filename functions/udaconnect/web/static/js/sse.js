// Server-Sent Events over fetch, so the bearer token travels in the Authorization header: an EventSource cannot
// send headers, and a token in a URL ends up in logs, proxies and histories (the API refuses one there). Parsed as
// the HTML standard's event stream; it reconnects as an EventSource would (after `retry` ms, with Last-Event-ID).

const LINE = /\r\n|\r|\n/;

/** Feeds chunks of an event stream's text; calls `dispatch(event, data, id)` for each complete event. */
export function eventParser(dispatch) {
  let buffer = "";
  let event = "";
  let data = [];
  let id = null;
  const state = { lastEventId: "", retry: null };
  const line = (text) => {
    if (text === "") {
      if (id !== null) state.lastEventId = id;
      if (data.length) dispatch(event || "message", data.join("\n"), state.lastEventId);
      event = "";
      data = [];
      id = null;
      return;
    }
    if (text.startsWith(":")) return; // a comment: the server's keep-alive
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && !value.includes("\0")) id = value;
    else if (field === "retry" && /^\d+$/.test(value)) state.retry = Number(value);
  };
  return {
    state,
    push(chunk) {
      buffer += chunk;
      for (;;) {
        const found = LINE.exec(buffer);
        // a lone "\r" at the end may be the first half of "\r\n": wait for the next chunk
        if (!found || (found[0] === "\r" && found.index === buffer.length - 1)) return;
        line(buffer.slice(0, found.index));
        buffer = buffer.slice(found.index + found[0].length);
      }
    },
    /** The stream ended: a "\r" held back ends its line after all (what is left unterminated is dropped). */
    end() {
      if (buffer.endsWith("\r")) line(buffer.slice(0, -1));
      buffer = "";
    },
  };
}

const pause = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/**
 * Follow the stream at `url` until `close()`: `headers()` gives each connection's headers (the current token),
 * `on.open()` when a connection answers 200, `on.event(type, data, id)` per event, `on.reconnecting()` when one
 * ends or fails, and `on.refused(status)` when the API refuses it (4xx but 429: not retried, as an EventSource).
 */
export function followStream(url, headers, on) {
  const controller = new AbortController();
  const { signal } = controller;
  let lastEventId = "";
  let retry = 3000;
  (async () => {
    while (!signal.aborted) {
      let response = null;
      try {
        const sent = { Accept: "text/event-stream", ...headers(), ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) };
        response = await fetch(url, { headers: sent, cache: "no-store", signal });
      } catch {
        if (signal.aborted) return;
      }
      if (response && !response.ok && response.status < 500 && response.status !== 429) {
        on.refused?.(response.status);
        return;
      }
      if (response?.ok && response.body) {
        on.open?.();
        const parser = eventParser((type, data, id) => on.event?.(type, data, id));
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) {
              parser.end();
              lastEventId = parser.state.lastEventId || lastEventId;
              break;
            }
            parser.push(value);
            lastEventId = parser.state.lastEventId || lastEventId;
            retry = parser.state.retry ?? retry;
          }
        } catch {
          // the connection broke: reconnect below
        }
      }
      if (signal.aborted) return;
      on.reconnecting?.();
      await pause(retry, signal);
    }
  })();
  return { close: () => controller.abort() };
}
