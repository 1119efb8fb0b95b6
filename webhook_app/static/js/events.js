// Events: filters in the query string (shareable, survive reloads, Back works), search, a summary
// column, selection with bulk retry / replay / delete, and rows that update live.
import { $, STATUS_LABELS, api, busy, el, statusPill, timeEl, toast } from "./api.js";
import { live, throttle } from "./live.js";

const FILTERS = ["q", "status", "object", "field", "account", "since", "until"];
const PAGE = 25;
const state = { cursor: null, rows: new Map(), selected: new Set() };
const form = $("event-filters");

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  FILTERS.forEach((name) => { const v = (params.get(name) || "").trim(); if (v) filters[name] = v; });
  return filters;
}

function showFiltersInForm(filters) {
  const active = FILTERS.filter((name) => name !== "q" && filters[name]).length;
  $("filters-active").textContent = active ? `(${active} active)` : "";
  // Open on a wide screen, or when some are set; on a phone the list comes first.
  if (active || window.matchMedia("(min-width: 700px)").matches) $("more-filters").open = true;
  FILTERS.forEach((name) => {
    const input = form.elements[name];
    const value = filters[name] || "";
    if (input.tagName === "SELECT" && value && ![...input.options].some((o) => o.value === value)) {
      input.append(el("option", { value, text: value }));  // a shared link's choice not (yet) among the offered
    }
    input.value = value;
  });
}

function apiFilters(filters) {
  const out = { ...filters };
  ["since", "until"].forEach((name) => { if (out[name]) out[name] = new Date(out[name]).toISOString(); });
  return out;
}

function eventsPath(extra) {
  return `/api/webhook-events?${new URLSearchParams({ ...apiFilters(filtersFromUrl()), ...extra })}`;
}

function summary(event) {
  const what = [event.object, event.field].filter(Boolean).join(" · ");
  const who = event.summary_who ? `from ${event.summary_who}` : "";
  const text = event.summary_text ? `“${event.summary_text}”` : (event.last_error || event.note || "");
  return el("td", { class: "summary" }, el("span", { class: "what", text: what }),
    who ? el("span", { class: "who-col", text: ` ${who}` }) : null,
    text ? el("span", { class: "muted snippet", text: ` ${text}` }) : null);
}

function eventRow(event) {
  const box = el("input", { type: "checkbox", checked: state.selected.has(event.id), "data-select": event.id,
    "aria-label": `Select event ${event.id}` });
  return el("tr", { "data-event-id": event.id, "data-status": event.status, "data-received-at": event.received_at,
    "data-version": `${event.status}|${event.attempts}|${event.updated_at}` },
    el("td", {}, box),
    el("td", {}, el("a", { href: `/events/${event.id}`, text: `#${event.id}`,
      "aria-label": `Event ${event.id}, ${STATUS_LABELS[event.status] || event.status}: details` })),
    el("td", {}, statusPill(event.status)),
    summary(event),
    el("td", { class: "wide-only" }, timeEl(event.received_at)),
    el("td", { class: "wide-only", text: String(event.attempts) }));
}

function show(list, append) {
  const body = $("events-body");
  if (!append) { body.replaceChildren(); state.rows.clear(); }
  list.forEach((event) => { const row = eventRow(event); state.rows.set(event.id, row); body.append(row); });
  $("events-empty").hidden = state.rows.size > 0;
  $("events-more").hidden = !state.cursor;
}

async function load() {
  const page = await api("GET", eventsPath({ limit: PAGE }));
  state.cursor = page.next_cursor;
  show(page.events, false);
  stamp();
}

async function loadOlder() {
  if (!state.cursor) return;
  const page = await api("GET", eventsPath({ limit: PAGE, before: state.cursor }));
  state.cursor = page.next_cursor;
  show(page.events.filter((e) => !state.rows.has(e.id)), true);
}

