// The one way the pages call the JSON API, and the small helpers every page uses. Plain ES module.
const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, message, retryAfter) { super(message); this.status = status; this.retryAfter = retryAfter; }
}

export async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) {
    window.location.assign(`/auth/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`,
      response.headers.get("Retry-After"));
  }
  return data;
}

export const $ = (id) => document.getElementById(id);

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.entries(props || {}).forEach(([key, value]) => {
    if (value === undefined || value === null) return;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "role" || key === "href" || key === "for" || key.startsWith("data-") || key.startsWith("aria-")) {
      node.setAttribute(key, value);
    } else node[key] = value;
  });
  children.forEach((child) => child !== null && child !== undefined && child !== false && node.append(child));
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function ago(iso) {
  if (!iso) return "–";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [3600, "minute", 60], [86400, "hour", 3600], [2592000, "day", 86400]];
  if (Math.abs(seconds) < 45) return RELATIVE.format(Math.round(seconds), "second");
  for (const [limit, unit, size] of steps.slice(1)) {
    if (Math.abs(seconds) < limit) return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return RELATIVE.format(Math.round(seconds / 2592000), "month");
}

// A <time> that shows "3 minutes ago" and tells the exact time on hover and to screen readers.
export function timeEl(iso) {
  if (!iso) return document.createTextNode("–");
  return el("time", { dateTime: iso, title: when(iso), text: ago(iso), "aria-label": when(iso) });
}

// A short message next to where the user acted (or at the bottom of the screen), gone after a while.
export function toast(message, kind = "ok", near = null) {
  const box = el("p", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", text: message });
  let host = $("toasts");
  const region = near && near.closest("section, .card, form, main");
  if (region) {
    host = region.querySelector(":scope > .inline-toasts");
    if (!host) { host = el("div", { class: "inline-toasts" }); region.prepend(host); }
  }
  host.append(box);
  setTimeout(() => box.remove(), kind === "error" ? 10000 : 6000);
  return box;
}

// Run an action from a button: disabled with a spinner while it runs, its error shown next to it.
export async function busy(button, action) {
  const label = button.textContent;
  button.disabled = true;
  button.classList.add("is-busy");
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } catch (error) {
    toast(error.status === 429 ? `${error.message}` : error.message, "error", button);
    return undefined;
  } finally {
    button.disabled = false;
    button.classList.remove("is-busy");
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

export const STATUS_LABELS = {
  pending: "Pending", processing: "Processing", processed: "Processed", failed: "Failed", dead_letter: "Dead letter",
};

export function statusPill(status) {
  return el("span", { class: `pill pill-${status}`, text: STATUS_LABELS[status] || status });
}
