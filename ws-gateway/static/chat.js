// livechat browser client: a WebSocket that speaks docs/protocol.md, answers
// requests by req_id, reconnects with backoff and fills gaps by seq.
// Shared by the agent console and the visitor widget.

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    // Text is always inserted as text: chat content can never become HTML.
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** A failed call: `status` 0 when the server was not reached at all. */
function failure(message, status = 0, data = null) {
  const err = new Error(message);
  err.status = status;
  err.code = (data && data.code) || (status === 0 ? "network" : undefined);
  err.errors = (data && Array.isArray(data.errors)) ? data.errors : [];
  return err;
}

const UNREACHABLE = "Cannot reach the server. Check your connection and try again.";
const UNAVAILABLE = "The service is unavailable right now. Try again in a moment.";

export async function api(path, { method = "GET", token, body } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw failure(UNREACHABLE);
  }
  const text = await res.text().catch(() => "");
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not ours (a proxy's error page): judged by its status alone.
  }
  if (!res.ok) {
    const gateway = [502, 503, 504].includes(res.status) && !(data && data.detail);
    const message = gateway ? UNAVAILABLE : (data && (data.detail || data.title)) || res.statusText || UNAVAILABLE;
    throw failure(message, res.status, data);
  }
  return data;
}

/** What to show a person for a failed call: each field's problem, or the message. */
export function describe(err) {
  const errors = (err && err.errors) || [];
  return errors.length ? errors.map((x) => `${x.field}: ${x.message}`).join("; ") : (err && err.message) || UNREACHABLE;
}

/** The time, with the date in front when it is not today (and the year when not this year). */
export function timeOf(iso, now = new Date()) {
  const d = new Date(iso);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  const date = d.toLocaleDateString([], d.getFullYear() === now.getFullYear()
    ? { month: "short", day: "numeric" } : { year: "numeric", month: "short", day: "numeric" });
  return `${date}, ${time}`;
}

const URL_IN_TEXT = /https?:\/\/[^\s<>"']+/g;

/**
 * Chat text as nodes: text stays text, and http(s) addresses become links
 * that open elsewhere (no other scheme ever becomes a link; a sentence's
 * closing punctuation stays outside it).
 */
export function textWithLinks(text) {
  const nodes = [];
  let at = 0;
  for (const found of text.matchAll(URL_IN_TEXT)) {
    let url = found[0].replace(/[.,;:!?)\]]+$/, "");
    if (found.index > at) nodes.push(text.slice(at, found.index));
    const a = el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, url);
    nodes.push(a);
    at = found.index + url.length;
  }
  if (at < text.length) nodes.push(text.slice(at));
  return nodes;
}

/** A live connection; `on` handlers get frames by type. */
export class LiveSocket {
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.pending = new Map();
    this.nextId = 1;
    this.backoff = 500;
    this.closedByUs = false;
    this.lastSeq = new Map(); // room_id -> last seq shown
    this.everConnected = false;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws?access_token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    this.emit("status", "connecting");
    ws.onopen = () => {
      this.backoff = 500;
      this.emit("status", "connected");
    };
    ws.onmessage = (ev) => this.onFrame(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      for (const [, p] of this.pending) p.reject(Object.assign(new Error("disconnected"), { code: "unavailable" }));
      this.pending.clear();
      if (this.closedByUs) return;
      if (ev.code === 4401 || ev.code === 4403) {
        this.emit("status", "signed-out");
        this.emit("signed_out", ev);
        return;
      }
      this.emit("status", "reconnecting");
      const wait = this.backoff + Math.random() * 300;
      this.backoff = Math.min(this.backoff * 2, 15000);
      setTimeout(() => this.connect(), wait);
    };
  }

  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close(1000);
  }

  /** Connects again at once: a fresh welcome (the queue as the server sees it now). */
  restart() {
    if (this.ws) {
      this.ws.onclose = null;
      for (const [, p] of this.pending) p.reject(Object.assign(new Error("disconnected"), { code: "unavailable" }));
      this.pending.clear();
      this.ws.close(1000);
    }
    this.connect();
  }

  emit(type, frame) {
    const h = this.handlers[type];
    if (h) h(frame);
  }

  /** Keeps each message once, in seq order; a jump fills the gap first. */
  async acceptMessage(m) {
    const last = this.lastSeq.get(m.room_id) || 0;
    if (m.seq <= last) return;
    if (last && m.seq > last + 1) {
      try {
        const page = await this.request({ type: "history", room_id: m.room_id, after_seq: last, limit: Math.min(m.seq - last, 500) });
        for (const x of page.messages) if (x.seq < m.seq) this.showMessage(x);
      } catch (_) { /* shown below anyway; the next reconnect fills it */ }
    }
    this.showMessage(m);
  }

  showMessage(m) {
    const last = this.lastSeq.get(m.room_id) || 0;
    if (m.seq <= last) return;
    this.lastSeq.set(m.room_id, m.seq);
    this.emit("message", m);
  }

  async onFrame(f) {
    if ((f.type === "ack" || f.type === "error" || f.type === "pong") && f.req_id && this.pending.has(f.req_id)) {
      const p = this.pending.get(f.req_id);
      this.pending.delete(f.req_id);
      if (f.type === "error") p.reject(Object.assign(new Error(f.message), { code: f.code }));
      else p.resolve(f);
      return;
    }
    if (f.type === "history") {
      // After a reconnect, ask for what was missed since the last seq shown.
      const last = this.lastSeq.get(f.room_id) || 0;
      const first = f.messages.length ? f.messages[0].seq : Infinity;
      if (last && first > last + 1) {
        try {
          const page = await this.request({ type: "history", room_id: f.room_id, after_seq: last, limit: 500 });
          for (const m of page.messages) this.showMessage(m);
        } catch (_) { /* fall through */ }
      }
      this.emit("history", f);
      for (const m of f.messages) this.showMessage(m);
      return;
    }
    if (f.type === "message") return this.acceptMessage(f.message);
    this.emit(f.type, f);
  }

  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(Object.assign(new Error("not connected"), { code: "unavailable" }));
        return;
      }
      const req_id = `r${this.nextId++}`;
      this.pending.set(req_id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, req_id }));
    });
  }

  newClientId() {
    return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).slice(0, 64);
  }
}

/** Calls `fn(true)` on input and `fn(false)` after a pause, at most once a second. */
export function typingNotifier(fn) {
  let timer = null;
  let on = false;
  let lastSent = 0;
  return () => {
    const now = Date.now();
    if (!on || now - lastSent > 3000) {
      on = true;
      lastSent = now;
      fn(true);
    }
    clearTimeout(timer);
    timer = setTimeout(() => { on = false; fn(false); }, 2000);
  };
}

/** Whether a scrolled list shows its end (so a new message may scroll it). */
export function atBottom(list, slack = 60) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < slack;
}

/**
 * Puts older messages' items at the top of `list` keeping what the reader
 * looks at where it is (so one scroll to the top loads one page, not all).
 */
export function prependKeepingPlace(list, items) {
  const before = list.scrollHeight - list.scrollTop;
  list.prepend(...items);
  list.scrollTop = list.scrollHeight - before;
}
