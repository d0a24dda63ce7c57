// An agent logs into the console, a visitor asks in the widget (another
// browser context), the agent accepts, they chat (with a canned response
// and an HTML injection attempt), a reload keeps unread counts honest, the
// chat is transferred to a colleague who sees the whole conversation and
// closes it; an agent away leaves the widget offering to leave a message;
// the console fits a phone; network errors say what they are.
// Screenshots go to target/screenshots/ for a person to look at.
//
// Usage: LIVECHAT_URL=http://127.0.0.1:PORT ADMIN_PASSWORD=... node chat.test.mjs
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";

const base = process.env.LIVECHAT_URL;
const adminPassword = process.env.ADMIN_PASSWORD;
const shots = process.env.SCREENSHOT_DIR || "../../target/screenshots";
mkdirSync(shots, { recursive: true });

async function api(path, { method = "GET", token, body } = {}) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body && JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

const admin = await api("/auth/login", { method: "POST", body: { username: "admin", password: adminPassword } });
await api("/agents", { method: "POST", token: admin.access_token, body: { username: "bea", password: "bea-password", name: "Bea", group: "agent" } });
await api("/agents", { method: "POST", token: admin.access_token, body: { username: "cal", password: "cal-password", name: "Cal", group: "agent" } });
const beaToken = (await api("/auth/login", { method: "POST", body: { username: "bea", password: "bea-password" } })).access_token;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // The pretend shop and the server are both on this machine; a real
    // shop is a public site loading from a public server.
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights"],
});
const errors = [];
const newPage = async (name) => {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  // Every WebSocket the page opens, so that a test can cut them.
  await ctx.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.__frames = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
        this.addEventListener("message", (e) => window.__frames.push(String(e.data)));
      }
    };
  });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
  page.on("dialog", (d) => d.accept());
  return page;
};

const logIn = async (page, username, password) => {
  await page.goto(`${base}/`);
  await page.locator("#login").getByLabel("Username").fill(username);
  await page.locator("#login").getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#app").waitFor();
  await page.locator("#conn[data-state='connected']").waitFor();
};

