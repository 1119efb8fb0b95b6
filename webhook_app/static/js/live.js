// Live updates for every page: one EventSource on /api/stream; polling only while it is down.
// The header's indicator says which: "Live", "Reconnecting…" (polling meanwhile).
import { $ } from "./api.js";

const POLL_MS = 10000;

// `also` names more of the stream's hints the page wants (e.g. "conversations": a reply changed status).
export function live(onChange, { pollMs = POLL_MS, also = [] } = {}) {
  const badge = $("live-state");
  let poller = null;
  let source = null;

  function show(state, text) {
    if (!badge) return;
    badge.dataset.state = state;
    badge.className = `live live-${state}`;
    badge.textContent = text;
  }

  function startPolling() {
    if (poller) return;
    poller = setInterval(() => { if (!document.hidden) onChange({ reason: "poll" }); }, pollMs);
  }

  function stopPolling() {
    clearInterval(poller);
    poller = null;
  }

  function connect() {
    if (!window.EventSource) { show("off", "Refreshing every 10 s"); startPolling(); return; }
    source = new EventSource("/api/stream");
    source.addEventListener("hello", () => {
      const wasDown = poller !== null;
      stopPolling();
      show("on", "Live");
      if (wasDown) onChange({ reason: "reconnected" });
    });
    source.addEventListener("events", (event) => onChange({ reason: "events", data: JSON.parse(event.data) }));
    source.addEventListener("resync", () => onChange({ reason: "resync" }));
    also.forEach((name) => source.addEventListener(name, () => onChange({ reason: name })));
    source.addEventListener("error", () => {
      show("down", "Reconnecting…");
      startPolling();  // the browser retries the stream by itself; until then, poll
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  show("off", "Connecting…");
  connect();
  return { close: () => { if (source) source.close(); stopPolling(); } };
}

// Many hints in a burst cost one refresh: run `fn` at most once per `ms`, with the last call honoured.
export function throttle(fn, ms = 300) {
  let timer = null;
  let again = false;
  return function run() {
    if (timer) { again = true; return; }
    fn();
    timer = setTimeout(() => { timer = null; if (again) { again = false; run(); } }, ms);
  };
}
