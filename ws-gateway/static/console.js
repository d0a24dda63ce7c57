// The agent console: queue with Accept/Decline, chats with history,
// typing and canned responses, close/transfer, and admin pages.
import { LiveSocket, api, describe, el, textWithLinks, timeOf, typingNotifier } from "/assets/chat.js";

const KEY = "livechat.agent";
const $ = (id) => document.getElementById(id);
const state = { token: null, me: null, live: null, queue: new Map(), rooms: new Map(), active: null, canned: [] };

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
  state.live = new LiveSocket(token, handlers);
  state.live.connect();
  loadCanned();
  probeAdmin();
}

// ---- live events ---------------------------------------------------------
const handlers = {
  status: (s) => {
    const text = { connecting: "Connecting…", connected: "Online", reconnecting: "Reconnecting…", "signed-out": "Signed out" }[s] || s;
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
  },
  history: (f) => {
    const r = state.rooms.get(f.room_id);
    if (r && r.messages.length === 0) r.hasMore = f.has_more;
    if (f.room_id === state.active) renderRoom();
  },
  message: (m) => {
    const r = state.rooms.get(m.room_id);
    if (!r) return;
    r.messages.push(m);
    if (m.room_id !== state.active || document.hidden) r.unread += 1;
    if (m.room_id === state.active) appendMessage(m);
    renderLists();
  },
  room_queued: (f) => { state.queue.set(f.room.id, f.room); renderLists(); },
  room_taken: (f) => { state.queue.delete(f.room_id); renderLists(); },
  room_updated: (f) => {
    const room = f.room;
    if (room.status === "engaged" && room.agent && room.agent.id === state.me.id) upsertRoom(room);
    else if (state.rooms.has(room.id)) {
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
    if (r) r.gone = f.reason === "expired" ? "This chat expired after a period of inactivity." : "This chat is closed.";
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
  const fresh = { room, messages: [], unread: 0, hasMore: false, typing: "", gone: null };
  state.rooms.set(room.id, fresh);
  return fresh;
}

// ---- lists ---------------------------------------------------------------
// Where the customer writes from: the web widget or their messenger.
const CHANNELS = { web: "Web", telegram: "Telegram", messenger: "Messenger", wechat: "WeChat" };
function channelTag(channel) {
  const name = CHANNELS[channel] || channel;
  return el("span", { class: `channel channel-${channel}`, title: `Writes from ${name}` }, name);
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
  if (!queue.length) $("queue").append(el("li", { class: "empty" }, "Nobody is waiting."));
  const mine = [...state.rooms.values()];
  $("mine").replaceChildren(...mine.map((r) => el("li", {},
    el("button", { type: "button", class: `room-tab${r.room.id === state.active ? " active" : ""}${r.gone ? " gone" : ""}`,
      "aria-current": r.room.id === state.active ? "true" : false, onclick: () => open(r.room.id) },
      channelTag(r.room.channel), r.room.visitor.name, r.unread ? el("span", { class: "badge", "aria-label": `${r.unread} unread` }, String(r.unread)) : null))));
  if (!mine.length) $("mine").append(el("li", { class: "empty" }, "No open chats."));
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
  r.unread = 0;
  renderLists();
  renderRoom();
  $("text").focus();
}

function messageItem(m) {
  const mine = m.sender.kind === "agent" && m.sender.id === state.me.id;
  return el("li", { class: `msg ${m.sender.kind}${mine ? " mine" : ""}`, "data-seq": m.seq },
    m.sender.kind === "system" ? null : el("span", { class: "who" }, mine ? "You" : m.sender.name),
    el("span", { class: "text" }, textWithLinks(m.content)),
    el("time", { datetime: m.created_at }, timeOf(m.created_at)));
}

function appendMessage(m) {
  const li = messageItem(m);
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}

function renderRoom() {
  const r = state.rooms.get(state.active);
  $("no-room").hidden = !!r;
  $("room").hidden = !r;
  if (!r) return;
  $("room-title").replaceChildren(channelTag(r.room.channel), r.room.visitor.name);
  $("room-sub").textContent = r.room.subject || "";
  r.messages.sort((a, b) => a.seq - b.seq);
  $("messages").replaceChildren(...r.messages.map(messageItem));
  $("older").hidden = !r.hasMore;
  $("typing").textContent = r.typing;
  $("room-ended").hidden = !r.gone;
  $("room-ended").textContent = r.gone || "";
  for (const id of ["composer", "close-room", "transfer", "transfer-to"]) $(id).hidden = !!r.gone;
  const last = $("messages").lastElementChild;
  if (last) last.scrollIntoView({ block: "end" });
}

$("older").addEventListener("click", async () => {
  const r = state.rooms.get(state.active);
  const first = r.messages.length ? r.messages[0].seq : undefined;
  const page = await state.live.request({ type: "history", room_id: r.room.id, before_seq: first });
  const known = new Set(r.messages.map((m) => m.seq));
  r.messages.unshift(...page.messages.filter((m) => !known.has(m.seq)));
  r.hasMore = page.has_more;
  renderRoom();
  $("messages").firstElementChild?.scrollIntoView({ block: "start" });
});
$("messages").addEventListener("scroll", () => { if ($("messages").scrollTop === 0 && !$("older").hidden) $("older").click(); });

const notifyTyping = typingNotifier((typing) => {
  if (state.active) state.live.request({ type: "typing", room_id: state.active, typing }).catch(() => {});
});

$("text").addEventListener("input", () => { notifyTyping(); suggest(); });
$("text").addEventListener("keydown", (e) => {
  const first = $("suggest").querySelector("button");
  if ((e.key === "Tab" || e.key === "Enter") && !e.shiftKey && !$("suggest").hidden && first) {
    e.preventDefault();
    first.click();
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
  try {
    await state.live.request({ type: "send", room_id: state.active, content, client_id: state.live.newClientId() });
  } catch (err) {
    $("text").value = content;
    alert(`Not sent: ${err.message}`);
  }
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
  box.replaceChildren(...hits.map((c) => el("li", {}, el("button", { type: "button", onclick: () => {
    $("text").value = c.body;
    box.hidden = true;
    $("text").focus();
  } }, el("strong", {}, `/${c.shortcut}`), ` ${c.title}`))));
  box.hidden = hits.length === 0;
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
    $("transfer-to").replaceChildren(el("option", { value: "" }, "Back to the queue"),
      ...agents.agents.filter((a) => a.id !== state.me.id && !a.disabled).map((a) => el("option", { value: a.id }, `To ${a.name}`)));
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
function show(view) {
  for (const v of ["chats", "canned", "admin"]) {
    $(`view-${v}`).hidden = v !== view;
    $(`nav-${v}`).setAttribute("aria-pressed", String(v === view));
  }
  if (view === "admin") loadSettings().catch((err) => alert(err.message));
  if (view === "canned") loadCanned();
}
$("nav-chats").addEventListener("click", () => show("chats"));
$("nav-canned").addEventListener("click", () => show("canned"));
$("nav-admin").addEventListener("click", () => show("admin"));

const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
if (saved && saved.token) start(saved.token, saved.agent); else loggedOut();