try {
  // The admin lists a site that may show the widget, in the console (a
  // pretend shop on another origin of this machine: the browser does not
  // let a public origin load from loopback). Done before any widget page
  // is served, so no gateway holds the old list.
  const shopOrigin = base.replace("127.0.0.1", "localhost");
  const adminPage = await newPage("admin console");
  await logIn(adminPage, "admin", adminPassword);
  await adminPage.getByRole("button", { name: "Admin" }).click();
  await adminPage.locator("#ws-offline-wait").waitFor();
  await adminPage.getByLabel("Sites that may show the widget").fill(`${shopOrigin}/`);
  await adminPage.locator("#workspace-form").getByRole("button", { name: "Save" }).click();
  await adminPage.locator("#workspace-error").getByText("Saved.").waitFor();
  assert.equal(await adminPage.getByLabel("Sites that may show the widget").inputValue(), shopOrigin, "kept as an origin");

  // The admin connects an integration: a webhook to a receiver on this
  // machine (its network allowed first), shown its secret once, and a
  // test event that arrives and shows as delivered.
  const hooks = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => { body += c; });
    req.on("end", () => { hooks.push({ headers: req.headers, body: JSON.parse(body) }); res.writeHead(204).end(); });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  await adminPage.getByLabel("Private networks webhooks may reach").fill("127.0.0.0/8");
  await adminPage.locator("#workspace-form").getByRole("button", { name: "Save" }).click();
  await adminPage.locator("#workspace-error").getByText("Saved.").waitFor();
  await adminPage.getByLabel("Endpoint URL").fill(`http://127.0.0.1:${receiver.address().port}/hooks`);
  await adminPage.getByRole("button", { name: "Add webhook" }).click();
  await adminPage.locator("#webhook-secret").getByText("whsec_").waitFor();
  await adminPage.getByRole("button", { name: "Send test event" }).click();
  await adminPage.locator("#delivery-list").getByText("ping").waitFor();
  for (let i = 0; i < 100 && hooks.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(hooks[0]?.body.type, "ping", "the receiver got the test event");
  assert.match(hooks[0].headers["x-livechat-signature"], /^t=\d+,v1=[0-9a-f]{64}$/);
  await adminPage.getByRole("button", { name: "Deliveries" }).click();
  await adminPage.locator("#delivery-list").getByText("HTTP 204").waitFor();
  await adminPage.screenshot({ path: `${shots}/console-webhooks.png`, fullPage: true });
  receiver.close();
  await adminPage.close();

  // The agent logs in first.
  const agent = await newPage("console");
  await logIn(agent, "bea", "bea-password");
  assert.equal(await agent.locator("#login").isVisible(), false, "the login form hides after login");

  // The visitor asks for help: someone is online, so it is a chat.
  const visitor = await newPage("widget");
  await visitor.goto(`${base}/widget`);
  await visitor.getByLabel("Your name").fill("Ana");
  await visitor.getByLabel("Email (optional)").fill("ana@example.com");
  await visitor.getByLabel("How can we help?").fill("My order #1234 did not arrive");
  await visitor.getByRole("button", { name: "Start chat" }).click();
  await visitor.getByText("Waiting for an agent").waitFor();
  assert.equal(await visitor.locator("#start").isVisible(), false, "the start form hides once the chat starts");
  await visitor.screenshot({ path: `${shots}/1-widget-waiting.png` });

  // The agent sees the request in the queue, and the tab title counts it.
  const request = agent.locator("#queue li", { hasText: "Ana" });
  await request.waitFor();
  assert.match(await agent.title(), /^\(1\) /, "the tab title counts what waits");
  assert.equal(await agent.locator("#favicon").getAttribute("data-count"), "1", "and so does the tab's icon");
  await agent.screenshot({ path: `${shots}/2-console-queue.png` });
  await request.getByRole("button", { name: "Accept" }).click();

  // Both see the join text and the first question.
  await agent.locator("#messages").getByText("My order #1234 did not arrive").waitFor();
  await visitor.getByText("Bea has entered the chat").waitFor();

  // Messages both ways, with typing on the way.
  await agent.locator("#text").fill("Hi Ana, let me check that for you.");
  await agent.locator("#text").press("Enter");
  await visitor.getByText("Hi Ana, let me check that for you.").waitFor();
  await visitor.locator("#text").pressSequentially("Thanks!", { delay: 20 });
  await agent.getByText("Ana is typing").waitFor();
  await visitor.locator("#text").press("Enter");
  await agent.locator("#messages").getByText("Thanks!").waitFor();

  // Chat text is text: an injection attempt shows literally and runs nothing.
  const evil = `<img src=x onerror="window.pwned=1">`;
  await visitor.locator("#text").fill(evil);
  await visitor.locator("#text").press("Enter");
  await agent.locator("#messages").getByText(evil).waitFor();
  assert.equal(await agent.evaluate(() => window.pwned), undefined, "HTML from a visitor must never run");
  assert.equal(await agent.locator("#messages img").count(), 0);

  // Addresses become links (http and https only, the closing dot left out);
  // anything else stays text.
  await visitor.locator("#text").fill("Tracking: https://example.com/track?id=1. Or javascript:alert(1)");
  await visitor.locator("#text").press("Enter");
  const link = agent.locator("#messages a", { hasText: "https://example.com/track?id=1" });
  await link.waitFor();
  assert.equal(await link.getAttribute("href"), "https://example.com/track?id=1");
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer nofollow");
  assert.equal(await agent.locator("#messages a[href^='javascript']").count(), 0);
  // Times carry their date when not today.
  const older = await agent.evaluate(async () => (await import("/assets/chat.js")).timeOf("2020-01-02T10:00:00Z"));
  assert.match(older, /2020/, `a time of another year shows its date: ${older}`);

  // A canned response: create it in the panel, use it with "/".
  await agent.getByRole("button", { name: "Canned responses" }).click();
  const canned = agent.locator("#canned-form");
  await canned.getByLabel("Shortcut").fill("ship");
  await canned.getByLabel("Title").fill("Shipping delay");
  await canned.getByLabel("Text").fill("Your parcel is on its way and should arrive within 2 days.");
  await api("/canned-responses", { method: "POST", token: beaToken, body: { shortcut: "shelf", title: "On the shelf", body: "It is back on the shelf." } });
  await canned.getByRole("button", { name: "Save" }).click();
  await agent.locator("#canned-list").getByText("/ship").waitFor();
  await agent.getByRole("button", { name: "Chats" }).click();
  // The arrow keys move through the suggestions (Bea has /shelf too).
  await agent.locator("#text").fill("/sh");
  await agent.locator("#suggest").getByText("/shelf").waitFor();
  const options = agent.locator("#suggest button");
  assert.equal(await options.count(), 2);
  const selected = () => agent.locator("#suggest button.selected").textContent();
  const firstChoice = await selected();
  await agent.locator("#text").press("ArrowDown");
  assert.notEqual(await selected(), firstChoice, "ArrowDown moves the choice");
  await agent.locator("#text").press("ArrowUp");
  assert.equal(await selected(), firstChoice, "ArrowUp moves it back");
  await agent.locator("#text").fill("/shi");
  await agent.locator("#suggest").getByText("/ship").waitFor();
  await agent.locator("#text").press("Tab");
  assert.equal(await agent.locator("#text").inputValue(), "Your parcel is on its way and should arrive within 2 days.");
  await agent.locator("#text").press("Enter");
  await visitor.getByText("Your parcel is on its way").waitFor();
  await agent.screenshot({ path: `${shots}/3-console-chat.png` });
  await visitor.screenshot({ path: `${shots}/4-widget-chat.png` });

  // A private note: in the agent's chat, never on the visitor's page or socket.
  await agent.locator("#as-note").check();
  await agent.locator("#text").fill("VIP customer, be generous");
  await agent.locator("#text").press("Enter");
  await agent.locator("#messages .note", { hasText: "VIP customer, be generous" }).waitFor();
  await agent.locator("#as-note").uncheck();
  await agent.locator("#text").fill("Checking with the warehouse now.");
  await agent.locator("#text").press("Enter");
  await visitor.getByText("Checking with the warehouse now.").waitFor();
  assert.equal(await visitor.getByText("VIP customer").count(), 0, "the visitor never sees a note");
  const seen = await visitor.evaluate(() => window.__frames || []);
  assert.ok(seen.some((f) => f.includes("Checking with the warehouse now.")), "the visitor's frames are recorded");
  assert.ok(!seen.some((f) => f.includes("VIP customer")), "nor does the visitor's WebSocket carry it");

  // Beside the chat, the agent sees the visitor's first question.
  await agent.locator("#visitor-panel").getByText("My order #1234 did not arrive").waitFor();

  // A refresh of the widget brings the conversation back.
  await visitor.reload();
  await visitor.getByText("Your parcel is on its way").waitFor();
  await visitor.getByText("Hi Ana, let me check that for you.").waitFor();

  // A reload of the console: everything was read, so no unread badge (not
  // the number of messages loaded); a new message while no chat is open
  // counts one, in the badge and in the tab title.
  await agent.reload();
  await agent.locator("#conn[data-state='connected']").waitFor();
  const anaTab = agent.locator("#mine li", { hasText: "Ana" });
  await anaTab.waitFor();
  assert.equal(await anaTab.locator(".badge").count(), 0, "nothing unread after a reload");
  await visitor.locator("#text").fill("Are you still there?");
  await visitor.locator("#text").press("Enter");
  await anaTab.locator(".badge", { hasText: "1" }).waitFor();
  assert.match(await agent.title(), /^\(1\) /);
  await anaTab.locator("button").click();
  await agent.locator("#messages").getByText("Are you still there?").waitFor();
  assert.equal(await anaTab.locator(".badge").count(), 0, "read once opened");

  // A second console of Bea's sends the chat back to the queue while the
  // first one is reconnecting: on its welcome, the first one lets the chat
  // go instead of offering a message box that would be refused.
  const second = await newPage("second console");
  await second.goto(`${base}/`);
  await second.locator("#login").getByLabel("Username").fill("bea");
  await second.locator("#login").getByLabel("Password").fill("bea-password");
  await second.getByRole("button", { name: "Log in" }).click();
  await second.locator("#mine li", { hasText: "Ana" }).locator("button").first().click();
  await agent.evaluate(() => window.__sockets.forEach((ws) => ws.close()));
  await second.locator("#transfer-to").selectOption({ label: "Back to the queue" });
  await second.getByRole("button", { name: "Transfer" }).click();
  await agent.getByText("This chat went back to the queue.").waitFor();
  assert.equal(await agent.locator("#composer").isVisible(), false, "no message box for a chat that is not ours");
  await agent.locator("#queue li", { hasText: "Ana" }).getByRole("button", { name: "Accept" }).click();
  await agent.locator("#composer").waitFor();
  await second.close();

  // Bea transfers the chat to Cal, picked from the team list with his
  // presence and load; Cal's console shows it as new, with the whole
  // conversation, without a reload.
  const cal = await newPage("cal's console");
  await logIn(cal, "cal", "cal-password");
  await agent.locator("#transfer-to").focus();
  const toCal = agent.locator("#transfer-to option", { hasText: "To Cal — online, 0 chats" });
  await toCal.waitFor({ state: "attached" });
  await agent.locator("#transfer-to").selectOption({ label: await toCal.textContent() });
  await agent.getByRole("button", { name: "Transfer" }).click();
  await agent.getByText("This chat was transferred to Cal.").waitFor();
  const calTab = cal.locator("#mine li", { hasText: "Ana" });
  await calTab.locator(".new").waitFor();
  await calTab.locator("button").click();
  await cal.locator("#messages").getByText("My order #1234 did not arrive").waitFor();
  await cal.locator("#messages").getByText("Cal has entered the chat").waitFor();
  await cal.screenshot({ path: `${shots}/5-console-transferred.png` });

  // Cal closes; the visitor sees the end.
  await cal.getByRole("button", { name: "Close chat" }).click();
  await visitor.getByText("This chat has been closed. Thank you!").first().waitFor();
  await visitor.getByRole("button", { name: "Start a new chat" }).waitFor();
  assert.equal(await visitor.locator("#composer").isVisible(), false, "no composer in an ended chat");
  await cal.getByText("This chat is closed.").waitFor();

  // The widget asks for a rating; Cal sees it on the closed chat.
  await visitor.getByText("How did we do?").waitFor();
  await visitor.getByRole("radio", { name: "5" }).check();
  await visitor.getByLabel("Anything to add?").fill("Cal sorted it out, thanks");
  await visitor.getByRole("button", { name: "Send rating" }).click();
  await visitor.getByText("Thank you for your feedback!").waitFor();
  await visitor.screenshot({ path: `${shots}/6-widget-closed-rated.png` });
  await cal.reload();
  await cal.locator("#mine li", { hasText: "Ana" }).locator("button").click();
  await cal.getByText("Rated 5/5 by the visitor: “Cal sorted it out, thanks”").waitFor();
  // A supervisor's report counts it (the admin has rooms.view_all).
  const report = await api("/reports/ratings", { token: admin.access_token });
  assert.equal(report.by_agent.find((a) => a.agent.name === "Cal")?.average, 5);

  // Both agents go away: the widget offers to leave a message, with the
  // email required, and the message waits in the queue for them.
  for (const page of [agent, cal]) {
    await page.locator("#my-status").selectOption("away");
    await page.locator("#away-note").waitFor();
  }
  await visitor.getByRole("button", { name: "Start a new chat" }).click();
  await visitor.getByRole("button", { name: "Leave a message" }).waitFor();
  assert.equal(await visitor.getByLabel("Email").getAttribute("required"), "", "an email is needed to answer");
  await visitor.getByLabel("Your name").fill("Ana");
  await visitor.getByLabel("Email").fill("ana@example.com");
  await visitor.getByLabel("How can we help?").fill("Please call me back about my refund");
  await visitor.getByRole("button", { name: "Leave a message" }).click();
  await visitor.getByText("we will answer at ana@example.com").waitFor();
  await visitor.screenshot({ path: `${shots}/7-widget-left-a-message.png` });
  assert.equal(await cal.locator("#queue li", { hasText: "refund" }).count(), 0, "away: not offered");
  await cal.locator("#my-status").selectOption("online");
  const left = cal.locator("#queue li", { hasText: "refund" });
  await left.waitFor();
  await left.getByRole("button", { name: "Accept" }).click();
  await cal.locator("#visitor-panel").getByText("Left a message while nobody was online").waitFor();
  await cal.locator("#visitor-panel a[href='mailto:ana@example.com']").waitFor();
  // Her earlier conversation, which Cal closed, is listed beside it.
  await cal.locator("#visitor-panel .earlier li", { hasText: "My order #1234" }).waitFor();
  await cal.screenshot({ path: `${shots}/8-console-left-message.png` });
  // Bea comes back online too (she takes the shop's visitor below).
  await agent.locator("#my-status").selectOption("online");
  await agent.locator("#away-note").waitFor({ state: "hidden" });

  // Past conversations: Cal (who closed it) finds the first chat by a word
  // from it and opens it read-only; Bea, who handed it over, no longer does.
  await cal.getByRole("button", { name: "History" }).click();
  await cal.locator("#history-q").fill("warehouse");
  await cal.getByRole("button", { name: "Search" }).click();
  const found = cal.locator("#history-list li", { hasText: "My order #1234" });
  await found.waitFor();
  assert.equal(await cal.locator("#history-list li").count(), 1, "only the chat with that word");
  await found.locator("button").click();
  await cal.locator("#messages").getByText("Checking with the warehouse now.").waitFor();
  assert.equal(await cal.locator("#composer").isVisible(), false, "a past chat is read-only");
  await agent.getByRole("button", { name: "History" }).click();
  await agent.locator("#history-q").fill("warehouse");
  await agent.getByRole("button", { name: "Search" }).click();
  await agent.locator("#history-list").getByText("Nothing found.").waitFor();
  await agent.getByRole("button", { name: "Chats" }).click();

  // On a phone the console fits the screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const small = await phone.newPage();
  small.on("pageerror", (e) => errors.push(`phone: ${e.message}`));
  await logIn(small, "cal", "cal-password");
  const width = await small.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the console is ${width}px wide on a 390px phone`);
  await small.screenshot({ path: `${shots}/9-console-phone.png` });

  // The widget on a customer's own site (listed by the admin at the
  // start): one script tag, a launcher, the chat in a frame of the
  // livechat server.
  const shop = await newPage("shop");
  const shopUrl = `${shopOrigin}/pretend-shop`;
  await shop.route(shopUrl, (route) => route.fulfill({
    contentType: "text/html",
    body: `<!doctype html><title>Shop</title><h1>Shoes</h1><script src="${base}/embed.js" async></script>`,
  }));
  await shop.goto(shopUrl);
  await shop.getByRole("button", { name: "Chat with us" }).click();
  const chat = shop.frameLocator("iframe[title='Chat with us']");
  await chat.getByLabel("Your name").fill("Gus");
  await chat.getByLabel("How can we help?").fill("Do you have size 46?");
  await chat.getByRole("button", { name: "Start chat" }).click();
  await chat.getByText("Waiting for an agent").waitFor();
  await agent.locator("#queue li", { hasText: "size 46" }).waitFor();
  await shop.screenshot({ path: `${shots}/12-widget-embedded.png` });
  await chat.getByRole("button", { name: "Minimise the chat" }).click();
  await shop.getByRole("button", { name: "Chat with us" }).waitFor();
  assert.equal(await shop.locator("iframe").isVisible(), false, "minimised");
  // The shop's own styles do not reach the launcher.
  const color = await shop.getByRole("button", { name: "Chat with us" }).evaluate((b) => getComputedStyle(b).backgroundColor);
  assert.equal(color, "rgb(35, 87, 198)");

  // The admin switches to automatic assignment in the console: Gus's
  // waiting chat is handed to an agent who is online without an Accept;
  // the audit trail says who changed what; Ana's data can be exported.
  const admin2 = await newPage("admin console again");
  await logIn(admin2, "admin", adminPassword);
  await admin2.getByRole("button", { name: "Admin" }).click();
  await admin2.waitForFunction(() => document.getElementById("ws-capacity").value !== "");
  await admin2.getByLabel("How chats reach agents").selectOption("automatic");
  await admin2.locator("#workspace-form").getByRole("button", { name: "Save" }).click();
  await admin2.locator("#workspace-error").getByText("Saved.").waitFor();
  let handed = null;
  for (let i = 0; i < 100 && !handed; i++) {
    const engaged = await api("/rooms?status=engaged", { token: admin.access_token });
    handed = engaged.rooms.find((r) => r.visitor.name === "Gus");
    if (!handed) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(handed, "Gus's chat was handed to an agent");
  await admin2.locator("#audit-filter").getByRole("button", { name: "Show" }).click();
  await admin2.locator("#audit-list").getByText('assignment_mode: "manual" → "automatic"').waitFor();
  await admin2.getByLabel("Value").fill("ana@example.com");
  await admin2.getByRole("button", { name: "Export everything" }).click();
  await admin2.locator("#vd-result").getByText(/chats? found/).waitFor();
  await admin2.locator("#audit-list").scrollIntoViewIfNeeded();
  await admin2.screenshot({ path: `${shots}/console-audit.png` });

  // With the server out of reach, both pages say so: not "wrong password",
  // not a start button that does nothing.
  const offline = await newPage("console offline");
  await offline.route("**/api/v1/**", (route) => route.abort("connectionrefused"));
  await offline.goto(`${base}/`);
  await offline.locator("#login").getByLabel("Username").fill("bea");
  await offline.locator("#login").getByLabel("Password").fill("bea-password");
  await offline.getByRole("button", { name: "Log in" }).click();
  await offline.locator("#login-error").getByText("Cannot reach the server").waitFor();
  // A proxy's own error page (HTML, 502) is "unavailable", not its markup.
  await offline.unroute("**/api/v1/**");
  await offline.route("**/api/v1/**", (route) =>
    route.fulfill({ status: 502, contentType: "text/html", body: "<html><body>Bad Gateway</body></html>" }));
  await offline.getByRole("button", { name: "Log in" }).click();
  await offline.locator("#login-error").getByText("The service is unavailable right now").waitFor();
  await offline.screenshot({ path: `${shots}/10-console-offline.png` });
  const offlineWidget = await newPage("widget offline");
  await offlineWidget.route("**/api/v1/**", (route) => route.abort("connectionrefused"));
  await offlineWidget.goto(`${base}/widget`);
  await offlineWidget.getByLabel("Your name").fill("Ana");
  await offlineWidget.getByLabel("How can we help?").fill("Hello?");
  await offlineWidget.getByRole("button", { name: "Start chat" }).click();
  await offlineWidget.locator("#start-error").getByText("Cannot reach the server").waitFor();
  await offlineWidget.screenshot({ path: `${shots}/11-widget-offline.png` });

  assert.deepEqual(errors, [], "no script errors on any page");
  console.log("browser test passed; screenshots in", shots);
} finally {
  await browser.close();
}
