// The visitor widget: ask for an agent, wait, chat, see the end. The
// visitor token lives in localStorage so a refresh restores the chat.
import { LiveSocket, api, describe, el, textWithLinks, timeOf, typingNotifier } from "/assets/chat.js";

const KEY = "livechat.visitor";
const $ = (id) => document.getElementById(id);
let live = null;
let me = null;
let room = null;

function status(text) { $("widget-status").textContent = text; }

function showStart() {
  $("start").hidden = false;
  $("chat").hidden = true;
  status("");
}

function roomState(r) {
  room = r;
  if (r.status === "queued") status("Waiting for an agent… you are in the queue, someone will be with you shortly.");
  else if (r.status === "engaged") status(`You are chatting with ${r.agent ? r.agent.name : "an agent"}.`);
}

function ended(text) {
  $("composer").hidden = true;
  $("ended").hidden = false;
  $("ended-text").textContent = text;
  status("This chat has ended.");
}

function render(m) {
  const mine = me && m.sender.kind === "visitor";
  const li = el("li", { class: `msg ${m.sender.kind}${mine ? " mine" : ""}`, "data-seq": m.seq },
    m.sender.kind === "system" ? null : el("span", { class: "who" }, mine ? "You" : m.sender.name),
    el("span", { class: "text" }, textWithLinks(m.content)),
    el("time", { datetime: m.created_at }, timeOf(m.created_at)));
  const list = $("messages");
  list.append(li);
  li.scrollIntoView({ block: "end" });
}

function connect(token) {
  $("start").hidden = true;
  $("chat").hidden = false;
  $("composer").hidden = false;
  $("ended").hidden = true;
  $("messages").replaceChildren();
  live = new LiveSocket(token, {
    status: (s) => { if (s === "reconnecting") status("Connection lost — reconnecting…"); },
    welcome: (f) => { me = f.user; if (f.rooms[0]) roomState(f.rooms[0]); },
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
  try {
    const r = await api("/rooms", { method: "POST", body });
    localStorage.setItem(KEY, JSON.stringify({ token: r.visitor_token, room_id: r.room.id }));
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
  $("messages").replaceChildren();
  showStart();
});

const saved = JSON.parse(localStorage.getItem(KEY) || "null");
if (saved && saved.token) connect(saved.token); else showStart();
