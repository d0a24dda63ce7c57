// The agent console: queue with Accept/Decline, chats with history,
// typing and canned responses, close/transfer, and admin pages.
import { LiveSocket, api, atBottom, describe, el, prependKeepingPlace, textWithLinks, timeOf, typingNotifier } from "/assets/chat.js";

const KEY = "livechat.agent";
const $ = (id) => document.getElementById(id);
const state = {
  token: null, me: null, live: null, queue: new Map(), rooms: new Map(), active: null, canned: [],
  // Presence: away agents are offered no new requests.
  away: false, team: [],
  // The last seq read per room (kept in this browser, per agent), so that
  // unread counts survive a reload.
  read: {},
  muted: localStorage.getItem("livechat.muted") === "1",
};

// ---- session -------------------------------------------------------------
function loggedOut(message) {
  sessionStorage.removeItem(KEY);
  if (state.live) state.live.close();
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const r = await api("/auth/login", { method: "POST", body: { username: $("login-username").value, password: $("login-password").value } });
    sessionStorage.setItem(KEY, JSON.stringify({ token: r.access_token, agent: r.agent }));
    // A click is the moment a browser lets a page ask to notify.
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    start(r.access_token, r.agent);
  } catch (err) {
    $("login-error").textContent =
      err.status === 401 ? "Wrong username or password."
      : err.status === 429 ? "Too many attempts — wait a moment."
      : describe(err);
  }
});
$("logout").addEventListener("click", () => loggedOut());

function start(token, agent) {
  state.token = token;
  state.me = agent;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me").textContent = `${agent.name} (${agent.group})`;
  state.read = JSON.parse(localStorage.getItem(readKey()) || "{}");
  renderSound();
  state.live = new LiveSocket(token, handlers);
  state.live.connect();
  loadCanned();
  probeAdmin();
  probeReports();
  loadRecentlyClosed();
}

// ---- live events ---------------------------------------------------------
const handlers = {
  status: (s) => {
    const text = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", "signed-out": "Signed out" }[s] || s;
    $("conn").textContent = text;
    $("conn").dataset.state = s;
  },
  signed_out: () => loggedOut("Your session ended. Please log in again."),
  welcome: (f) => {
    state.queue = new Map(f.queue.map((r) => [r.id, r]));
    // After a reconnect: a chat held here that is no longer ours (requeued
    // while we were away, transferred, closed) stays readable but inactive.
    const ours = new Set(f.rooms.map((r) => r.id));
    for (const [id, r] of state.rooms) {
      if (!ours.has(id) && !r.gone) {
        r.gone = state.queue.has(id) ? "This chat went back to the queue." : "This chat is no longer yours.";
      }
    }
    for (const r of f.rooms) upsertRoom(r);
    renderLists();
    if (state.active) renderRoom();
    loadTeam();
  },
  history: (f) => {
    const r = state.rooms.get(f.room_id);
    if (!r) return;
    if (r.messages.length === 0) r.hasMore = f.has_more;
    r.historyLoaded = true;
    // What a history frame carries was said before: counted, not announced.
    if (f.messages.length) r.replayedUpTo = Math.max(r.replayedUpTo, f.messages[f.messages.length - 1].seq);
    if (f.room_id === state.active) renderRoom();
  },
  message: (m) => {
    const r = state.rooms.get(m.room_id);
    if (!r || r.messages.some((x) => x.seq === m.seq)) return;
    r.messages.push(m);
    const mine = m.sender.kind === "agent" && m.sender.id === state.me.id;
    if (m.room_id === state.active && !document.hidden) {
      markRead(r);
    } else if (!mine && m.sender.kind !== "system" && m.seq > (state.read[m.room_id] || 0)) {
      r.unread += 1;
      if (m.seq > r.replayedUpTo && m.sender.kind === "visitor") alertAgent(r.room.visitor.name, m.content);
    }
    if (m.room_id === state.active) appendMessage(m, mine);
    renderLists();
  },
  note: (f) => {
    const r = state.rooms.get(f.note.room_id);
    if (!r || r.notes.some((n) => n.id === f.note.id)) return;
    r.notes.push(f.note);
    if (f.note.room_id === state.active) renderRoom();
  },
  room_queued: (f) => {
    if (state.away) return;
    const isNew = !state.queue.has(f.room.id);
    state.queue.set(f.room.id, f.room);
    renderLists();
    if (isNew) alertAgent(`New chat request from ${f.room.visitor.name}`, f.room.subject || "");
  },
  room_taken: (f) => { state.queue.delete(f.room_id); renderLists(); },
  room_updated: (f) => {
    const room = f.room;
    if (room.status === "engaged" && room.agent && room.agent.id === state.me.id) {
      const before = state.rooms.get(room.id);
      const r = upsertRoom(room);
      // Given to us by someone else (a transfer): new, and announced.
      if (!before || before.gone) {
        r.isNew = room.id !== state.active;
        alertAgent("A chat was transferred to you", room.visitor.name);
      }
    } else if (state.rooms.has(room.id)) {
      const r = state.rooms.get(room.id);
      r.room = room;
      if (room.status === "queued" || (room.status === "engaged" && room.agent.id !== state.me.id)) {
        r.gone = room.status === "queued" ? "This chat went back to the queue." : `This chat was transferred to ${room.agent.name}.`;
      }
    }
    if (room.status !== "queued") state.queue.delete(room.id);
    renderLists();
    if (room.id === state.active) renderRoom();
  },
  room_closed: (f) => {
    state.queue.delete(f.room_id);
    const r = state.rooms.get(f.room_id);
    if (r) {
      r.gone = f.reason === "expired" ? "This chat expired after a period of inactivity." : "This chat is closed.";
      r.typing = "";
    }
    renderLists();
    if (f.room_id === state.active) renderRoom();
  },
  typing: (f) => {
    const r = state.rooms.get(f.room_id);
    if (!r) return;
    r.typing = f.typing ? `${f.from.name} is typing…` : "";
    if (f.room_id === state.active) $("typing").textContent = r.typing;
  },
};

