// Templates: the list (name, language, category, status, quality, rejection reason, content) with
// filters and search in the query string, the sync state, and Sync now.
import { $, api, busy, el, timeEl, toast, when } from "./api.js";
import { live, throttle } from "./live.js";

const form = $("template-filters");
const FILTERS = ["q", "status", "category", "language"];
let all = [];

function preview(components) {
  const c = components || {};
  return el("td", { class: "template-preview" },
    c.header && c.header.text ? el("strong", { text: c.header.text }) : null,
    c.body ? el("span", { class: "body", text: c.body.text || "" }) : null,
    c.footer ? el("span", { class: "muted", text: c.footer.text || "" }) : null,
    (c.buttons || []).length ? el("span", { class: "muted", text: `Buttons: ${c.buttons.map((b) => b.text).join(", ")}` }) : null);
}

function filters() {
  const out = {};
  FILTERS.forEach((name) => { const v = form.elements[name].value.trim(); if (v) out[name] = v; });
  return out;
}

function render() {
  const f = filters();
  const q = (f.q || "").toLowerCase();
  const shown = all.filter((t) => (!f.status || t.status === f.status) && (!f.category || t.category === f.category)
    && (!f.language || t.language === f.language)
    && (!q || t.name.toLowerCase().includes(q) || JSON.stringify(t.components || {}).toLowerCase().includes(q)));
  $("templates-body").replaceChildren(...shown.map((t) => el("tr", { "data-template": t.id },
    el("td", {}, el("code", { text: t.name })),
    el("td", {}, el("span", { class: `status tstatus-${t.status.toLowerCase()}`, text: t.status.toLowerCase() }),
      t.rejected_reason && t.rejected_reason !== "NONE" ? el("span", { class: "hint", text: ` ${t.rejected_reason}` }) : null),
    el("td", { class: "wide-only", text: t.language }), el("td", { class: "wide-only", text: t.category || "–" }),
    el("td", { class: "wide-only", text: t.quality_score || "–" }), preview(t.components))));
  $("templates-empty").hidden = shown.length > 0;
  const url = new URL(location.href);
  url.search = new URLSearchParams(f).toString();
  history.replaceState(null, "", url);
}

function offer(name, values) {
  const select = form.elements[name];
  const current = new URLSearchParams(location.search).get(name) || select.value;
  select.replaceChildren(el("option", { value: "", text: "All" }), ...[...new Set(values)].filter(Boolean).sort()
    .map((v) => el("option", { value: v, text: v })));
  select.value = current;
}

async function loadStatus() {
  const status = await api("GET", "/api/templates/status");
  const parts = Object.entries(status.counts || {}).map(([name, n]) => `${n} ${name.toLowerCase()}`);
  const box = $("templates-status");
  box.replaceChildren(...[el("span", { text: parts.length ? parts.join(" · ") : "No templates yet." }), " — ",
    status.last_synced_at ? el("span", {}, "last sync ", timeEl(status.last_synced_at)) : el("span", { text: "never synced" }),
    status.last_error ? el("span", { class: "error", text: ` · Last error (${when(status.last_error_at)}): ${status.last_error}` }) : null]
    .filter(Boolean));
}

async function load() {
  all = (await api("GET", "/api/templates?status=all")).templates;
  offer("status", all.map((t) => t.status));
  offer("category", all.map((t) => t.category));
  offer("language", all.map((t) => t.language));
  const params = new URLSearchParams(location.search);
  if (params.get("q")) form.elements.q.value = params.get("q");
  render();
  await loadStatus();
}

form.addEventListener("input", render);
form.addEventListener("submit", (e) => { e.preventDefault(); render(); });
$("templates-sync").addEventListener("click", (e) => busy(e.currentTarget, async () => {
  const result = await api("POST", "/api/templates/sync");
  toast(result.message || "Templates synced.", "ok", e.currentTarget);
  await load();
}));
load().catch((error) => toast(error.message, "error", form));
live(throttle(() => loadStatus().catch(() => {}), 2000));