// A live refresh: new rows on top, changed rows replaced, unchanged rows (and the focus on them) left alone.
async function refresh() {
  const page = await api("GET", eventsPath({ limit: PAGE }));
  const body = $("events-body");
  const fresh = new Set(page.events.map((e) => e.id));
  const oldest = page.events[page.events.length - 1];
  state.rows.forEach((row, id) => {
    if (fresh.has(id)) return;
    const a = new Date(row.dataset.receivedAt).getTime();
    const inRange = !oldest || page.next_cursor === null || a > new Date(oldest.received_at).getTime();
    if (inRange) { row.remove(); state.rows.delete(id); }
  });
  let anchor = body.firstChild;
  page.events.forEach((event) => {
    const existing = state.rows.get(event.id);
    if (existing && existing.dataset.version === `${event.status}|${event.attempts}|${event.updated_at}`) {
      anchor = existing.nextSibling;
      return;
    }
    const row = eventRow(event);
    if (existing) {
      const focused = existing.contains(document.activeElement) && document.activeElement;
      existing.replaceWith(row);
      if (focused) row.querySelector(focused.tagName === "A" ? "a" : "input").focus();
      anchor = row.nextSibling;
    } else {
      body.insertBefore(row, anchor);
    }
    state.rows.set(event.id, row);
  });
  if (state.rows.size === page.events.length) state.cursor = page.next_cursor;
  $("events-empty").hidden = state.rows.size > 0;
  $("events-more").hidden = !state.cursor;
  stamp();
}

function stamp() { $("refreshed").textContent = `Updated ${new Date().toLocaleTimeString()}`; }

async function loadChoices() {
  const choices = await api("GET", "/api/webhook-events/choices");
  const current = filtersFromUrl();
  [["object", choices.objects], ["field", choices.fields], ["account", choices.accounts]].forEach(([name, list]) => {
    const select = form.elements[name];
    select.replaceChildren(el("option", { value: "", text: "All" }),
      ...list.map((c) => el("option", { value: c.value, text: `${c.value} (${c.count})` })));
    showFiltersInForm(current);
  });
}

function selectionChanged() {
  const n = state.selected.size;
  $("bulk-count").textContent = n ? `${n} selected` : "Select events to act on several at once.";
  document.querySelectorAll("[data-bulk]").forEach((b) => {
    b.disabled = n === 0;
    b.title = n ? "" : "Select one or more events first";
  });
}

async function bulk(button) {
  const action = button.dataset.bulk;
  const ids = [...state.selected];
  if (action === "delete" && !window.confirm(`Delete ${ids.length} event(s)? This cannot be undone.`)) return;
  await busy(button, async () => {
    const result = await api("POST", "/api/webhook-events/bulk", { action, ids });
    const verb = { retry: "put back in the queue", replay: "queued to run again", delete: "deleted" }[action];
    let message = `${result.done.length} event(s) ${verb}.`;
    if (result.skipped.length) {
      message += ` ${result.skipped.length} skipped` + (action === "retry" ? " (only failed or dead-letter events can be retried)." : ".");
    }
    toast(message, result.done.length ? "ok" : "error", button);
    state.selected.clear();
    $("select-all").checked = false;
    await load();
    selectionChanged();
  });
}

function navigate(filters, push = true) {
  const params = new URLSearchParams(filters);
  const url = params.toString() ? `/events?${params}` : "/events";
  if (push) history.pushState(null, "", url);
  showFiltersInForm(filters);
  state.selected.clear();
  selectionChanged();
  return load().catch((error) => toast(error.message, "error", form));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const filters = {};
  FILTERS.forEach((name) => { const v = form.elements[name].value.trim(); if (v) filters[name] = v; });
  navigate(filters);
});
["status", "object", "field", "account"].forEach((name) => form.elements[name].addEventListener("change",
  () => form.requestSubmit()));
$("filters-clear").addEventListener("click", (event) => { event.preventDefault(); navigate({}); });
window.addEventListener("popstate", () => navigate(filtersFromUrl(), false));
$("events-more").addEventListener("click", () => busy($("events-more"), loadOlder));
$("events-body").addEventListener("change", (event) => {
  const id = Number(event.target.dataset.select);
  if (!id) return;
  if (event.target.checked) state.selected.add(id); else state.selected.delete(id);
  selectionChanged();
});
$("select-all").addEventListener("change", (event) => {
  state.rows.forEach((row, id) => {
    const box = row.querySelector("input[data-select]");
    box.checked = event.target.checked;
    if (event.target.checked) state.selected.add(id); else state.selected.delete(id);
  });
  selectionChanged();
});
document.querySelectorAll("[data-bulk]").forEach((b) => b.addEventListener("click", () => bulk(b)));

showFiltersInForm(filtersFromUrl());
selectionChanged();
load().catch((error) => toast(error.message, "error", form));
loadChoices().catch(() => {});
live(throttle(() => refresh().catch((error) => { $("refreshed").textContent = `Refresh failed: ${error.message}`; }), 300));