function upsertRoom(room) {
  const r = state.rooms.get(room.id);
  if (r) { r.room = room; r.gone = null; return r; }
  const fresh = { room, messages: [], unread: 0, hasMore: false, typing: "", gone: null, replayedUpTo: 0,
    historyLoaded: false, isNew: false, visitor: null, notes: [], notesLoaded: false };
  state.rooms.set(room.id, fresh);
  return fresh;
}

// Chats we closed (or that expired) in the last day stay in the list after
// a reload, read-only, so that an agent can look back at them.
async function loadRecentlyClosed() {
  const since = Date.now() - 24 * 3600 * 1000;
  for (const status of ["closed", "expired"]) {
    try {
      const list = await api(`/rooms?mine=true&status=${status}`, { token: state.token });
      for (const room of list.rooms) {
        if (state.rooms.has(room.id) || Date.parse(room.last_message_at) < since) continue;
        const r = upsertRoom(room);
        r.gone = status === "expired" ? "This chat expired after a period of inactivity." : "This chat is closed.";
      }
    } catch (_) { /* the list is a convenience */ }
  }
  renderLists();
}

// ---- unread counts and notifications ----------------------------------------
function readKey() { return `livechat.read.${state.me.id}`; }

function markRead(r) {
  r.unread = 0;
  r.isNew = false;
  const last = r.messages.reduce((max, m) => Math.max(max, m.seq), 0);
  if (last > (state.read[r.room.id] || 0)) {
    state.read[r.room.id] = last;
    try { localStorage.setItem(readKey(), JSON.stringify(state.read)); } catch (_) { /* full: counts reset on reload */ }
  }
}

document.addEventListener("visibilitychange", () => {
  const r = state.rooms.get(state.active);
  if (!document.hidden && r) { markRead(r); renderLists(); }
});

/** A sound (unless muted) and, when the tab is in the background, a desktop notification. */
function alertAgent(title, body) {
  if (!state.muted) beep();
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    try { new Notification(title, { body: body.slice(0, 140), tag: "livechat" }); } catch (_) { /* not allowed here */ }
  }
}

function beep() {
  try {
    state.audio ||= new AudioContext();
    const ctx = state.audio;
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + 0.25);
  } catch (_) { /* no audio: the title and badges still tell */ }
}

function renderSound() {
  $("sound").textContent = state.muted ? "Sound off" : "Sound on";
  $("sound").setAttribute("aria-pressed", String(!state.muted));
}
$("sound").addEventListener("click", () => {
  state.muted = !state.muted;
  localStorage.setItem("livechat.muted", state.muted ? "1" : "0");
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
  renderSound();
});

function updateTitle() {
  const waiting = state.queue.size + [...state.rooms.values()].reduce((n, r) => n + r.unread + (r.isNew ? 1 : 0), 0);
  document.title = waiting ? `(${waiting}) livechat — agent console` : "livechat — agent console";
  updateFavicon(waiting);
}

