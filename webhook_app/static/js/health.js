// Health: is Meta reaching us (verification, last received / processed, failure rate), and the queue.
import { $, api, busy, el, timeEl, toast, when } from "./api.js";
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
  unowned(health);
  graphApi(health.graph_api);
  const c = stats.counts;
  facts($("queue-facts"), [
    ["Waiting", el("a", { href: "/events?status=pending", text: `${c.pending} pending` })],
    ["In progress", `${c.processing} processing`],
    ["Failed, will retry", el("a", { href: "/events?status=failed", text: String(c.failed) })],
    ["Dead letter", el("a", { href: "/events?status=dead_letter", text: String(c.dead_letter) })],
  ]);
}

const OBJECTS = { instagram: "Instagram", page: "Facebook Page", whatsapp_business_account: "WhatsApp" };
const plural = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

// SPEC 7: deliveries no connected account owns (counted across the service), and the user's own handed over late.
function unowned(health) {
  const u = health.unknown_owner;
  const late = health.arrived_before_connect;
  const kinds = Object.entries(u.by_object).sort((a, b) => b[1] - a[1]).map(([object, n]) => `${OBJECTS[object] || object} ${n.toLocaleString()}`);
  facts($("unowned-facts"), [
    ["Waiting", u.count
      ? el("span", { class: "warn", text: `${plural(u.count, "delivery", "deliveries")} for ${plural(u.ids, "id")} (${kinds.join(", ")})` })
      : "none"],
    ["Newest", u.last_received_at ? timeEl(u.last_received_at) : "–"],
    ["Handed to you", late.count
      ? el("span", {}, `${plural(late.count, "event")}, the last `, timeEl(late.last_handed_over_at))
      : "none"],
  ]);
}

// Issue 21's calendar: the version in use, the day Meta stops serving it, and a warning from 90 days before.
function graphApi(g) {
  const ends = g.end_of_life
    ? `${g.end_of_life} (${g.days_left < 0 ? `${plural(-g.days_left, "day")} ago` : `in ${plural(g.days_left, "day")}`})`
    : (g.known ? "not announced yet" : "unknown: not in this service's calendar");
  facts($("graph-facts"), [
    ["Version in use", el("code", { id: "graph-version", text: g.version })],
    ["End of life", el("span", { id: "graph-end", class: g.warning ? "warn" : "", text: ends })],
    ["Newest known", el("code", { text: g.newest })],
    ["Calendar checked", g.calendar_checked],
  ]);
  const warning = $("graph-warning");
  warning.textContent = g.warning || "";
  warning.hidden = !g.warning;
  $("graph-source").href = g.source;
}

// The timers' jobs (issue 18's /api/timed-jobs), each with Run now.
async function loadJobs() {
  const { jobs } = await api("GET", "/api/timed-jobs");
  $("timed-jobs").replaceChildren(...jobs.map((job) => {
    const button = el("button", { type: "button", class: "small secondary", "data-run-job": job.name,
                                  "aria-label": `Run now: ${job.name}`, text: "Run now" });
    button.addEventListener("click", () => busy(button, async () => {
      const answer = await api("POST", `/api/timed-jobs/${encodeURIComponent(job.name)}/run`);
      toast(answer.queued ? `${job.name} queued: the background-jobs worker runs it next.` : answer.message, "ok", button);
    }));
    return el("tr", { "data-job": job.name },
      el("td", {}, el("strong", { text: job.name }), el("div", { class: "muted", text: job.description || "" })),
      el("td", { class: "wide-only" }, el("code", { text: job.schedule })),
      el("td", {}, job.next_run ? timeEl(job.next_run) : "–"),
      el("td", {}, button));
  }));
}

load().catch((error) => facts($("health-facts"), [["Could not load", error.message]]));
loadJobs().catch((error) => $("timed-jobs").replaceChildren(el("tr", {}, el("td", { colSpan: 4, text: `Could not load: ${error.message}` }))));
live(throttle(() => load().catch(() => {}), 1000));
