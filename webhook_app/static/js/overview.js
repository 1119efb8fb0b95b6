// Overview: status counts, the activity chart with its range picker, followers and recent posts.
import { $, api, el, when } from "./api.js";
import { barChart, lineChart } from "./chart.js";
import { live, throttle } from "./live.js";

const SERIES = [{ name: "received", label: "received", cls: "received" },
  { name: "processed", label: "processed", cls: "processed" }, { name: "failed", label: "failed", cls: "failed" }];
// range -> [how many buckets, minutes per bucket]; 7 d and 30 d come from /activity per hour or day.
const SHORT = { "1h": [60, 1], "24h": [96, 15] };
let range = new URLSearchParams(location.search).get("range") || "24h";
if (!["1h", "24h", "7d", "30d"].includes(range)) range = "24h";

function bucketsFromMinutes(stats) {
  const [count, size] = SHORT[range];
  const end = Math.floor(new Date(stats.now).getTime() / 60000);
  const first = end - count * size + 1;
  const buckets = Array.from({ length: count }, (_, i) => {
    const start = new Date((first + i * size) * 60000);
    const label = range === "1h" ? start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : start.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
    return { label, values: {} };
  });
  stats.per_minute.forEach(([minute, received, processed, failed]) => {
    const i = Math.floor((Math.floor(new Date(minute).getTime() / 60000) - first) / size);
    if (i < 0 || i >= count) return;
    const v = buckets[i].values;
    v.received = (v.received || 0) + received; v.processed = (v.processed || 0) + processed; v.failed = (v.failed || 0) + failed;
  });
  return buckets;
}

function bucketsFromActivity(activity, now) {
  const step = activity.bucket_seconds * 1000;
  const count = range === "7d" ? 7 * 24 : 30;
  const last = Math.floor(now / step) * step;
  const buckets = Array.from({ length: count }, (_, i) => {
    const at = new Date(last - (count - 1 - i) * step);
    return { at: at.getTime(), label: range === "7d" ? at.toLocaleString([], { weekday: "short", hour: "2-digit" })
      : at.toLocaleDateString(), values: {} };
  });
  const index = new Map(buckets.map((b, i) => [b.at, i]));
  activity.buckets.forEach(([at, received, processed, failed]) => {
    const i = index.get(Math.floor(new Date(at).getTime() / step) * step);
    if (i !== undefined) Object.assign(buckets[i].values, { received, processed, failed });
  });
  return buckets;
}

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
  let buckets;
  if (SHORT[range]) buckets = bucketsFromMinutes(stats);
  else buckets = bucketsFromActivity(await api("GET", `/api/webhook-events/activity?range=${range}`), new Date(stats.now).getTime());
  const totals = SERIES.map((s) => buckets.reduce((n, b) => n + (b.values[s.name] || 0), 0));
  const box = $("events-chart");
  box.dataset.range = range;
  box.dataset.totalReceived = String(totals[0]);
  barChart(box, { buckets, series: SERIES,
    describe: (max) => `Last ${range}: ${totals[0]} received, ${totals[1]} processed, ${totals[2]} failed. Busiest bar: ${max}.` });
  $("events-chart-summary").textContent =
    `Last ${range.replace("h", " h").replace("d", " d")}: ${totals[0].toLocaleString()} received, ` +
    `${totals[1].toLocaleString()} processed, ${totals[2].toLocaleString()} failed.`;
}

function plural(n, word) { return `${Number(n).toLocaleString()} ${word}${n === 1 ? "" : "s"}`; }

async function loadMetrics() {
  let data;
  try { data = await api("GET", "/api/metrics?days=90"); } catch (error) { if (error.status === 404) return; throw error; }
  const withPoints = (data.accounts || []).map((account) => ({
    name: account.name || `#${account.account_id}`,
    points: (account.points || []).map((p) => ({ t: new Date(p.taken_at).getTime(), v: Number(p.followers) }))
      .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)).sort((a, b) => a.t - b.t),
  })).filter((a) => a.points.length);
  if (withPoints.length) lineChart($("followers-chart"), { series: withPoints, format: (v) => v.toLocaleString() });
  const media = data.recent_media || [];
  $("recent-media").replaceChildren(...media.slice(0, 8).map((m) => el("li", {},
    el("span", { class: "media-caption", text: m.caption || m.media_type || "(no caption)" }),
    el("span", { class: "muted", text: [m.like_count != null ? plural(m.like_count, "like") : null,
      m.comments_count != null ? plural(m.comments_count, "comment") : null, when(m.posted_at)].filter(Boolean).join(" · ") }))));
  $("recent-media-empty").hidden = media.length > 0;
}

async function refresh() {
  const results = await Promise.allSettled([loadStats()]);
  const failed = results.find((r) => r.status === "rejected");
  $("refreshed").textContent = failed ? `Refresh failed: ${failed.reason.message}` : `Updated ${new Date().toLocaleTimeString()}`;
}

function pickRange(button) {
  range = button.dataset.range;
  document.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  const url = new URL(location.href);
  url.searchParams.set("range", range);
  history.replaceState(null, "", url);
  refresh();
}

document.querySelectorAll("button[data-range]").forEach((b) => {
  b.setAttribute("aria-pressed", String(b.dataset.range === range));
  b.addEventListener("click", () => pickRange(b));
});
refresh();
loadMetrics().catch(() => {});
live(throttle(refresh, 500));