// The tab's icon: a speech bubble, with a red count while something waits.
let faviconShown = null;
function updateFavicon(waiting) {
  const label = waiting > 99 ? "99+" : waiting ? String(waiting) : "";
  if (label === faviconShown) return;
  faviconShown = label;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 32;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.fillStyle = "#2357c6";
  ctx.beginPath();
  ctx.arc(14, 14, 12, 0, 2 * Math.PI);
  ctx.fill();
  if (label) {
    ctx.fillStyle = "#d93025";
    ctx.beginPath();
    ctx.arc(22, 10, 10, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#fff";
    ctx.font = `bold ${label.length > 1 ? 11 : 14}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(label, 22, 11);
  }
  $("favicon").href = canvas.toDataURL("image/png");
  $("favicon").dataset.count = label;
}

// ---- presence and the team ----------------------------------------------------
async function loadTeam() {
  try {
    const ack = await state.live.request({ type: "team" });
    state.team = ack.agents;
    const me = ack.agents.find((a) => a.id === state.me.id);
    if (me) setAway(me.status === "away");
    renderTransferList();
  } catch (_) { /* offered again on the next welcome */ }
}

function renderTransferList() {
  const keep = $("transfer-to").value;
  const colleagues = state.team.filter((a) => a.id !== state.me.id && a.accepts_rooms);
  $("transfer-to").replaceChildren(el("option", { value: "" }, "Back to the queue"),
    ...colleagues.map((a) => el("option", { value: a.id, selected: a.id === keep },
      `To ${a.name} — ${a.status}, ${a.open_rooms} chat${a.open_rooms === 1 ? "" : "s"}`)));
}
$("transfer-to").addEventListener("focus", loadTeam);

function setAway(away) {
  state.away = away;
  $("my-status").value = away ? "away" : "online";
  $("away-note").hidden = !away;
  if (away) state.queue.clear();
  renderLists();
}

$("my-status").addEventListener("change", async () => {
  const status = $("my-status").value;
  try {
    const ack = await state.live.request({ type: "presence", status });
    setAway(ack.agent.status === "away");
    // Back online: a fresh welcome brings the queue as it is now.
    if (!state.away) state.live.restart();
  } catch (err) {
    $("my-status").value = state.away ? "away" : "online";
    alert(describe(err));
  }
});

// ---- lists ---------------------------------------------------------------
// Where the customer writes from: the web widget or their messenger.
const CHANNELS = { web: "Web", telegram: "Telegram", messenger: "Messenger", wechat: "WeChat" };
function channelTag(channel) {
  const name = CHANNELS[channel] || channel;
  return el("span", { class: `channel channel-${channel}`, title: `Writes from ${name}` }, name);
}

function lastMessageOf(r) {
  for (let i = r.messages.length - 1; i >= 0; i--) if (r.messages[i].sender.kind !== "system") return r.messages[i];
  return null;
}

function renderLists() {
  const queue = [...state.queue.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  $("queue-count").textContent = String(queue.length);
  $("queue").replaceChildren(...queue.map((room) => el("li", { class: "room-item" },
    el("div", {}, channelTag(room.channel), el("strong", {}, room.visitor.name), el("span", { class: "sub" }, ` · ${timeOf(room.created_at)}`)),
    room.subject ? el("p", { class: "subject" }, room.subject) : null,
    el("div", { class: "row" },
      el("button", { type: "button", onclick: () => accept(room.id) }, "Accept"),
      el("button", { type: "button", class: "secondary", onclick: () => decline(room.id) }, "Decline")))));
  if (!queue.length && !state.away) $("queue").append(el("li", { class: "empty" }, "Nobody is waiting."));
  // Open chats first, newest activity first; ended ones after them.
  const mine = [...state.rooms.values()].sort((a, b) =>
    (a.gone ? 1 : 0) - (b.gone ? 1 : 0) || b.room.last_message_at.localeCompare(a.room.last_message_at));
  $("mine").replaceChildren(...mine.map((r) => {
    const last = lastMessageOf(r);
    return el("li", {},
      el("button", { type: "button", class: `room-tab${r.room.id === state.active ? " active" : ""}${r.gone ? " gone" : ""}`,
        "aria-current": r.room.id === state.active ? "true" : false, onclick: () => open(r.room.id) },
        el("span", { class: "tab-head" }, channelTag(r.room.channel), el("strong", {}, r.room.visitor.name),
          r.isNew ? el("span", { class: "new" }, "New") : null,
          r.unread ? el("span", { class: "badge", "aria-label": `${r.unread} unread` }, String(r.unread)) : null),
        last ? el("span", { class: "preview" }, `${last.content.slice(0, 80)} · ${timeOf(last.created_at)}`) : null));
  }));
  if (!mine.length) $("mine").append(el("li", { class: "empty" }, "No open chats."));
  updateTitle();
}

async function accept(id) {
  try {
    const ack = await state.live.request({ type: "accept", room_id: id });
    state.queue.delete(id);
    upsertRoom(ack.room);
    open(id);
  } catch (err) {
    state.queue.delete(id);
    renderLists();
    alert(err.code === "conflict" ? "Someone else took this chat." : err.message);
  }
}

async function decline(id) {
  state.queue.delete(id);
  renderLists();
  try { await state.live.request({ type: "decline", room_id: id }); } catch (_) { /* it may be gone already */ }
}

// ---- the open room ---------------------------------------------------------
function open(id) {
  state.active = id;
  const r = state.rooms.get(id);
  markRead(r);
  renderLists();
  renderRoom({ jump: true });
  $("text").focus();
  // Engaged chats get their history from the server; ended ones listed
  // after a reload are read once opened.
  if (r.gone && !r.historyLoaded) loadOlder(r, { first: true });
  loadVisitor(r);
  loadNotes(r);
  loadRating(r);
}

// An ended chat shows the visitor's rating, once they gave one.
async function loadRating(r) {
  if (!r.gone || r.rating) return;
  try { r.rating = await api(`/rooms/${encodeURIComponent(r.room.id)}/rating`, { token: state.token }); } catch (_) { return; }
  if (r.room.id === state.active) renderRoom();
}

async function loadNotes(r) {
  if (r.notesLoaded) return;
  try {
    const ack = await state.live.request({ type: "notes", room_id: r.room.id });
    const known = new Set(r.notes.map((n) => n.id));
    r.notes.push(...ack.notes.filter((n) => !known.has(n.id)));
    r.notesLoaded = true;
    if (r.room.id === state.active) renderRoom();
  } catch (_) { /* shown once the room is opened again */ }
}

function noteItem(n) {
  return el("li", { class: "msg note", "data-note": n.id },
    el("span", { class: "who" }, `Private note · ${n.author.id === state.me.id ? "You" : n.author.name}`),
    el("span", { class: "text" }, textWithLinks(n.content)),
    el("time", { datetime: n.created_at }, timeOf(n.created_at)));
}

/** Messages in seq order, each note right after the message it followed. */
function conversationItems(r) {
  const notes = [...r.notes].sort((a, b) => a.after_seq - b.after_seq || a.created_at.localeCompare(b.created_at));
  const items = [];
  let i = 0;
  const first = r.messages.length ? r.messages[0].seq : Infinity;
  for (; i < notes.length && notes[i].after_seq < first; i++) if (!r.hasMore) items.push(noteItem(notes[i]));
  for (const m of r.messages) {
    items.push(messageItem(m));
    for (; i < notes.length && notes[i].after_seq <= m.seq; i++) items.push(noteItem(notes[i]));
  }
  for (; i < notes.length; i++) items.push(noteItem(notes[i]));
  return items;
}

async function loadVisitor(r) {
  if (!r.visitor) {
    try { r.visitor = (await state.live.request({ type: "visitor", room_id: r.room.id })).visitor; } catch (_) { return; }
  }
  if (r.room.id === state.active) renderVisitor(r);
}

function renderVisitor(r) {
  const v = r.visitor;
  if (!v) { $("visitor-panel").replaceChildren(); return; }
  const row = (label, value) => (value ? [el("dt", {}, label), el("dd", {}, value)] : []);
  const earlier = v.earlier_rooms.map((room) => el("li", {},
    el("span", { class: "sub" }, `${timeOf(room.created_at)} · ${room.status}`), el("br"), room.subject || "(no question)"));
  $("visitor-panel").replaceChildren(
    el("h3", {}, "Visitor"),
    v.offline_message ? el("p", { class: "notice" }, "Left a message while nobody was online: answer by email.") : null,
    el("dl", {},
      row("Name", v.name),
      row("Email", v.email ? el("a", { href: `mailto:${v.email}` }, v.email) : null),
      row("Channel", CHANNELS[v.channel] || v.channel),
      row("First question", v.subject)),
    el("h3", {}, "Earlier conversations"),
    earlier.length ? el("ul", { class: "earlier" }, ...earlier) : el("p", { class: "sub" }, "None."));
}

function messageItem(m) {
  const mine = m.sender.kind === "agent" && m.sender.id === state.me.id;
  return el("li", { class: `msg ${m.sender.kind}${mine ? " mine" : ""}`, "data-seq": m.seq },
    m.sender.kind === "system" ? null : el("span", { class: "who" }, mine ? "You" : m.sender.name),
    el("span", { class: "text" }, textWithLinks(m.content)),
    el("time", { datetime: m.created_at }, timeOf(m.created_at)));
}

// A new message scrolls the list only for a reader at its end (or for
// what they sent themselves); someone reading older messages is told below.
function appendMessage(m, mine) {
  const list = $("messages");
  const follow = mine || atBottom(list);
  const li = messageItem(m);
  list.append(li);
  if (follow) li.scrollIntoView({ block: "end" });
  else $("new-below").hidden = false;
}
$("new-below").addEventListener("click", () => {
  $("messages").lastElementChild?.scrollIntoView({ block: "end" });
  $("new-below").hidden = true;
});

function renderRoom({ jump = false } = {}) {
  const r = state.rooms.get(state.active);
  $("no-room").hidden = !!r;
  $("room").hidden = !r;
  if (!r) return;
  $("room-title").replaceChildren(channelTag(r.room.channel), r.room.visitor.name);
  $("room-sub").textContent = r.room.subject || "";
  r.messages.sort((a, b) => a.seq - b.seq);
  const list = $("messages");
  const follow = jump || atBottom(list);
  const fromEnd = list.scrollHeight - list.scrollTop;
  list.replaceChildren(...conversationItems(r));
  if (follow) { list.lastElementChild?.scrollIntoView({ block: "end" }); $("new-below").hidden = true; }
  else list.scrollTop = list.scrollHeight - fromEnd;
  $("older").hidden = !r.hasMore;
  $("typing").textContent = r.typing;
  $("room-ended").hidden = !r.gone;
  $("room-rating").hidden = !r.rating;
  $("room-rating").textContent = r.rating
    ? `Rated ${r.rating.score}/5 by the visitor${r.rating.comment ? `: “${r.rating.comment}”` : "."}` : "";
  $("room-ended").textContent = r.gone || "";
  for (const id of ["composer", "close-room", "transfer", "transfer-to"]) $(id).hidden = !!r.gone;
  $("composer").classList.toggle("noting", $("as-note").checked);
  renderVisitor(r);
}

// One page per click or per scroll to the top; the reader keeps their place.
let loadingOlder = false;
async function loadOlder(r, { first = false } = {}) {
  if (loadingOlder) return;
  loadingOlder = true;
  try {
    const before = r.messages.length ? r.messages.reduce((min, m) => Math.min(min, m.seq), Infinity) : undefined;
    const page = await state.live.request({ type: "history", room_id: r.room.id, before_seq: first ? undefined : before });
    const known = new Set(r.messages.map((m) => m.seq));
    const older = page.messages.filter((m) => !known.has(m.seq));
    r.messages.push(...older);
    r.messages.sort((a, b) => a.seq - b.seq);
    r.hasMore = page.has_more;
    r.historyLoaded = true;
    if (r.room.id !== state.active) return;
    if (first) renderRoom({ jump: true });
    else {
      // Notes among the older page come with it.
      const list = $("messages");
      const fromEnd = list.scrollHeight - list.scrollTop;
      list.replaceChildren(...conversationItems(r));
      list.scrollTop = list.scrollHeight - fromEnd;
      $("older").hidden = !r.hasMore;
    }
  } catch (err) {
    if (!first) alert(describe(err));
  } finally {
    loadingOlder = false;
  }
}
$("older").addEventListener("click", () => loadOlder(state.rooms.get(state.active)));
$("messages").addEventListener("scroll", () => {
  const list = $("messages");
  if (list.scrollTop < 8 && !$("older").hidden) loadOlder(state.rooms.get(state.active));
  if (atBottom(list)) $("new-below").hidden = true;
});

const notifyTyping = typingNotifier((typing) => {
  if (state.active) state.live.request({ type: "typing", room_id: state.active, typing }).catch(() => {});
});

$("text").addEventListener("input", () => { notifyTyping(); suggest(); });
$("text").addEventListener("keydown", (e) => {
  const options = [...$("suggest").querySelectorAll("button")];
  const open = !$("suggest").hidden && options.length > 0;
  if (open && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    e.preventDefault();
    const step = e.key === "ArrowDown" ? 1 : -1;
    selectSuggestion((state.suggestIndex + step + options.length) % options.length);
  } else if (open && (e.key === "Tab" || e.key === "Enter") && !e.shiftKey) {
    e.preventDefault();
    options[state.suggestIndex]?.click();
  } else if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("composer").requestSubmit();
  } else if (e.key === "Escape") {
    $("suggest").hidden = true;
  }
});
$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const content = $("text").value;
  if (!content.trim() || !state.active) return;
  $("text").value = "";
  $("suggest").hidden = true;
  const asNote = $("as-note").checked;
  try {
    if (asNote) {
      const ack = await state.live.request({ type: "note", room_id: state.active, content });
      handlers.note({ note: ack.note });
    } else {
      await state.live.request({ type: "send", room_id: state.active, content, client_id: state.live.newClientId() });
    }
  } catch (err) {
    $("text").value = content;
    alert(`Not sent: ${err.message}`);
  }
});
$("as-note").addEventListener("change", () => {
  $("composer").classList.toggle("noting", $("as-note").checked);
  $("text").focus();
});
$("close-room").addEventListener("click", async () => {
  if (!confirm("Close this chat?")) return;
  try { await state.live.request({ type: "close", room_id: state.active }); } catch (err) { alert(err.message); }
});
$("transfer").addEventListener("click", async () => {
  const agent_id = $("transfer-to").value || undefined;
  try { await state.live.request({ type: "transfer", room_id: state.active, agent_id }); } catch (err) { alert(err.message); }
});

// ---- canned responses ------------------------------------------------------
function suggest() {
  const text = $("text").value;
  const box = $("suggest");
  if (!text.startsWith("/")) { box.hidden = true; return; }
  const q = text.slice(1).toLowerCase();
  const hits = state.canned.filter((c) => c.shortcut.toLowerCase().startsWith(q)).slice(0, 6);
  box.replaceChildren(...hits.map((c, i) => el("li", {}, el("button", { type: "button", id: `suggest-${i}`, role: "option",
    onclick: () => {
      $("text").value = c.body;
      box.hidden = true;
      $("text").focus();
    } }, el("strong", {}, `/${c.shortcut}`), ` ${c.title}`))));
  box.hidden = hits.length === 0;
  selectSuggestion(0);
}

/** Marks the canned response Enter or Tab would take (ArrowUp/ArrowDown move it). */
function selectSuggestion(i) {
  state.suggestIndex = i;
  $("suggest").querySelectorAll("button").forEach((b, j) => {
    b.classList.toggle("selected", i === j);
    b.setAttribute("aria-selected", String(i === j));
  });
  $("text").setAttribute("aria-activedescendant", `suggest-${i}`);
}

async function loadCanned() {
  const r = await api("/canned-responses", { token: state.token });
  state.canned = r.canned_responses;
  $("canned-list").replaceChildren(...state.canned.map((c) => el("tr", {},
    el("td", {}, `/${c.shortcut}`), el("td", {}, c.title), el("td", {}, c.scope),
    el("td", {},
      el("button", { type: "button", class: "secondary", onclick: () => editCanned(c) }, "Edit"),
      el("button", { type: "button", class: "danger", onclick: () => deleteCanned(c) }, "Delete")))));
}

function editCanned(c) {
  $("canned-id").value = c.id;
  $("canned-shortcut").value = c.shortcut;
  $("canned-title").value = c.title;
  $("canned-body").value = c.body;
  $("canned-shared").checked = c.scope === "shared";
}

async function deleteCanned(c) {
  if (!confirm(`Delete /${c.shortcut}?`)) return;
  try { await api(`/canned-responses/${encodeURIComponent(c.id)}`, { method: "DELETE", token: state.token }); } catch (err) { alert(err.message); }
  loadCanned();
}

$("canned-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("canned-id").value;
  const body = { shortcut: $("canned-shortcut").value, title: $("canned-title").value, body: $("canned-body").value,
    scope: $("canned-shared").checked ? "shared" : "personal" };
  try {
    await api(id ? `/canned-responses/${encodeURIComponent(id)}` : "/canned-responses", { method: id ? "PUT" : "POST", token: state.token, body });
    $("canned-form").reset();
    $("canned-id").value = "";
    $("canned-error").textContent = "";
    loadCanned();
  } catch (err) {
    $("canned-error").textContent = describe(err);
  }
});
$("canned-form").addEventListener("reset", () => { $("canned-id").value = ""; });

// ---- admin ---------------------------------------------------------------
const SETTINGS = [
  ["history_load_count", "Messages loaded on entering a chat", "number"],
  ["room_idle_timeout_secs", "Close idle chats after (seconds)", "number"],
  ["agent_grace_secs", "Grace before an absent agent's chats go back to the queue (seconds)", "number"],
  ["agent_join_message", "Text when an agent joins ({agent} = name)", "text"],
  ["agent_leave_message", "Text when an agent leaves ({agent} = name)", "text"],
  ["close_message", "Text when a chat is closed", "text"],
  ["max_message_chars", "Longest message (characters)", "number"],
];

async function probeAdmin() {
  try {
    const [agents, groups] = await Promise.all([api("/agents", { token: state.token }), api("/groups", { token: state.token })]);
    $("nav-admin").hidden = false;
    $("agent-group").replaceChildren(...groups.groups.map((g) => el("option", { value: g.name, selected: g.name === "agent" }, g.name)));
    renderAgents(agents.agents);
  } catch (_) { $("nav-admin").hidden = true; }
}

function renderAgents(agents) {
  $("agent-list").replaceChildren(...agents.map((a) => el("tr", {},
    el("td", {}, a.username), el("td", {}, a.name), el("td", {}, a.group), el("td", {}, a.disabled ? "disabled" : "active"),
    el("td", {}, a.id === state.me.id ? "(you)" : [
      el("button", { type: "button", class: "secondary", onclick: async () => {
        try { await api(`/agents/${a.id}`, { method: "PATCH", token: state.token, body: { disabled: !a.disabled } }); } catch (err) { alert(err.message); }
        probeAdmin();
      } }, a.disabled ? "Enable" : "Disable"),
      el("button", { type: "button", class: "secondary", onclick: async () => {
        try {
          const c = await api(`/agents/${a.id}/capacity`, { token: state.token });
          const answer = prompt(`Chats ${a.name} is given at once (empty: the workspace's ${c.capacity == null ? c.effective_capacity : "default"})`, c.capacity ?? "");
          if (answer === null) return;
          await api(`/agents/${a.id}/capacity`, { method: "PUT", token: state.token, body: { capacity: answer.trim() === "" ? null : Number(answer) } });
        } catch (err) { alert(describe(err)); }
      } }, "Capacity"),
      el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Delete ${a.username}?`)) return;
        try { await api(`/agents/${a.id}`, { method: "DELETE", token: state.token }); } catch (err) { alert(err.message); }
        probeAdmin();
      } }, "Delete")]))));
}

async function loadSettings() {
  const s = await api("/settings", { token: state.token });
  const form = $("settings-form");
  form.replaceChildren(...SETTINGS.flatMap(([key, label, type]) => [
    el("label", { for: `set-${key}` }, label),
    el("input", { id: `set-${key}`, name: key, type, value: s[key], required: true }),
  ]), el("p", { id: "settings-error", class: "error", role: "alert" }), el("div", {}, el("button", { type: "submit" }, "Save settings")));
}

async function loadWorkspace() {
  const w = await api("/workspace-settings", { token: state.token });
  $("ws-offline-wait").value = w.offline_room_wait_secs;
  $("ws-origins").value = w.widget_allowed_origins.join("\n");
  $("ws-webhook-networks").value = w.webhook_allowed_networks.join("\n");
  $("ws-assignment").value = w.assignment_mode;
  $("ws-capacity").value = w.agent_capacity;
  $("ws-audit-days").value = w.audit_retention_days;
  $("ws-retention-days").value = w.closed_room_retention_days;
}

// ---- visitor data requests ---------------------------------------------------
function visitorQuery() {
  const kind = $("vd-kind").value, value = $("vd-value").value.trim();
  if (kind === "email" || kind === "room_id") return { [kind]: value };
  return { channel: kind, external_id: value };
}

$("visitor-data-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = visitorQuery();
  try {
    const doc = await api(`/visitor-data?${new URLSearchParams(q)}`, { token: state.token });
    const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
    const link = el("a", { href: URL.createObjectURL(blob), download: "visitor-data.json" }, "visitor-data.json");
    $("vd-result").className = "ok";
    $("vd-result").replaceChildren(`${doc.rooms.length} chat${doc.rooms.length === 1 ? "" : "s"} found. Download `, link);
  } catch (err) {
    $("vd-result").className = "error";
    $("vd-result").textContent = describe(err);
  }
});

$("vd-erase").addEventListener("click", async () => {
  if (!$("vd-value").value.trim()) return;
  if (!confirm("Erase this visitor's name, email and every text of their chats? This cannot be undone.")) return;
  try {
    const r = await api("/visitor-data/erase", { method: "POST", token: state.token, body: visitorQuery() });
    $("vd-result").className = "ok";
    $("vd-result").textContent = `Erased: ${r.rooms} chat${r.rooms === 1 ? "" : "s"}, ${r.messages} messages.`;
  } catch (err) {
    $("vd-result").className = "error";
    $("vd-result").textContent = describe(err);
  }
});

// ---- audit trail -------------------------------------------------------------
const AUDIT_ACTIONS = ["agent.created", "agent.updated", "agent.deleted", "group.created", "group.updated", "settings.updated",
  "webhook.created", "webhook.updated", "webhook.deleted", "login.failed", "login.locked_out", "visitor.exported", "visitor.erased"];
$("audit-action").append(...AUDIT_ACTIONS.map((a) => el("option", { value: a }, a)));
const audit = { next: null };

function describeChange(details) {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details).map(([k, v]) => {
    if (v && typeof v === "object" && "from" in v) return `${k}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`;
    if (v && typeof v === "object" && v.changed) return `${k} changed`;
    return `${k}: ${JSON.stringify(v)}`;
  }).join("; ");
}

async function loadAudit(more = false) {
  const q = new URLSearchParams({ limit: "50" });
  if ($("audit-action").value) q.set("action", $("audit-action").value);
  if (more && audit.next) q.set("before", audit.next);
  const page = await api(`/audit?${q}`, { token: state.token });
  const rows = page.entries.map((e) => el("tr", {},
    el("td", {}, new Date(e.at).toLocaleString()), el("td", {}, e.actor ? e.actor.name : "—"), el("td", {}, e.address || ""),
    el("td", {}, e.action), el("td", {}, e.target || ""), el("td", {}, describeChange(e.details))));
  if (more) $("audit-list").append(...rows); else $("audit-list").replaceChildren(...rows);
  audit.next = page.next;
  $("audit-more").hidden = !page.next;
}
$("audit-filter").addEventListener("submit", (e) => { e.preventDefault(); loadAudit().catch((err) => alert(describe(err))); });
$("audit-more").addEventListener("click", () => loadAudit(true).catch((err) => alert(describe(err))));

// ---- webhooks --------------------------------------------------------------
const WEBHOOK_EVENTS = ["room.queued", "room.accepted", "room.transferred", "room.closed", "room.expired", "message.created", "room.rated"];
$("webhook-events").append(...WEBHOOK_EVENTS.map((name) => el("label", { class: "check" },
  el("input", { type: "checkbox", name: "webhook-event", value: name, checked: name !== "message.created" }), ` ${name}`)));

async function loadWebhooks() {
  const { webhooks } = await api("/webhooks", { token: state.token });
  $("webhook-list").replaceChildren(...webhooks.map((w) => el("tr", {},
    el("td", {}, w.url), el("td", {}, w.events.join(", ")), el("td", {}, w.enabled ? "on" : "off"),
    el("td", {}, [
      el("button", { type: "button", class: "secondary", onclick: () => showDeliveries(w) }, "Deliveries"),
      el("button", { type: "button", class: "secondary", onclick: async () => {
        try { await api(`/webhooks/${w.id}/test`, { method: "POST", token: state.token }); } catch (err) { alert(describe(err)); }
        showDeliveries(w);
      } }, "Send test event"),
      el("button", { type: "button", class: "secondary", onclick: async () => {
        try { await api(`/webhooks/${w.id}`, { method: "PATCH", token: state.token, body: { enabled: !w.enabled } }); } catch (err) { alert(describe(err)); }
        loadWebhooks();
      } }, w.enabled ? "Turn off" : "Turn on"),
      el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Delete the webhook to ${w.url}?`)) return;
        try { await api(`/webhooks/${w.id}`, { method: "DELETE", token: state.token }); } catch (err) { alert(describe(err)); }
        $("webhook-deliveries").hidden = true;
        loadWebhooks();
      } }, "Delete")]))));
}

