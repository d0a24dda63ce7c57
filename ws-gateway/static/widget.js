// The visitor widget: ask for an agent, wait, chat, see the end. The
// visitor token lives in localStorage so a refresh restores the chat.
import { LiveSocket, api, atBottom, describe, el, prependKeepingPlace, textWithLinks, timeOf, typingNotifier } from "/assets/chat.js";

const KEY = "livechat.visitor";
const $ = (id) => document.getElementById(id);
let live = null;
let me = null;
let room = null;
// Left through the offline form: the email the answer will go to.
let leftFor = null;
let hasMore = false;
let oldest = null;

function status(text) { $("widget-status").textContent = text; }

function showStart() {
  $("start").hidden = false;
  $("chat").hidden = true;
  status("");
  checkAvailability();
}

// Nobody online: the form becomes "leave a message", with the email required.
async function checkAvailability() {
  let offline = false;
  try { offline = !(await api("/availability")).agents_online; } catch (_) { /* unknown: offer the chat */ }
  $("start").dataset.offline = offline ? "1" : "";
  $("start-intro").textContent = offline
    ? "Nobody is online right now. Leave a message and we will answer by email."
    : "Ask a question and the next available agent will answer.";
  $("start-email-label").textContent = offline ? "Email" : "Email (optional)";
  $("start-email").required = offline;
  $("start-submit").textContent = offline ? "Leave a message" : "Start chat";
}

function roomState(r) {
  room = r;
  if (r.status === "queued" && leftFor) status(`Thank you! Nobody is online right now; we will answer at ${leftFor}. If someone comes online they will answer here too.`);
  else if (r.status === "queued") status("Waiting for an agent… you are in the queue, someone will be with you shortly.");
  else if (r.status === "engaged") status(`You are chatting with ${r.agent ? r.agent.name : "an agent"}.`);
}

function ended(text) {
  $("typing").textContent = "";
  offerRating();
  $("composer").hidden = true;
  $("ended").hidden = false;
  $("ended-text").textContent = text;
  status("This chat has ended.");
}

function item(m) {
  const mine = me && m.sender.kind === "visitor";
  return el("li", { class: `msg ${m.sender.kind}${mine ? " mine" : ""}`, "data-seq": m.seq },
    m.sender.kind === "system" ? null : el("span", { class: "who" }, mine ? "You" : m.sender.name),
    el("span", { class: "text" }, textWithLinks(m.content)),
    el("time", { datetime: m.created_at }, timeOf(m.created_at)));
}

function render(m) {
  const list = $("messages");
  const follow = m.sender.kind === "visitor" || atBottom(list);
  const li = item(m);
  list.append(li);
  if (oldest === null || m.seq < oldest) oldest = m.seq;
  if (follow) li.scrollIntoView({ block: "end" });
}

// After a refresh only the newest page is shown: older ones on request,
// one page per click or scroll to the top.
let loadingOlder = false;
async function loadOlder() {
  if (loadingOlder || !hasMore || !room) return;
  loadingOlder = true;
  try {
    const page = await live.request({ type: "history", room_id: room.id, before_seq: oldest ?? undefined });
    prependKeepingPlace($("messages"), page.messages.filter((m) => m.seq < (oldest ?? Infinity)).map(item));
    if (page.messages.length) oldest = Math.min(oldest ?? Infinity, page.messages[0].seq);
    hasMore = page.has_more;
    $("older").hidden = !hasMore;
  } catch (err) {
    status(describe(err));
  } finally {
    loadingOlder = false;
  }
}
$("older").addEventListener("click", loadOlder);
$("messages").addEventListener("scroll", () => { if ($("messages").scrollTop < 8) loadOlder(); });

// After the end: a rating, once. A reload asks whether it was given.
async function offerRating() {
  const saved = JSON.parse(localStorage.getItem(KEY) || "null");
  if (!saved || !room) return;
  let rated = false;
  try { rated = !!(await api(`/rooms/${encodeURIComponent(room.id)}/rating`, { token: saved.token })); } catch (_) { /* 404: not yet */ }
  $("rate").hidden = rated;
  $("rated").hidden = !rated;
}

$("rate").addEventListener("submit", async (e) => {
  e.preventDefault();
  const saved = JSON.parse(localStorage.getItem(KEY) || "null");
  const score = Number(new FormData($("rate")).get("score"));
  const comment = $("rate-comment").value.trim();
  try {
    await api(`/rooms/${encodeURIComponent(room.id)}/rating`, { method: "POST", token: saved.token,
      body: comment ? { score, comment } : { score } });
    $("rate").hidden = true;
    $("rated").hidden = false;
  } catch (err) {
    if (err.code === "conflict") { $("rate").hidden = true; $("rated").hidden = false; return; }
    $("rate-error").textContent = describe(err);
  }
});

function connect(token) {
  $("start").hidden = true;
  $("chat").hidden = false;
  $("composer").hidden = false;
  $("ended").hidden = true;
  $("rate").hidden = true;
  $("rated").hidden = true;
  $("rate").reset();
  $("messages").replaceChildren();
  oldest = null;
  live = new LiveSocket(token, {
    status: (s) => { if (s === "reconnecting") status("Connection lost — reconnecting…"); },
    welcome: (f) => { me = f.user; if (f.rooms[0]) roomState(f.rooms[0]); },
    history: (f) => {
      if (oldest === null) { hasMore = f.has_more; $("older").hidden = !hasMore; }
    },
    message: render,
    room_updated: (f) => roomState(f.room),
    room_closed: (f) => ended(f.message || "This chat has ended."),
    typing: (f) => { $("typing").textContent = f.typing ? `${f.from.name} is typing…` : ""; },
    signed_out: () => { localStorage.removeItem(KEY); showStart(); },
  });
  live.connect();
}

$("start").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("start-error").textContent = "";
  const body = { name: $("start-name").value, message: $("start-message").value };
  const email = $("start-email").value.trim();
  if (email) body.email = email;
  const offline = $("start").dataset.offline === "1";
  if (offline) body.offline_message = true;
  try {
    const r = await api("/rooms", { method: "POST", body });
    leftFor = offline ? email : null;
    localStorage.setItem(KEY, JSON.stringify({ token: r.visitor_token, room_id: r.room.id, left_for: leftFor }));
    connect(r.visitor_token);
  } catch (err) {
    $("start-error").textContent = describe(err);
  }
});

const notifyTyping = typingNotifier((typing) => {
  if (room) live.request({ type: "typing", room_id: room.id, typing }).catch(() => {});
});

$("text").addEventListener("input", notifyTyping);
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const content = $("text").value;
  if (!content.trim() || !room) return;
  $("text").value = "";
  try {
    await live.request({ type: "send", room_id: room.id, content, client_id: live.newClientId() });
  } catch (err) {
    $("text").value = content;
    status(`Not sent: ${err.message}`);
  }
});
$("restart").addEventListener("click", () => {
  if (live) live.close();
  localStorage.removeItem(KEY);
  leftFor = null;
  $("messages").replaceChildren();
  showStart();
});

// Inside a customer's site (embed.js): fill the frame, and let the visitor
// minimise it from here too.
if (new URLSearchParams(location.search).has("embedded")) {
  document.body.classList.add("embedded");
  $("minimise").hidden = false;
  $("minimise").addEventListener("click", () => parent.postMessage({ livechat: "minimise" }, "*"));
}

const saved = JSON.parse(localStorage.getItem(KEY) || "null");
if (saved && saved.token) { leftFor = saved.left_for || null; connect(saved.token); } else showStart();
