// Accounts: token health per account (scopes, expiry, data-access expiry, last check) with Check and Fix.
import { $, api, busy, el, timeEl, toast, when } from "./api.js";
import { live, throttle } from "./live.js";

function row(account) {
  const actions = el("td", {});
  if (account.reconnect) {
    actions.append(el("a", { class: "button small", href: account.reconnect, text: "Reconnect",
      "aria-label": `Reconnect ${account.name}` }));
  } else if (account.status === "expiring" || account.is_valid === false) {
    const fix = el("button", { type: "button", class: "small", text: "Refresh token", "aria-label": `Refresh the token of ${account.name}` });
    fix.addEventListener("click", () => busy(fix, async () => {
      await api("POST", `/api/token-health/accounts/${encodeURIComponent(account.id)}/fix`);
      toast(`${account.name}: token refreshed.`, "ok", fix);
      await load();
    }));
    actions.append(fix);
  }
  const reason = account.status_reason || (account.error && account.error.message);
  return el("tr", { "data-token-account": account.id },
    el("td", {}, account.name || account.id, el("span", { class: "muted narrow-only", text: ` ${account.kind}` })),
    el("td", {}, el("span", { class: `status status-${account.status}`, text: account.status.replace("_", " ") }),
      reason ? el("span", { class: "hint", text: ` ${reason}` }) : null),
    el("td", { class: "wide-only scopes", text: account.scopes.length ? account.scopes.join(", ") : "–" }),
    el("td", { class: "wide-only" }, account.expires_at ? el("span", { title: when(account.expires_at) }, timeEl(account.expires_at)) : "does not expire"),
    el("td", { class: "wide-only" }, account.data_access_expires_at ? timeEl(account.data_access_expires_at) : "–"),
    el("td", { class: "wide-only" }, account.checked_at ? timeEl(account.checked_at) : "never"),
    actions);
}

async function load(force = false) {
  const data = await api(force ? "POST" : "GET", force ? "/api/token-health/validate" : "/api/token-health");
  $("token-body").replaceChildren(...data.accounts.map(row));
  $("token-empty").hidden = data.accounts.length > 0;
}

$("token-validate").addEventListener("click", (e) => busy(e.currentTarget, async () => {
  await load(true);
  toast("Every token was checked with Meta and TikTok just now.", "ok", e.currentTarget);
}));
load().catch((error) => toast(error.message, "error", $("token-health")));
live(throttle(() => load().catch(() => {}), 2000));