async function showDeliveries(w) {
  const { deliveries } = await api(`/webhooks/${w.id}/deliveries?limit=50`, { token: state.token });
  $("webhook-deliveries-url").textContent = w.url;
  $("delivery-list").replaceChildren(...deliveries.map((d) => el("tr", {},
    el("td", {}, new Date(d.created_at).toLocaleString()),
    el("td", {}, d.event_type),
    el("td", {}, d.state === "pending" && d.next_attempt_at ? `pending, next try ${new Date(d.next_attempt_at).toLocaleTimeString()}` : d.state),
    el("td", {}, String(d.attempts)),
    el("td", {}, d.last_status ? `HTTP ${d.last_status}` : (d.last_error || "")),
    el("td", {}, d.last_response_ms == null ? "" : `${d.last_response_ms} ms`))));
  $("webhook-deliveries").hidden = false;
}

$("webhook-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const events = [...document.querySelectorAll("input[name=webhook-event]:checked")].map((c) => c.value);
  try {
    const w = await api("/webhooks", { method: "POST", token: state.token, body: { url: $("webhook-url").value, events } });
    $("webhook-url").value = "";
    $("webhook-error").textContent = "";
    // Shown once: the server never returns it again.
    $("webhook-secret").textContent = `Signing secret (copy it now, it is not shown again): ${w.secret}`;
    $("webhook-secret").hidden = false;
    loadWebhooks();
  } catch (err) {
    $("webhook-error").textContent = describe(err);
  }
});

