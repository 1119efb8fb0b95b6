// The inbox: the conversation list (/inbox) and one conversation (/inbox/<id>), drawn from the JSON API.
// An ES module, no build step, no inline script or style (the CSP forbids both).

import { live, throttle } from "./js/live.js";
import { el, fromOutbound, outboundNotes, replyBox, STATUS_WORDS, ticks } from "./js/reply.js";

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const CHANNELS = { instagram: "Instagram", messenger: "Messenger", whatsapp: "WhatsApp" };
const IMAGE_KINDS = new Set(["image", "sticker", "story_mention", "share", "ig_post", "ig_story", "animated_image_share"]);

async function api(method, path) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken;
  const response = await fetch(path, options);
  if (response.status === 401) window.location.assign(`/auth/login?next=${encodeURIComponent(location.pathname)}`);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
  return data;
}

function showError(error) {
  const box = $("inbox-error");
  box.textContent = error ? `Could not load: ${error.message}` : "";
  box.hidden = !error;
}

// "just now", "5 min", "3 h", "yesterday", then a date: how long ago, as a person says it.
function relative(iso) {
  if (!iso) return "";
  const then = new Date(iso);
  const seconds = (Date.now() - then.getTime()) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  if (seconds < 172800) return "yesterday";
  return then.toLocaleDateString();
}

function initial(label) {
  const letter = (label || "?").replace(/^[@+]/, "").trim().charAt(0);
  return letter ? letter.toUpperCase() : "?";
}

// ---- the list -------------------------------------------------------------------------------------
function conversationItem(c) {
  const last = c.last_message;
  const preview = last ? `${last.direction === "outbound" ? "You: " : ""}${last.summary}` : "";
  const name = c.kind === "comments" ? `${c.contact.label} · comments` : c.contact.label;
  const link = el("a", { class: "conversation-link", href: `/inbox/${c.id}` },
    el("span", { class: `avatar avatar-${c.channel}`, "aria-hidden": "true", text: initial(c.contact.label) }),
    el("span", { class: "conversation-main" },
      el("span", { class: "conversation-name", text: name }),
      el("span", { class: "conversation-preview", text: preview })),
    el("span", { class: "conversation-side" },
      el("time", { class: "conversation-time", datetime: c.last_message_at, title: new Date(c.last_message_at).toLocaleString(),
                   text: relative(c.last_message_at) }),
      el("span", { class: `channel channel-${c.channel}`, text: CHANNELS[c.channel], title: `Account ${c.account_id}` }),
      c.unread_count > 0 ? el("span", { class: "unread-badge", text: String(c.unread_count),
                                        "aria-label": `${c.unread_count} unread` }) : null));
  return el("li", { class: `conversation${c.unread_count > 0 ? " unread" : ""}`, "data-id": c.id }, link);
}

function listPage() {
  const state = { cursor: null };
  const form = $("inbox-filters");

  function params(withCursor) {
    const query = new URLSearchParams();
    const q = $("inbox-q").value.trim();
    if (q) query.set("q", q);
    if ($("inbox-channel").value) query.set("channel", $("inbox-channel").value);
    if ($("inbox-unread").checked) query.set("unread", "true");
    if (withCursor && state.cursor) query.set("before", state.cursor);
    return query;
  }

  async function load(more) {
    try {
      const page = await api("GET", `/api/conversations?${params(more)}`);
      const list = $("conversation-list");
      if (!more) list.replaceChildren();
      page.conversations.forEach((c) => list.append(conversationItem(c)));
      state.cursor = page.next_cursor;
      $("conversation-more").hidden = !state.cursor;
      $("conversation-empty").hidden = list.children.length > 0;
      form.closest(".inbox").dataset.loaded = "true";
      showError(null);
    } catch (error) { showError(error); }
  }

  let typing = null;
  form.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
  form.addEventListener("change", () => load(false));
  $("inbox-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => load(false), 250); });
  $("conversation-more").addEventListener("click", () => load(true));
  load(false);
  // New messages arrive through the live stream (the processor announces each batch); polling only while it is down.
  const refresh = throttle(() => { if (!state.cursor) load(false); }, 500);
  live(() => refresh());
}

// ---- one conversation -----------------------------------------------------------------------------
function attachmentNode(a) {
  if (a.url && (IMAGE_KINDS.has(a.type) || a.type === "ig_reel" || a.type === "reel" || a.type === "video")) {
    const label = a.title || a.type.replace(/_/g, " ");
    return el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener noreferrer" },
      IMAGE_KINDS.has(a.type) ? el("img", { class: "thumb", src: a.url, alt: label, loading: "lazy" })
                              : el("span", { class: "file-chip", text: `▶ ${label}` }));
  }
  const name = a.filename || a.title || (a.voice ? "Voice message" : a.type.replace(/_/g, " "));
  const chip = el("span", { class: "file-chip", title: a.media_id ? `media id ${a.media_id}` : (a.mime_type || "") },
    `📎 ${name}`);
  return a.url ? el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener noreferrer" }, chip)
               : el("span", { class: "attachment" }, chip);
}

