// livechat on your own site: paste
//   <script src="https://chat.example.com/embed.js" async></script>
// before </body>. It adds a launcher button; the chat opens in a frame of
// the livechat server (/widget), so it speaks the same protocol and keeps
// the visitor's chat across pages. The server only lets the sites in
// LIVECHAT_WIDGET_FRAME_ANCESTORS frame it. Optional attributes:
// data-title="Chat with us", data-position="left".
(() => {
  const script = document.currentScript;
  if (!script || window.__livechatEmbedded) return;
  window.__livechatEmbedded = true;
  const server = new URL(script.src).origin;
  const title = script.dataset.title || "Chat with us";
  const side = script.dataset.position === "left" ? "left" : "right";

  // A shadow root: the host page's styles cannot reach in, ours cannot
  // leak out.
  const host = document.createElement("div");
  host.setAttribute("data-livechat", "");
  const root = host.attachShadow({ mode: "open" });
  const css = `
    :host { all: initial; }
    .launcher { position: fixed; bottom: 20px; ${side}: 20px; z-index: 2147483000; border: 0; border-radius: 999px;
      padding: 12px 18px; background: #2357c6; color: #fff; font: 600 15px system-ui, sans-serif; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .launcher:focus-visible { outline: 3px solid #8fb0ff; outline-offset: 2px; }
    .panel { position: fixed; bottom: 80px; ${side}: 20px; z-index: 2147483000; width: min(380px, calc(100vw - 40px));
      height: min(600px, calc(100vh - 100px)); border-radius: 12px; overflow: hidden; box-shadow: 0 8px 30px rgba(0,0,0,.3);
      background: #fff; }
    .panel[hidden] { display: none; }
    iframe { border: 0; width: 100%; height: 100%; }
    @media (max-width: 480px) { .panel { inset: 0; width: 100vw; height: 100vh; border-radius: 0; } }`;
  // A constructed sheet, not a <style> element: a host page whose policy
  // forbids inline styles still shows the launcher.
  const extra = [];
  if ("adoptedStyleSheets" in root) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement("style");
    style.textContent = css;
    extra.push(style);
  }
  const launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher";
  launcher.textContent = title;
  launcher.setAttribute("aria-expanded", "false");
  const panel = document.createElement("div");
  panel.className = "panel";
  panel.hidden = true;
  let frame = null;

  function toggle(open) {
    if (open && !frame) {
      // Loaded on first use only: a page view costs nothing until then.
      frame = document.createElement("iframe");
      frame.title = title;
      frame.src = `${server}/widget?embedded=1`;
      frame.allow = "clipboard-write";
      panel.append(frame);
    }
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.textContent = open ? "Close chat" : title;
  }
  launcher.addEventListener("click", () => toggle(panel.hidden));
  // The widget's own "minimise" button.
  window.addEventListener("message", (e) => {
    if (e.origin === server && e.data && e.data.livechat === "minimise") toggle(false);
  });
  root.append(...extra, launcher, panel);
  document.body.append(host);
})();