$("workspace-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = {
    offline_room_wait_secs: Number($("ws-offline-wait").value),
    widget_allowed_origins: $("ws-origins").value.split("\n").map((o) => o.trim()).filter(Boolean),
    webhook_allowed_networks: $("ws-webhook-networks").value.split("\n").map((o) => o.trim()).filter(Boolean),
    assignment_mode: $("ws-assignment").value,
    agent_capacity: Number($("ws-capacity").value),
    audit_retention_days: Number($("ws-audit-days").value),
    closed_room_retention_days: Number($("ws-retention-days").value),
  };
  try {
    const w = await api("/workspace-settings", { method: "PUT", token: state.token, body });
    $("ws-origins").value = w.widget_allowed_origins.join("\n");
    $("workspace-error").className = "ok";
    $("workspace-error").textContent = "Saved.";
  } catch (err) {
    $("workspace-error").className = "error";
    $("workspace-error").textContent = describe(err);
  }
});

$("settings-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = {};
  for (const [key, , type] of SETTINGS) {
    const v = $(`set-${key}`).value;
    body[key] = type === "number" ? Number(v) : v;
  }
  try {
    await api("/settings", { method: "PUT", token: state.token, body });
    $("settings-error").className = "ok";
    $("settings-error").textContent = "Saved.";
  } catch (err) {
    $("settings-error").className = "error";
    $("settings-error").textContent = describe(err);
  }
});

