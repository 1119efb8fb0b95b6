// Health: is Meta reaching us (verification, last received / processed, failure rate), and the queue.
import { $, api, el, timeEl, when } from "./api.js";
import { live, throttle } from "./live.js";

function facts(box, rows) {
  box.replaceChildren(...rows.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", {}, value)]));
}

async function load() {
  const [health, stats] = await Promise.all([api("GET", "/api/webhook-health"), api("GET", "/api/webhook-events/stats")]);
  const rate = health.last_hour.failure_rate;
  facts($("health-facts"), [
    ["Verification", health.verified ? el("span", { class: "ok", text: `verified ${when(health.verified_at)}` })
      : el("span", { class: "warn", text: "Meta has not completed the verification handshake yet" })],
    ["Last received", health.last_received_at ? timeEl(health.last_received_at) : "never"],
    ["Last processed", health.last_processed_at ? timeEl(health.last_processed_at) : "never"],
    ["Last hour", `${health.last_hour.received} received, ${health.last_hour.failed} failed (${(rate * 100).toFixed(1)} %)`],
    ["Last error", health.last_error ? el("span", { class: "error", text: `${health.last_error} (${when(health.last_error_at)})` }) : "none"],
    ["Templates", `${health.templates.approved} approved of ${health.templates.total}` +
      (health.templates.last_synced_at ? `, synced ${when(health.templates.last_synced_at)}` : ", never synced")],
  ]);
  const c = stats.counts;
  facts($("queue-facts"), [
    ["Waiting", el("a", { href: "/events?status=pending", text: `${c.pending} pending` })],
    ["In progress", `${c.processing} processing`],
    ["Failed, will retry", el("a", { href: "/events?status=failed", text: String(c.failed) })],
    ["Dead letter", el("a", { href: "/events?status=dead_letter", text: String(c.dead_letter) })],
  ]);
}

load().catch((error) => facts($("health-facts"), [["Could not load", error.message]]));
live(throttle(() => load().catch(() => {}), 1000));
