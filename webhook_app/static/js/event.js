// One event's own page: facts, payload with a copy button, every attempt, Retry / Replay / Delete.
import { $, STATUS_LABELS, api, busy, el, statusPill, timeEl, toast, when } from "./api.js";
import { live, throttle } from "./live.js";

const id = Number($("event-detail").dataset.eventId);

function copyButton(text, label) {
  const button = el("button", { type: "button", class: "small secondary copy", text: "Copy", "aria-label": `Copy ${label}` });
  button.addEventListener("click", () => navigator.clipboard.writeText(text).then(
    () => toast(`${label} copied.`, "ok", button), () => toast("The browser refused to copy.", "error", button)));
  return button;
}

function show(event) {
  const facts = $("detail-facts");
  const rows = [["Status", statusPill(event.status)], ["Object", event.object], ["Field", event.field || "–"],
    ["Meta (entry) id", event.entry_id ? el("span", {}, el("code", { text: event.entry_id }), " ", copyButton(event.entry_id, "Meta id")) : "–"],
    ["Attempts", String(event.attempts)], ["Received", el("span", {}, timeEl(event.received_at), ` (${when(event.received_at)})`)],
    ["Processed", event.processed_at ? el("span", {}, timeEl(event.processed_at), ` (${when(event.processed_at)})`) : "–"],
    ["Next try", event.status === "failed" ? when(event.run_at) : "–"], ["Note", event.note || "–"],
    ["Delivery", `#${event.delivery_id}, entry ${event.entry_index + 1} of ${event.delivery_entries}`],
    ["Duplicates", event.duplicate_count ? `Meta sent the same delivery ${event.duplicate_count} more time(s), last ${when(event.last_duplicate_at)}` : "none"],
    ["Delivery SHA-256", el("span", {}, el("code", { class: "hash", text: event.delivery_sha256 }), " ", copyButton(event.delivery_sha256, "digest"))]];
  facts.replaceChildren(...rows.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", {}, value)]));
  $("detail-payload").textContent = JSON.stringify(event.payload, null, 2);
  showHeaders(event);
  const errors = $("detail-errors");
  errors.replaceChildren();
  event.errors.forEach((error) => errors.append(el("li", {}, el("strong", { text: `Attempt ${error.attempt}` }),
    ` · ${when(error.at)} · `, el("code", { text: error.message }))));
  if (event.status === "processed") errors.append(el("li", {}, el("strong", { text: `Attempt ${event.attempts || event.errors.length + 1}` }), ` · ${when(event.processed_at)} · processed`));
  if (!errors.children.length) errors.append(el("li", { class: "muted", text: "Not attempted yet." }));
  const retryable = event.status === "failed" || event.status === "dead_letter";
  $("detail-retry").disabled = !retryable;
  $("detail-replay").disabled = event.status === "processing";
  $("detail-action-note").textContent = retryable ? "" : event.status === "processing"
    ? "A worker is handling this event right now." : `Retry is for failed events; this one is ${STATUS_LABELS[event.status].toLowerCase()}. Replay runs it again anyway.`;
  $("event-detail").dataset.status = event.status;
}

// The delivery's request headers (X-Hub-Signature-256 in full: it proves only these bytes, it is no secret).
function showHeaders(event) {
  const list = $("detail-headers");
  if (!event.delivery_headers) {
    list.replaceChildren(el("dt", { text: "Not recorded" }), el("dd", { text: "This delivery was stored before headers were kept." }));
    return;
  }
  const rows = Object.entries(event.delivery_headers).sort(([a], [b]) => a.localeCompare(b)).map(([name, value]) => [name, el("code", { class: "hash", text: value })]);
  if (event.delivery_remote_addr) rows.push(["From address", el("code", { text: event.delivery_remote_addr })]);
  list.replaceChildren(...rows.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", {}, value)]));
}

async function load() {
  try {
    show(await api("GET", `/api/webhook-events/${id}`));
  } catch (error) {
    if (error.status === 404) { $("detail-facts").replaceChildren(el("dt", { text: "This event was deleted." })); return; }
    throw error;
  }
}

async function act(button, method, path, message) {
  const event = await busy(button, () => api(method, path));
  if (!event) return;
  show(event);  // after busy() gave the button back, so the state it sets stays
  toast(message, "ok", button);
}

$("detail-retry").addEventListener("click", (e) => act(e.currentTarget, "POST", `/api/webhook-events/${id}/retry`, `Event #${id} is back in the queue.`));
$("detail-replay").addEventListener("click", (e) => act(e.currentTarget, "POST", `/api/webhook-events/${id}/replay`, `Event #${id} will run again.`));
$("detail-delete").addEventListener("click", async (e) => {
  if (!window.confirm(`Delete event #${id}? This cannot be undone.`)) return;
  await busy(e.currentTarget, async () => {
    await api("DELETE", `/api/webhook-events/${id}`);
    window.location.assign("/events");
  });
});
document.querySelector('[data-copy="detail-payload"]').addEventListener("click", (e) =>
  navigator.clipboard.writeText($("detail-payload").textContent).then(() => toast("Payload copied.", "ok", e.target),
    () => toast("The browser refused to copy.", "error", e.target)));
if (document.referrer.includes("/events?")) $("back-to-events").href = new URL(document.referrer).pathname + new URL(document.referrer).search;
load().catch((error) => toast(error.message, "error", $("event-detail")));
live(throttle(() => load().catch(() => {}), 300));