$("agent-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { username: $("agent-username").value, name: $("agent-name").value, password: $("agent-password").value, group: $("agent-group").value };
  try {
    await api("/agents", { method: "POST", token: state.token, body });
    $("agent-form").reset();
    $("agent-error").textContent = "";
    probeAdmin();
  } catch (err) {
    $("agent-error").textContent = describe(err);
  }
});

// ---- navigation ------------------------------------------------------------
// ---- past conversations ------------------------------------------------------
const past = { q: "", next: null };

async function loadPast({ more = false } = {}) {
  const params = new URLSearchParams({ limit: "30" });
  if (past.q) params.set("q", past.q);
  if (more && past.next) params.set("before", past.next);
  const page = await api(`/conversations?${params}`, { token: state.token });
  past.next = page.next;
  const items = page.rooms.map((room) => el("li", { class: "room-item" },
    el("button", { type: "button", class: "room-tab", onclick: () => openPast(room) },
      el("span", { class: "tab-head" }, channelTag(room.channel), el("strong", {}, room.visitor.name),
        el("span", { class: "sub" }, ` · ${timeOf(room.created_at)} · ${room.status}${room.agent ? ` · ${room.agent.name}` : ""}`)),
      room.subject ? el("span", { class: "preview" }, room.subject) : null)));
  if (more) $("history-list").append(...items);
  else $("history-list").replaceChildren(...items);
  if (!more && !items.length) $("history-list").append(el("li", { class: "empty" }, past.q ? "Nothing found." : "No past conversations yet."));
  $("history-more").hidden = !past.next;
}

