// The reply box under a conversation (SPEC 16): text, an attachment by URL, a WhatsApp template with its
// variables, comment replies; and what our own messages show once sent (status, errors, the "unknown" choice).
// An ES module used by inbox.js; no inline script or style (the CSP forbids both).

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";
const $ = (id) => document.getElementById(id);

// What Meta accepts in one message (the server refuses more with reason "too_long"); counted in code points,
// as the server counts them.
export const LIMITS = { whatsapp: 4096, instagram: 1000, messenger: 2000 };
const NEAR_LIMIT = 0.8;
export const STATUS_WORDS = {
  queued: "Queued", sending: "Sending", sent: "Sent", delivered: "Delivered", read: "Read",
  failed: "Not sent", unknown: "Not known whether it was sent",
};
export const STATUS_MARKS = { queued: "◷", sending: "…", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!", unknown: "?" };
const PICK_A_COMMENT = "Choose Reply or Reply privately under a comment to answer it.";
const CAPTIONED = new Set(["image", "video", "file"]);  // WhatsApp shows a caption on these, not on audio

// Builds an element: `text` and `class` as such, any other prop as an attribute (true: present; false/null: left out).
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function length(text) { return [...text].length; }

// A random UUID v4; crypto.randomUUID needs a secure context, getRandomValues does not.
export function newKey() {
  if (window.crypto.randomUUID && window.isSecureContext) return window.crypto.randomUUID();
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// One Idempotency-Key per composed message: sending the same body again (after a network error, or a
// second click) reuses it, so the server queues it once; another body, or a message that went through,
// gets a new key.
class Keys {
  constructor() { this.body = null; this.key = null; }
  for(path, body) {
    const said = JSON.stringify([path, body]);
    if (said !== this.body) { this.body = said; this.key = newKey(); }
    return this.key;
  }
  forget() { this.body = null; this.key = null; }
}

export class SendError extends Error {
  constructor(status, message, reason) { super(message); this.status = status; this.reason = reason; }
  get retryable() { return this.status === null || this.status >= 500 || this.status === 429; }
}

async function call(method, path, body, key) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(path, { method, credentials: "same-origin", headers,
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new SendError(null, "The server could not be reached. Your message is kept: send it again.", "network");
  }
  if (response.status === 401) window.location.assign(`/auth/login?next=${encodeURIComponent(location.pathname)}`);
  let data = null;
  try { data = await response.json(); } catch (error) { data = null; }
  if (!response.ok) {
    const fallback = response.status >= 500 ? "The server had a problem. Your message is kept: send it again."
                                            : `Refused (HTTP ${response.status}).`;
    throw new SendError(response.status, (data && data.error) || fallback, data && data.reason);
  }
  return data;
}

// "3 h", "25 min", "less than a minute": the time left in the customer service window.
export function remaining(iso, now = Date.now()) {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  if (seconds <= 0) return null;
  if (seconds < 60) return "less than a minute";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours < 3 && minutes ? `${hours} h ${minutes} min` : `${hours} h`;
}

export function fillTemplate(text, values) {
  return (text || "").replace(/\{\{\s*(\d+)\s*\}\}/g, (all, n) => (values[Number(n) - 1] || "").trim() || all);
}

// A message drawn from the 202 answer, the way GET /api/conversations/<id> lists our replies.
export function fromOutbound(o) {
  return {
    id: `outbound-${o.id}`, external_id: o.external_id, direction: "outbound", kind: o.kind, text: o.text,
    summary: o.template ? `Template ${o.template.name}` : (o.text || "Message"),
    attachments: o.attachment ? [{ type: o.attachment.type, url: o.attachment.url }] : [],
    reply_to: null, reactions: [], edits: [], edited: false, deleted: false, occurred_at: o.created_at,
    status: o.status, error: o.error, outbound: o,
  };
}

// What our own message shows under its bubble: a failure's reason, a retry to come, or the "unknown" choice.
export function outboundNotes(o, onResolve) {
  const notes = [];
  if (o.status === "failed") {
    const e = o.error || {};
    const why = e.title || e.message || "Meta refused it";
    // Meta's message often only repeats the title after "(#code) ": said once is enough.
    const more = (e.message || "").replace(/^\(#\d+\)\s*/, "").trim();
    const extra = more && e.title && more.toLowerCase() !== e.title.toLowerCase() ? ` ${more}` : "";
    notes.push(el("p", { class: "send-error small", text: `Not sent: ${why}${e.code ? ` (code ${e.code})` : ""}.${extra}` }));
  } else if (o.status === "queued" && o.attempts > 0 && o.next_attempt_at) {
    notes.push(el("p", { class: "muted small", text: `Meta asked us to wait; trying again at ${new Date(o.next_attempt_at).toLocaleTimeString()}.` }));
  } else if (o.status === "unknown") {
    const question = `unknown-${o.id}`;
    const box = el("div", { class: "unknown-notice", role: "group", "aria-labelledby": question },
      el("p", { id: question, text: "Sending was interrupted during the call to Meta: we cannot tell whether the " +
                                    "customer got this message. It will not be sent again unless you say so." }));
    const retry = el("button", { type: "button", class: "small", "data-focus": `resolve-not_sent-${o.id}`,
                                 text: "Mark as not sent and retry" });
    const sent = el("button", { type: "button", class: "small secondary", "data-focus": `resolve-sent-${o.id}`,
                                text: "It was sent" });
    const said = el("p", { class: "send-error small", role: "alert" });
    const decide = async (outcome, button) => {
      retry.disabled = sent.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        const answer = await call("POST", `/api/outbound/${o.id}/resolve`, { outcome });
        onResolve(answer.message);
      } catch (error) {
        said.textContent = error.message;
        retry.disabled = sent.disabled = false;
        button.removeAttribute("aria-busy");
      }
    };
    retry.addEventListener("click", () => decide("not_sent", retry));
    sent.addEventListener("click", () => decide("sent", sent));
    box.append(el("div", { class: "actions" }, retry, sent), said);
    notes.push(box);
  }
  return notes;
}

export function ticks(status) {
  return el("span", { class: `ticks ticks-${status}`, text: STATUS_MARKS[status] || status,
                      title: STATUS_WORDS[status] || status, role: "img", "aria-label": STATUS_WORDS[status] || status });
}

// The reply box. `onSent(outbound)` draws the message at once; `onExpired()` asks for a fresh look when the
// window's time runs out.
export function replyBox({ conversationId, onSent, onExpired, onTemplates = () => {} }) {
  const form = $("reply-form");
  const text = $("reply-text");
  const sendButton = $("reply-send");
  const counter = $("reply-count");
  const failure = $("reply-error");
  const windowNote = $("reply-window");
  const closed = $("reply-closed");
  const context = $("reply-context");
  const attachType = $("reply-attach-type");
  const attachUrl = $("reply-attach-url");
  const attachPanel = $("reply-attach");
  const templateToggle = $("reply-template-toggle");
  const picker = $("template-picker");
  const keys = new Keys();
  const state = { conversation: null, target: null, templates: null, timer: null, sending: false };

  function limit() { return LIMITS[state.conversation?.channel] || 1000; }

  function showError(message) {
    failure.textContent = message || "";
    failure.hidden = !message;
  }

  function count() {
    const used = length(text.value);
    const max = limit();
    counter.hidden = used < max * NEAR_LIMIT;
    counter.textContent = used > max ? `${used - max} characters too many (at most ${max})` : `${used} / ${max}`;
    counter.classList.toggle("over", used > max);
    text.setAttribute("aria-invalid", used > max ? "true" : "false");
  }

  function blocked() {
    const c = state.conversation;
    if (!c) return "Loading…";
    const reply = c.reply || {};
    if (reply.can_reply === false) return reply.reason || "You cannot reply in this conversation.";
    if (c.kind !== "direct") return state.target ? null : PICK_A_COMMENT;
    if (reply.needs_template) {
      return reply.reason || "The customer last wrote more than 24 hours ago: WhatsApp lets you send only an approved template.";
    }
    return null;
  }

  function drawWindow() {
    const c = state.conversation;
    const reply = (c && c.reply) || {};
    const left = reply.window_open && reply.window_closes_at ? remaining(reply.window_closes_at) : null;
    if (c && c.kind === "direct" && reply.window_open && reply.window_closes_at && !left) {
      // The window just closed on this page: ask the server for the new state (WhatsApp then needs a template).
      reply.window_open = false;
      if (c.channel === "whatsapp") reply.needs_template = true;
      else reply.can_reply = false;
      if (state.expired !== reply.window_closes_at) {  // once: a clock ahead of the server's must not loop
        state.expired = reply.window_closes_at;
        onExpired();
      }
    }
    windowNote.textContent = left && c.kind === "direct" ? `Window closes in ${left}` : "";
    windowNote.hidden = !windowNote.textContent;
    const why = blocked();
    closed.textContent = why || "";
    closed.hidden = !why;
    closed.classList.toggle("calm", why === PICK_A_COMMENT);  // a hint, not a refusal
    const off = Boolean(why);
    text.disabled = off;
    attachUrl.disabled = attachType.disabled = off || (c && c.kind !== "direct");
    attachPanel.hidden = off || Boolean(c && c.kind !== "direct");
    $("reply-hint").hidden = off;
    sendButton.disabled = off || state.sending;
    text.placeholder = off ? "" : (c && c.kind !== "direct" ? "Write a reply to the comment" : "Write a reply");
    const whatsapp = c && c.channel === "whatsapp" && c.kind === "direct";
    templateToggle.hidden = !whatsapp;
    // Offered once when only a template can go; a user who closed the picker keeps it closed across refreshes.
    if (whatsapp && reply.needs_template && picker.hidden && !state.offered) {
      state.offered = true;
      openPicker(false);
    }
  }

  // ---- comments: which comment the box answers, publicly or privately ----
  function target(message, isPrivate) {
    state.target = message ? { id: message.id, private: isPrivate, summary: message.summary } : null;
    context.replaceChildren();
    if (state.target) {
      const cancel = el("button", { type: "button", class: "small secondary", text: "Cancel" });
      cancel.addEventListener("click", () => { target(null); });
      context.append(el("span", { text: `${isPrivate ? "Private reply to" : "Public reply to"} “${message.summary}”` }), cancel);
      context.hidden = false;
    } else context.hidden = true;
    drawWindow();
    if (state.target) text.focus();
  }

  // ---- sending ----
  async function send(path, body) {
    if (state.sending) return null;  // a double click sends once (and the key would make a repeat harmless)
    state.sending = true;
    sendButton.disabled = true;
    sendButton.setAttribute("aria-busy", "true");
    form.setAttribute("aria-busy", "true");
    try {
      const answer = await call("POST", path, body, keys.for(path, body));
      keys.forget();
      showError(null);
      onSent(answer.message);
      return answer.message;
    } catch (error) {
      if (!error.retryable) keys.forget();  // a refusal queued nothing: what the user edits next is a new message
      showError(error.message);
      // The window closed or the account lost its rights since the page loaded: show what is possible now.
      if (["window_closed", "reauth_needed"].includes(error.reason)) onExpired();
      return null;
    } finally {
      state.sending = false;
      sendButton.removeAttribute("aria-busy");
      form.removeAttribute("aria-busy");
      drawWindow();
    }
  }

  async function sendTyped() {
    const c = state.conversation;
    const typed = text.value;
    const url = attachUrl.value.trim();
    if (!typed.trim() && !url) { showError("Write a message first."); text.focus(); return; }
    if (length(typed) > limit()) { showError(`This message is too long: at most ${limit()} characters on ${c.channel}.`); return; }
    if (url && !attachUrl.checkValidity()) { showError("The attachment's address must be a full https:// URL."); attachUrl.focus(); return; }
    if (c.kind !== "direct") {
      const sent = await send(`/api/comments/${state.target.id}/replies`, { text: typed, private: state.target.private });
      if (sent) { text.value = ""; target(null); count(); }
      return;
    }
    const path = `/api/conversations/${conversationId}/messages`;
    if (url) {
      const attachment = { type: attachType.value, url };
      const captioned = c.channel === "whatsapp" && CAPTIONED.has(attachment.type) && typed.trim();
      const sent = await send(path, captioned ? { attachment, text: typed } : { attachment });
      if (!sent) return;
      attachUrl.value = "";
      attachPanel.open = false;
      if (captioned || !typed.trim()) { text.value = ""; count(); return; }
    }
    // Instagram and Messenger show no caption: the text goes as a message of its own, after the attachment.
    if (await send(path, { text: typed })) { text.value = ""; count(); }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); sendTyped(); });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); sendTyped(); }
  });
  text.addEventListener("input", () => { count(); if (!failure.hidden) showError(null); });

  // ---- WhatsApp templates ----
  const choice = $("template-choice");
  const fields = $("template-variables");
  const preview = $("template-preview");
  const templateError = $("template-error");
  const templateSend = $("template-send");

  function chosen() { return choice.value === "" ? null : (state.templates || [])[Number(choice.value)] || null; }

  function drawPreview() {
    const t = chosen();
    preview.replaceChildren();
    templateSend.disabled = !t;
    if (!t) return;
    const values = [...fields.querySelectorAll("input")].map((i) => i.value);
    if (t.header) preview.append(el("strong", { class: "template-header", text: fillTemplate(t.header, values) }));
    preview.append(el("p", { class: "template-body", text: fillTemplate(t.body, values) }));
    if (t.footer) preview.append(el("small", { class: "muted", text: t.footer }));
  }

  function drawFields() {
    const t = chosen();
    fields.replaceChildren();
    templateError.hidden = true;
    for (let n = 1; t && n <= t.variables; n += 1) {
      const id = `template-var-${n}`;
      const input = el("input", { id, type: "text", required: true, maxlength: "1024", autocomplete: "off" });
      input.addEventListener("input", drawPreview);
      fields.append(el("div", { class: "template-variable" }, el("label", { for: id, text: `Variable {{${n}}}` }), input));
    }
    drawPreview();
  }

  async function loadTemplates() {
    if (state.templates) return;
    if (state.loadingTemplates) { await state.loadingTemplates; return; }
    state.loadingTemplates = fetchTemplates();
    await state.loadingTemplates;
    state.loadingTemplates = null;
  }

  async function fetchTemplates() {
    choice.replaceChildren(el("option", { value: "", text: "Loading…" }));
    try {
      const answer = await call("GET", `/api/conversations/${conversationId}/templates`);
      state.templates = answer.templates;
    } catch (error) {
      choice.replaceChildren(el("option", { value: "", text: "Could not load the templates" }));
      templateError.textContent = error.message;
      templateError.hidden = false;
      return;
    }
    choice.replaceChildren(el("option", { value: "", text: state.templates.length ? "Choose a template" : "No approved templates" }),
      ...state.templates.map((t, i) => el("option", { value: String(i), text: `${t.name} (${t.language})${t.category ? ` · ${t.category.toLowerCase()}` : ""}` })));
    $("template-none").hidden = state.templates.length > 0;
    drawFields();
    onTemplates();  // the bubbles of templates sent earlier can now show their text
  }

  function openPicker(focus = true) {
    picker.hidden = false;
    templateToggle.setAttribute("aria-expanded", "true");
    templateToggle.textContent = "Hide the template picker";
    loadTemplates().then(() => { if (focus) choice.focus(); });
  }

  templateToggle.addEventListener("click", () => {
    if (picker.hidden) openPicker();
    else {
      picker.hidden = true;
      templateToggle.setAttribute("aria-expanded", "false");
      templateToggle.textContent = "Use a template";
    }
  });
  choice.addEventListener("change", drawFields);
  picker.addEventListener("submit", async (event) => {
    event.preventDefault();
    const t = chosen();
    if (!t) return;
    const inputs = [...fields.querySelectorAll("input")];
    const empty = inputs.find((i) => !i.value.trim());
    if (empty) {
      templateError.textContent = `Fill in ${empty.labels[0].textContent}: WhatsApp refuses a template with an empty variable.`;
      templateError.hidden = false;
      empty.focus();
      return;
    }
    templateError.hidden = true;
    const body = { template: { name: t.name, language: t.language, variables: inputs.map((i) => i.value.trim()) } };
    const sent = await send(`/api/conversations/${conversationId}/messages`, body);
    if (sent) { inputs.forEach((i) => { i.value = ""; }); drawPreview(); }
  });

  // The window's countdown moves on by itself; once a minute is precise enough for "closes in 25 min".
  state.timer = setInterval(drawWindow, 20000);
  count();

  return {
    update(conversation) {
      state.conversation = conversation;
      $("reply").hidden = false;
      if (state.target && conversation.kind === "direct") state.target = null;
      if (conversation.channel === "whatsapp" && conversation.kind === "direct" && !state.templates &&
          conversation.messages.some((m) => m.outbound && m.outbound.template && !m.text)) loadTemplates();
      drawWindow();
      count();
    },
    target,
    // The body of a template this page loaded, filled in: how a sent template reads in its bubble.
    templateText(template) {
      const t = (state.templates || []).find((x) => x.name === template.name && x.language === template.language);
      return t ? fillTemplate(t.body, template.variables || []) : null;
    },
  };
}