function extras(m) {
  const parts = [];
  if (m.location) {
    const where = m.location.name || m.location.address || `${m.location.latitude}, ${m.location.longitude}`;
    const maps = `https://www.openstreetmap.org/?mlat=${m.location.latitude}&mlon=${m.location.longitude}`;
    parts.push(el("a", { class: "location", href: maps, target: "_blank", rel: "noopener noreferrer", text: `📍 ${where}` }));
    if (m.location.address && m.location.name) parts.push(el("span", { class: "muted small", text: m.location.address }));
  }
  (m.contacts || []).forEach((c) => parts.push(el("span", { class: "file-chip",
    text: `👤 ${c.name || "Contact"}${(c.phones || []).length ? ` · ${c.phones.map((p) => p.phone).join(", ")}` : ""}` })));
  if (m.order) {
    parts.push(el("span", { class: "file-chip", text: `🛒 ${m.order.items.length} item(s): ` +
      m.order.items.map((i) => `${i.quantity} × ${i.product_retailer_id}`).join(", ") }));
  }
  if (m.referral) {
    const r = m.referral;
    const what = r.headline || (r.ads_context_data && r.ads_context_data.ad_title) || r.ref || r.source_url || "an ad";
    parts.push(el("span", { class: "referral muted small", text: `From ${r.source || r.source_type || "a link"}: ${what}` }));
  }
  if (m.forwarded) parts.push(el("span", { class: "muted small", text: m.forwarded === "frequently" ? "Forwarded many times" : "Forwarded" }));
  return parts;
}

// Our replies carry their outbound message (status, error); echoes of messages sent elsewhere do not.
function bubble(m, actions = {}) {
  const outbound = m.direction === "outbound";
  const sent = m.outbound || null;
  const status = sent ? sent.status : m.status;
  const body = el("div", { class: "bubble-body" });
  if (m.reply_to) {
    const quoted = m.reply_to.story ? "Replied to your story" : m.reply_to.summary;
    body.append(el("blockquote", { class: "quoted", text: quoted }));
  }
  if (m.deleted) body.append(el("p", { class: "deleted", text: "Message deleted" }));
  else {
    if (m.choice) body.append(el("p", { class: "choice", text: `Tapped: ${m.choice.title || m.choice.payload || "an option"}` }));
    else if (sent && sent.template) {  // the template's body as the customer reads it, when this page knows it
      const filled = m.text || (actions.templateText && actions.templateText(sent.template));
      body.append(el("p", { class: "template-name muted small", text: `Template ${sent.template.name} (${sent.template.language})` }));
      if (filled) body.append(el("p", { class: "text", text: filled }));
      else if ((sent.template.variables || []).length) body.append(el("p", { class: "text", text: sent.template.variables.join(" · ") }));
    } else if (m.text) body.append(el("p", { class: "text", text: m.text }));
    else if (!m.attachments.length) body.append(el("p", { class: "summary muted", text: m.summary }));
    // Our own attachment is wherever the user put it, a host the CSP does not let the page load: a link, no preview.
    const drawAttachment = sent ? (a) => el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener noreferrer" },
      el("span", { class: "file-chip", text: `📎 ${a.type}: ${a.url.replace(/^https:\/\//, "").slice(0, 60)}` })) : attachmentNode;
    if (m.attachments.length) body.append(el("div", { class: "attachments" }, ...m.attachments.map(drawAttachment)));
    extras(m).forEach((part) => body.append(part));
  }
  const meta = el("div", { class: "bubble-meta" },
    el("time", { datetime: m.occurred_at, title: new Date(m.occurred_at).toLocaleString(), text: relative(m.occurred_at) }),
    m.edited ? el("span", { class: "edited", text: "edited",
                            title: `Before: ${(m.edits || []).map((e) => e.text || "(no text)").join(" → ")}` }) : null,
    outbound && status ? ticks(status) : null);
  const item = el("li", { class: `message ${outbound ? "outbound" : "inbound"} kind-${m.kind}`, "data-id": m.external_id,
                          "data-outbound-id": sent ? sent.id : null, "data-status": outbound ? status : null },
    el("div", { class: "bubble" }, body, meta));
  if (sent) outboundNotes(sent, actions.onResolve).forEach((note) => item.append(note));
  else if (m.error && m.status === "failed") {
    item.append(el("p", { class: "error small", text: `Not delivered: ${m.error.title || m.error.message || m.error.code}` }));
  }
  if (actions.onReply && !outbound && (m.kind === "comment" || m.kind === "live_comment") && !m.deleted) {
    const label = m.summary.length > 40 ? `${m.summary.slice(0, 40)}…` : m.summary;
    const pub = el("button", { type: "button", class: "link-button small", "data-focus": `reply-${m.id}`, text: "Reply",
                               "aria-label": `Reply publicly to “${label}”` });
    const priv = el("button", { type: "button", class: "link-button small", "data-focus": `private-${m.id}`, text: "Reply privately",
                                "aria-label": `Reply privately to “${label}”` });
    pub.addEventListener("click", () => actions.onReply(m, false));
    priv.addEventListener("click", () => actions.onReply(m, true));
    item.append(el("div", { class: "comment-actions" }, pub, priv));
  }
  if (m.reactions.length) {
    item.append(el("div", { class: "reactions", "aria-label": "Reactions" },
      ...m.reactions.map((r) => el("span", { class: "reaction", title: r.reaction || "", text: r.emoji }))));
  }
  return item;
}