function openPast(room) {
  const r = state.rooms.get(room.id) || upsertRoom(room);
  if (!r.gone) r.gone = room.status === "expired" ? "This chat expired after a period of inactivity." : "This chat is closed.";
  show("chats");
  open(room.id);
}

$("history-search").addEventListener("submit", (e) => {
  e.preventDefault();
  past.q = $("history-q").value.trim();
  loadPast().catch((err) => alert(describe(err)));
});
$("history-more").addEventListener("click", () => loadPast({ more: true }).catch((err) => alert(describe(err))));

async function loadReport() {
  const r = await api("/reports/ratings?days=30", { token: state.token });
  const avg = (x) => x.average.toFixed(2);
  $("report-overall").textContent = r.overall
    ? `${r.overall.count} rating${r.overall.count === 1 ? "" : "s"}, ${avg(r.overall)} on average.` : "No ratings yet.";
  $("report-agents").replaceChildren(...r.by_agent.map((a) => el("tr", {}, el("td", {}, a.agent.name), el("td", {}, String(a.count)), el("td", {}, avg(a)))));
  $("report-days").replaceChildren(...r.by_day.map((d) => el("tr", {}, el("td", {}, d.day), el("td", {}, String(d.count)), el("td", {}, avg(d)))));
}

async function probeReports() {
  try { await loadReport(); $("nav-reports").hidden = false; } catch (_) { $("nav-reports").hidden = true; }
}

function show(view) {
  for (const v of ["chats", "history", "canned", "reports", "admin"]) {
    $(`view-${v}`).hidden = v !== view;
    $(`nav-${v}`).setAttribute("aria-pressed", String(v === view));
  }
  if (view === "admin") {
    loadSettings().catch((err) => alert(err.message));
    loadWorkspace().catch((err) => alert(err.message));
    // Webhooks and the audit trail need settings.manage besides agents.manage.
    const unlessForbidden = (err) => { if (err.status !== 403) alert(describe(err)); };
    loadWebhooks().catch(unlessForbidden);
    loadAudit().catch(unlessForbidden);
  }
  if (view === "canned") loadCanned();
  if (view === "reports") loadReport().catch((err) => alert(describe(err)));
  if (view === "history") loadPast().catch((err) => alert(describe(err)));
}
$("nav-history").addEventListener("click", () => show("history"));
$("nav-reports").addEventListener("click", () => show("reports"));
$("nav-chats").addEventListener("click", () => show("chats"));
$("nav-canned").addEventListener("click", () => show("canned"));
$("nav-admin").addEventListener("click", () => show("admin"));

const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
if (saved && saved.token) start(saved.token, saved.agent); else loggedOut();
