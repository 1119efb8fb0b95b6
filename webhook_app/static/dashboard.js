// The dashboard: fetches the JSON API, draws the charts as inline SVG, refreshes itself every 10 s.
// Plain JavaScript, no build step, no inline script or style (the CSP forbids both).
"use strict";

(function () {
  const REFRESH_MS = 10000;
  const SLOW_REFRESH_EVERY = 6; // templates and metrics: once a minute
  const SVG = "http://www.w3.org/2000/svg";
  const STATUS_LABELS = {
    pending: "Pending", processing: "Processing", processed: "Processed",
    failed: "Failed", dead_letter: "Dead letter",
  };
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  // ---- HTTP ----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) { window.location.assign("/auth/login?next=/"); }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`);
    }
    return data;
  }

  // ---- small helpers -------------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "role" || key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    });
    children.forEach((child) => child && node.append(child));
    return node;
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "–";
  }

  function flash(message, kind) {
    const box = $("flash");
    box.textContent = message;
    box.className = `flash ${kind || "ok"}`;
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  function statusPill(status) {
    return el("span", { class: `pill pill-${status}`, text: STATUS_LABELS[status] || status });
  }

  // ---- stats: cards, badge, events chart ------------------------------------------------------
  async function loadStats() {
    const stats = await api("GET", "/api/webhook-events/stats");
    Object.entries(stats.counts).forEach(([status, count]) => {
      const cell = document.querySelector(`[data-count="${status}"]`);
      if (cell) cell.textContent = count.toLocaleString();
    });
    $("received-24h").textContent = stats.last_24h.received.toLocaleString();
    const badge = $("webhook-badge");
    badge.textContent = stats.webhook.verified ? "Webhook verified" : "Webhook not verified yet";
    badge.className = `badge ${stats.webhook.verified ? "badge-ok" : "badge-warn"}`;
    badge.title = stats.webhook.verified ? `Verified by Meta on ${when(stats.webhook.verified_at)}` :
      "Meta has not completed the verification handshake with this server yet.";
    drawEventsChart(stats);
  }

  function drawEventsChart(stats) {
    const svg = $("events-chart");
    const end = Math.floor(new Date(stats.now).getTime() / 60000); // the current minute
    const start = end - 1439;
    const series = { received: new Array(1440).fill(0), processed: new Array(1440).fill(0), failed: new Array(1440).fill(0) };
    stats.per_minute.forEach(([minute, received, processed, failed]) => {
      const i = Math.floor(new Date(minute).getTime() / 60000) - start;
      if (i >= 0 && i < 1440) {
        series.received[i] += received; series.processed[i] += processed; series.failed[i] += failed;
      }
    });
    const max = Math.max(1, ...series.received, ...series.processed, ...series.failed);
    svg.replaceChildren();
    [30, 60, 90].forEach((y) => {
      svg.append(svgEl("line", { x1: 0, x2: 1440, y1: y, y2: y, class: "grid" }));
    });
    ["received", "processed", "failed"].forEach((name) => {
      const points = series[name].map((v, i) => `${i},${(118 - (v / max) * 114).toFixed(1)}`).join(" ");
      svg.append(svgEl("polyline", { points, class: `line line-${name}`, "vector-effect": "non-scaling-stroke" }));
    });
    $("events-chart-max").textContent = `${max.toLocaleString()} / min`;
    const day = stats.last_24h;
    $("events-chart-summary").setAttribute("aria-label",
      `Last 24 hours: ${day.received} received, ${day.processed} processed, ${day.failed} failed attempts. ` +
      `Busiest minute: ${max === 1 && !day.received ? 0 : max} events.`);
    svg.setAttribute("data-total-received", String(day.received));
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
    return node;
  }

  // ---- event list --------------------------------------------------------------------------
  const events = { filters: {}, cursor: null, rows: new Map() };

  function readFilters() {
    const form = $("event-filters");
    const filters = {};
    ["status", "object", "field"].forEach((name) => {
      const value = form.elements[name].value.trim();
      if (value) filters[name] = value;
    });
    ["since", "until"].forEach((name) => {
      const value = form.elements[name].value;
      if (value) filters[name] = new Date(value).toISOString();
    });
    return filters;
  }

  function eventsPath(extra) {
    const params = new URLSearchParams({ ...events.filters, ...extra });
    return `/api/webhook-events?${params}`;
  }

  function eventRow(event) {
    const open = el("button", {
      type: "button", class: "secondary small", text: "Details",
      "aria-label": `Details of event ${event.id} (${STATUS_LABELS[event.status] || event.status})`,
    });
    open.addEventListener("click", () => openDetail(event.id));
    return el("tr", { "data-event-id": event.id, "data-status": event.status, "data-received-at": event.received_at,
      "data-version": `${event.status}|${event.attempts}|${event.updated_at}` },
      el("td", { text: when(event.received_at) }),
      el("td", {}, statusPill(event.status),
        el("span", { class: "narrow-only muted", text: [event.object, event.field].filter(Boolean).join(" · ") })),
      el("td", { class: "wide-only", text: event.object }),
      el("td", { class: "wide-only", text: event.field || "–" }),
      el("td", { class: "wide-only", text: String(event.attempts) }),
      el("td", {}, open));
  }

  function showEvents(list, { append }) {
    const body = $("events-body");
    if (!append) { body.replaceChildren(); events.rows.clear(); }
    list.forEach((event) => {
      const row = eventRow(event);
      events.rows.set(event.id, row);
      body.append(row);
    });
    $("events-empty").hidden = events.rows.size > 0;
  }

  async function loadEvents() {
    events.filters = readFilters();
    const page = await api("GET", eventsPath({ limit: 25 }));
    events.cursor = page.next_cursor;
    showEvents(page.events, { append: false });
    $("events-more").hidden = !events.cursor;
  }

  async function loadOlderEvents() {
    if (!events.cursor) return;
    const page = await api("GET", eventsPath({ limit: 25, before: events.cursor }));
    events.cursor = page.next_cursor;
    showEvents(page.events.filter((e) => !events.rows.has(e.id)), { append: true });
    $("events-more").hidden = !events.cursor;
  }

  // The refresh keeps older pages the user loaded: it updates rows it has and puts new ones on top.
  async function refreshEvents() {
    const page = await api("GET", eventsPath({ limit: 25 }));
    const body = $("events-body");
    // Rows in the range of the fresh first page that it no longer has were deleted or left the filter.
    const fresh = new Set(page.events.map((e) => e.id));
    const oldest = page.events[page.events.length - 1];
    events.rows.forEach((row, id) => {
      if (fresh.has(id)) return;
      const newer = !oldest || page.next_cursor === null || laterThan(row, oldest);
      if (newer) { row.remove(); events.rows.delete(id); }
    });
    let anchor = body.firstChild;
    page.events.forEach((event) => {
      const existing = events.rows.get(event.id);
      if (existing && existing.dataset.version === `${event.status}|${event.attempts}|${event.updated_at}`) {
        anchor = existing.nextSibling; // unchanged: left alone, so keyboard focus on it stays
        return;
      }
      const fresh = eventRow(event);
      if (existing) {
        const hadFocus = existing.contains(document.activeElement);
        existing.replaceWith(fresh);
        if (hadFocus) fresh.querySelector("button").focus();
        anchor = fresh.nextSibling;
      } else {
        body.insertBefore(fresh, anchor);
      }
      events.rows.set(event.id, fresh);
    });
    if (events.rows.size === page.events.length) {
      events.cursor = page.next_cursor;
      $("events-more").hidden = !events.cursor;
    }
    $("events-empty").hidden = events.rows.size > 0;
  }

  function laterThan(row, event) {
    const a = new Date(row.dataset.receivedAt).getTime();
    const b = new Date(event.received_at).getTime();
    return a > b || (a === b && Number(row.dataset.eventId) > event.id);
  }

  function replaceRow(event) {
    const row = events.rows.get(event.id);
    if (!row) return;
    const fresh = eventRow(event);
    row.replaceWith(fresh);
    events.rows.set(event.id, fresh);
  }

  async function retryMatching() {
    const filters = readFilters();
    if (filters.status && !["failed", "dead_letter"].includes(filters.status)) {
      flash("Only failed or dead-letter events can be retried: choose one of those statuses, or All.", "error");
      return;
    }
    if (!window.confirm("Put every failed and dead-letter event matching these filters back in the queue?")) return;
    const result = await api("POST", "/api/webhook-events/retry", filters);
    flash(`${result.retried} event(s) put back in the queue.`);
    await Promise.all([loadEvents(), loadStats()]);
  }

  // ---- event details ---------------------------------------------------------------------------
  let detailId = null;

  async function openDetail(id) {
    detailId = id;
    const dialog = $("event-detail");
    await showDetail(await api("GET", `/api/webhook-events/${id}`));
    if (!dialog.open) dialog.showModal();
    $("detail-close").focus();
  }

  function showDetail(event) {
    $("detail-title").textContent = `Event #${event.id}`;
    const facts = $("detail-facts");
    facts.replaceChildren();
    [["Status", statusPill(event.status)], ["Object", event.object], ["Field", event.field || "–"],
      ["Entry id", event.entry_id || "–"], ["Attempts", String(event.attempts)],
      ["Received", when(event.received_at)], ["Processed", when(event.processed_at)],
      ["Next try", event.status === "failed" ? when(event.run_at) : "–"], ["Note", event.note || "–"],
    ].forEach(([label, value]) => facts.append(el("dt", { text: label }), el("dd", {}, value)));
    $("detail-payload").textContent = JSON.stringify(event.payload, null, 2);
    const errors = $("detail-errors");
    errors.replaceChildren();
    if (!event.errors.length) errors.append(el("li", { class: "muted", text: "No errors." }));
    event.errors.forEach((error) => {
      errors.append(el("li", {}, el("strong", { text: `Attempt ${error.attempt}` }),
        ` · ${when(error.at)} · `, el("code", { text: error.message })));
    });
    const retryable = event.status === "failed" || event.status === "dead_letter";
    $("detail-retry").disabled = !retryable;
    $("detail-retry").title = retryable ? "Put this event back in the queue now" : "Only failed or dead-letter events can be retried";
    $("event-detail").setAttribute("data-status", event.status);
  }

  async function retryDetail() {
    const event = await api("POST", `/api/webhook-events/${detailId}/retry`);
    showDetail(event);
    replaceRow(event);
    flash(`Event #${event.id} is back in the queue.`);
    await Promise.all([refreshEvents(), loadStats()]);
  }

  async function deleteDetail() {
    if (!window.confirm(`Delete event #${detailId}? This cannot be undone.`)) return;
    await api("DELETE", `/api/webhook-events/${detailId}`);
    const row = events.rows.get(detailId);
    if (row) { row.remove(); events.rows.delete(detailId); }
    $("event-detail").close();
    flash(`Event #${detailId} deleted.`);
    detailId = null;
    await loadStats();
  }

  async function refreshDetail() {
    const dialog = $("event-detail");
    if (!dialog.open || detailId === null) return;
    try {
      showDetail(await api("GET", `/api/webhook-events/${detailId}`));
    } catch (error) {
      if (error.status === 404) dialog.close();
    }
  }

  // ---- inbox -------------------------------------------------------------------------------------
  const inbox = { cursor: null, items: new Map() };

  function inboxItem(item) {
    const who = item.sender_id ? `from ${item.sender_id}` : "";
    return el("li", { "data-interaction-id": item.id },
      el("span", { class: "inbox-kind", text: `${item.platform} · ${item.kind.replace(/_/g, " ")}` }),
      el("span", { class: "inbox-text", text: item.text || item.status || "(no text)" }),
      el("span", { class: "inbox-meta muted", text: `${who} ${when(item.occurred_at || item.created_at)}`.trim() }));
  }

  async function loadInbox({ older } = {}) {
    const params = new URLSearchParams({ limit: 20 });
    if (older && inbox.cursor) params.set("before", inbox.cursor);
    const page = await api("GET", `/api/interactions?${params}`);
    const list = $("inbox-list");
    if (older) {
      page.interactions.forEach((item) => {
        if (!inbox.items.has(item.id)) { const li = inboxItem(item); inbox.items.set(item.id, li); list.append(li); }
      });
      inbox.cursor = page.next_cursor;
    } else {
      let anchor = list.firstChild;
      page.interactions.forEach((item) => {
        const fresh = inboxItem(item);
        const existing = inbox.items.get(item.id);
        if (existing) { existing.replaceWith(fresh); anchor = fresh.nextSibling; } else list.insertBefore(fresh, anchor);
        inbox.items.set(item.id, fresh);
      });
      if (inbox.items.size === page.interactions.length) inbox.cursor = page.next_cursor;
    }
    $("inbox-more").hidden = !inbox.cursor;
    $("inbox-empty").hidden = inbox.items.size > 0;
  }

  // ---- areas other issues serve: templates, follower metrics (accounts are server-rendered) ------
  // Each is asked once; an area whose API is not in this server (404) keeps its empty state.
  const missing = new Set();

  async function optional(path, render) {
    if (missing.has(path)) return;
    try {
      render(await api("GET", path));
    } catch (error) {
      if (error.status === 404) missing.add(path); else throw error;
    }
  }

  function renderTemplates(status) {
    const counts = status.counts || {};
    const parts = Object.entries(counts).map(([name, n]) => `${n} ${name.toLowerCase()}`);
    const last = status.last_sync_at || status.last_synced_at;
    let text = parts.length ? parts.join(", ") : "No templates yet.";
    text += last ? ` Last sync ${when(last)}.` : " Never synced.";
    if (status.last_error || status.error) text += ` Last error: ${status.last_error || status.error}`;
    $("templates-status").textContent = text;
    $("templates-status").className = status.last_error || status.error ? "error" : "";
    $("templates-sync").disabled = false;
  }

  async function syncTemplates() {
    const button = $("templates-sync");
    button.disabled = true;
    try {
      await api("POST", "/api/templates/sync");
      flash("Templates synced.");
      missing.delete("/api/templates/status");
      await optional("/api/templates/status", renderTemplates);
    } finally {
      button.disabled = false;
    }
  }

  function renderFollowers(data) {
    const accounts = (data && data.accounts) || [];
    const box = $("followers-chart");
    const withPoints = accounts.map((account) => ({
      name: account.name || account.username || `#${account.id}`,
      points: (account.points || account.series || [])
        .map((p) => ({ t: new Date(p.at || p.recorded_at || p.date).getTime(), v: Number(p.followers ?? p.followers_count) }))
        .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
        .sort((a, b) => a.t - b.t),
    })).filter((account) => account.points.length);
    if (!withPoints.length) return;
    const all = withPoints.flatMap((a) => a.points);
    const t0 = Math.min(...all.map((p) => p.t)); const t1 = Math.max(...all.map((p) => p.t), t0 + 1);
    const v0 = Math.min(...all.map((p) => p.v)); const v1 = Math.max(...all.map((p) => p.v), v0 + 1);
    const svg = svgEl("svg", { viewBox: "0 0 600 120", preserveAspectRatio: "none", class: "chart-svg", role: "img",
      "aria-label": withPoints.map((a) => `${a.name}: ${a.points[a.points.length - 1].v} followers`).join("; ") });
    withPoints.forEach((account, i) => {
      const points = account.points.map((p) =>
        `${((p.t - t0) / (t1 - t0) * 600).toFixed(1)},${(116 - (p.v - v0) / (v1 - v0) * 112).toFixed(1)}`).join(" ");
      svg.append(svgEl("polyline", { points, class: `line line-series-${i % 4}`, "vector-effect": "non-scaling-stroke" }));
    });
    box.replaceChildren(svg, el("p", { class: "legend muted",
      text: withPoints.map((a) => `${a.name}: ${a.points[a.points.length - 1].v.toLocaleString()}`).join(" · ") }));
  }

  // ---- refreshing ------------------------------------------------------------------------------
  let tick = 0;

  async function refresh() {
    const jobs = [loadStats(), refreshEvents(), loadInbox(), refreshDetail()];
    if (tick % SLOW_REFRESH_EVERY === 0) {
      jobs.push(optional("/api/templates/status", renderTemplates), optional("/api/metrics", renderFollowers));
    }
    tick += 1;
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected");
    $("refreshed").textContent = failed ? `Refresh failed: ${failed.reason.message}` :
      `Updated ${new Date().toLocaleTimeString()}`;
  }

  function guard(action) {
    return (event) => {
      if (event) event.preventDefault();
      action().catch((error) => flash(error.message, "error"));
    };
  }

  function start() {
    $("event-filters").addEventListener("submit", guard(loadEvents));
    $("event-filters").addEventListener("reset", () => setTimeout(guard(loadEvents), 0));
    $("filter-status").addEventListener("change", guard(loadEvents));
    $("retry-matching").addEventListener("click", guard(retryMatching));
    $("events-more").addEventListener("click", guard(loadOlderEvents));
    $("inbox-more").addEventListener("click", guard(() => loadInbox({ older: true })));
    $("detail-close").addEventListener("click", () => $("event-detail").close());
    $("detail-retry").addEventListener("click", guard(retryDetail));
    $("detail-delete").addEventListener("click", guard(deleteDetail));
    $("templates-sync").addEventListener("click", guard(syncTemplates));
    document.querySelectorAll("#status-cards button[data-status]").forEach((card) => {
      card.addEventListener("click", guard(async () => {
        $("filter-status").value = card.dataset.status;
        await loadEvents();
        $("events").scrollIntoView({ behavior: "smooth" });
      }));
    });

    refresh();
    setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  }

  start();
}());