function conversationPage(root) {
  const id = root.dataset.conversationId;
  // `pending`: replies drawn from their 202 answer, until the conversation's own list shows them;
  // `mine`: the last status seen of each reply sent from this page, to announce its changes.
  const state = { cursor: null, shown: new Map(), loaded: false, olderLoaded: false, pending: new Map(), mine: new Map() };
  let reply = null;
  const actions = {
    onResolve: (outbound) => { state.pending.set(outbound.id, outbound); redraw(); refresh(); },
    onReply: (m, isPrivate) => reply && reply.target(m, isPrivate),
    templateText: (template) => (reply ? reply.templateText(template) : null),
  };

  function announce(outbound) {
    const before = state.mine.get(outbound.id);
    if (before === undefined || before === outbound.status) return;
    state.mine.set(outbound.id, outbound.status);
    $("reply-status").textContent = `Your message: ${STATUS_WORDS[outbound.status] || outbound.status}`;
  }

  // Draw the replies the server does not list yet after the messages it does (they are the newest).
  function redraw() {
    const list = $("message-list");
    for (const [outboundId, outbound] of state.pending) {
      const old = list.querySelector(`.message[data-outbound-id="${outboundId}"]`);
      const node = bubble(fromOutbound(outbound), actions);
      if (old) old.replaceWith(node); else list.append(node);
    }
  }

  function header(c) {
    $("conversation-title").textContent = c.kind === "comments" ? `${c.contact.label} · comments` : c.contact.label;
    const bits = [CHANNELS[c.channel], `account ${c.account_id}`];
    if (c.contact.username && c.contact.name) bits.push(`@${c.contact.username}`);
    if (c.thread_key) bits.push(`on ${c.kind === "mentions" ? "media" : "post"} ${c.thread_key}`);
    $("conversation-meta").textContent = bits.join(" · ");
  }

  async function load(older) {
    try {
      const query = older && state.cursor ? `?before=${encodeURIComponent(state.cursor)}` : "";
      const c = await api("GET", `/api/conversations/${id}${query}`);
      header(c);
      const list = $("message-list");
      const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : null;
      const nodes = c.messages.map((m) => { const node = bubble(m, actions); state.shown.set(m.id, node); return node; });
      c.messages.forEach((m) => {
        if (!m.outbound) return;
        state.pending.delete(m.outbound.id);  // listed by the server now, at its place in time
        announce(m.outbound);
      });
      if (older) {
        list.prepend(...nodes);
        state.cursor = c.next_cursor;
        state.olderLoaded = true;
      } else if (!state.olderLoaded) {  // a refresh redraws the newest page, unless older ones are open
        const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
        list.replaceChildren(...nodes);
        if (atEnd || !state.loaded) window.scrollTo(0, document.body.scrollHeight);
        state.cursor = c.next_cursor;
        state.loaded = true;
      }
      redraw();
      if (focused) {  // a redraw must not take the keyboard's place away (a Reply or resolve button)
        const again = list.querySelector(`[data-focus="${focused}"]`);
        if (again) again.focus();
      }
      if (reply && !older) reply.update(c);
      $("messages-older").hidden = !state.cursor;
      showError(null);
      if (c.unread_count > 0) await api("POST", `/api/conversations/${id}/read`);  // opening one reads it
      root.dataset.loaded = "true";
    } catch (error) { showError(error); }
  }

  $("messages-older").addEventListener("click", () => load(true));
  const refresh = throttle(() => load(false), 500);
  if ($("reply")) {
    reply = replyBox({
      conversationId: id,
      onSent: (outbound) => {
        if (!state.mine.has(outbound.id)) state.mine.set(outbound.id, null);
        announce(outbound);
        if (String(outbound.conversation_id) !== String(id)) {  // a private reply lives in the direct conversation
          $("reply-status").textContent = "Private reply queued: it shows in your direct conversation with this person.";
          $("reply-sent-elsewhere").hidden = false;
          $("reply-sent-elsewhere-link").href = `/inbox/${outbound.conversation_id}`;
          return;
        }
        state.pending.set(outbound.id, outbound);
        redraw();
        window.scrollTo(0, document.body.scrollHeight);
        refresh();
      },
      onExpired: () => refresh(),
      onTemplates: () => refresh(),
    });
  }
  load(false);
  // Replies change status through the stream's "conversations" hint (the sender announces each change).
  live(() => refresh(), { also: ["conversations"] });
}

const root = document.querySelector(".inbox");
if (root && root.dataset.page === "list") listPage();
if (root && root.dataset.page === "conversation") conversationPage(root);
