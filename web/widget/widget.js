/*!
 * Kefu chat widget: the customer-facing support chat, embeddable with one line.
 *
 *   <script src="https://HOST/widget.js" data-server="wss://HOST/ws" defer></script>
 *
 * Plain JavaScript, no build step, no external requests (no CDN, no web fonts). The UI lives
 * in an open Shadow DOM so the host page's CSS cannot leak in or out.
 *
 * Script attributes (all optional)
 *   data-server    websocket URL; default: "ws" resolved against this script's own URL with
 *                  the scheme switched (https://shop/widget.js -> wss://shop/ws)
 *   data-color     accent colour, any CSS colour (text on it is picked black or white for AA)
 *   data-title     header title
 *   data-avatar    header avatar image URL (http/https/relative/data:image)
 *   data-position  "right" (default) | "left"
 *   data-lang      "en" | "zh-CN"; default: <html lang>, then navigator.language
 *
 * JavaScript API: window.KefuWidget
 *   open() / close() / toggle() / isOpen()
 *   send(text)                 send a customer message as if typed
 *   newConversation()          forget the stored conversation and start another
 *   on(type, handler) -> off   events: "open", "close", "status" ({state}), "frame" (every
 *                              server frame), "sent" (every client frame), "message"
 *                              ({role, source, text, eventId}), "ack" ({id, eventId})
 *   state()                    {status, conversationId, lastEventId, unread, handoff, outbox}
 *
 * Stable selectors for browser tests (data-testid, inside the open shadow root of
 * #kefu-widget; Playwright's get_by_test_id pierces it):
 *   launcher          the round button that opens/closes the chat (aria-expanded)
 *   unread-badge      unread count on the launcher (hidden when 0)
 *   panel             the chat dialog (role="dialog"; [hidden] when closed)
 *   title             header title
 *   status            connection state text; data-state="idle|connecting|online|reconnecting|offline"
 *   connection-banner "reconnecting…"/"offline" strip under the header; data-state="reconnecting|offline"
 *   human-button      "talk to a person" button in the header
 *   menu-button       the "more" menu button; menu, menu-human, menu-rate, menu-new
 *   close             close button
 *   handoff-banner    shown while handed off; data-state="waiting|human"
 *   message-list      the history (role="log", aria-live="polite")
 *   message           one message; data-role="user|bot", data-source="template|generated|
 *                     action|human|customer", data-event-id, data-client-id (customer
 *                     messages), data-status="pending|sent|failed" (customer messages),
 *                     data-streaming="true" while a generated answer streams
 *   message-text      the text bubble inside a message
 *   quick-reply       a button from a bot frame's buttons (data-payload)
 *   retry             "not sent - retry" button on a failed customer message
 *   notice            a system line (handoff changes, errors); data-kind="info|error"
 *   typing            typing indicator
 *   csat              rating card; csat-star (data-score="1".."5"); csat-thanks
 *   input, send       the textarea and the send button
 *   empty-state       the greeting shown before the first message
 *
 * Wire protocol: "Widget protocol" in the architecture document. What the widget relies on:
 *   - hello is answered by welcome, then the replay (user/bot frames after last_event_id, in
 *     stream order), before any frame the widget sends after welcome is answered;
 *   - a `user` frame whose `id` was already stored is acked again with the SAME event_id
 *     (that is how an unacked message resent after a reconnect is matched to its replay);
 *   - event ids are Redis stream ids ("ms-seq") or integers, so they can be ordered.
 * Optional fields it uses when present: `stream_id` on the final `bot` frame of a stream (else
 * it closes the oldest open stream), `id` on replayed `user` frames and on `error` frames
 * about one message (that message is marked "not sent"), `ts` (or `timestamp`) on user/bot
 * frames (else the milliseconds of a Redis stream id), `event_id` on `handoff` frames (a replayed
 * handoff is shown once), and the frame `{"type": "csat_request"}`. A quick reply's `user`
 * frame carries the button's `title` next to its payload `text`.
 *
 * Reliability: conversation id + token live in localStorage under "kefu:v1:<server url>:";
 * each unacked message is its own key there ("...:outbox:<id>") and is resent with the same
 * id after every reconnect until acked; after 8 failed connection attempts (not counted while
 * the browser is offline) it is marked "not sent" and waits for a click on retry. Reconnects
 * use exponential backoff with jitter capped at 10 s; a ping goes out every 25 s; an ack
 * missing for 20 s with no other frame means a dead socket, which is replaced.
 */
(function () {
  "use strict";

  if (window.KefuWidget && window.KefuWidget.version) return; // embedded twice: keep the first

  const VERSION = "1.0.0";
  const SCRIPT = document.currentScript || document.querySelector('script[src*="widget.js"]');

  // Timing and limits. Backoff is exponential with "equal jitter" so a server restart does not
  // get every widget back at the same instant.
  const PING_INTERVAL_MS = 25000;
  const WATCHDOG_TICK_MS = 5000;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 10000;
  const HANDSHAKE_TIMEOUT_MS = 20000; // socket open + welcome; longer means a black-holed network
  const ACK_SILENCE_MS = 20000; // waiting for an ack and hearing nothing at all: half-open socket
  const MAX_SEND_TRIES = 8; // connection lifetimes a message may wait through before "not sent"
  const TYPING_TIMEOUT_MS = 30000; // a lost typing-off frame must not leave dots forever
  const MAX_MESSAGE_CHARS = 2000;
  const MAX_TITLE_CHARS = 200; // the server refuses a `user` frame with a longer `title`
  const HUMAN_AGENT_PAYLOAD = "/contact_human_agent";
  const DEFAULT_COLOR = "#2557d6";

  // ---------------------------------------------------------------------------------------
  // UI strings

  const STRINGS = {
    en: {
      title: "Customer support",
      openChat: "Open chat",
      closeChat: "Close chat",
      unread: (n) => (n === 1 ? "1 unread message" : n + " unread messages"),
      statusIdle: "We usually reply right away",
      statusConnecting: "Connecting…",
      statusOnline: "Online",
      statusReconnecting: "Reconnecting…",
      statusOffline: "Offline",
      bannerReconnecting: "Connection lost. Reconnecting… Your messages are kept and will be sent.",
      bannerOffline: "You are offline. Your messages will be sent when you are back online.",
      moreOptions: "More options",
      talkToHuman: "Talk to a person",
      rate: "Rate this conversation",
      newConversation: "Start a new conversation",
      conversation: "Conversation",
      messageLabel: "Message",
      placeholder: "Type your message…",
      send: "Send",
      keyHint: "Enter to send, Shift+Enter for a new line",
      you: "You",
      assistant: "Assistant",
      agent: "Support agent",
      aiGenerated: "AI-generated",
      sending: "Sending…",
      sent: "Sent",
      notSent: "Not sent. Retry",
      typing: "Assistant is typing…",
      suggestedReplies: "Suggested replies",
      handoffWaiting: "Connecting you to a person. Please stay in this chat.",
      handoffHuman: "You are chatting with a person from our team.",
      humanJoined: "A person from our team has joined the chat.",
      backToBot: "You are back with our virtual assistant.",
      csatQuestion: "How would you rate this conversation?",
      csatThanks: "Thank you for your feedback!",
      csatStar: (n, label) => n + (n === 1 ? " star: " : " stars: ") + label,
      csatLabels: ["Very poor", "Poor", "Okay", "Good", "Excellent"],
      genericError: "Sorry, something went wrong on our side. Please try again.",
      newConversationStarted: "A new conversation has started.",
      emptyTitle: "Hi there 👋",
      emptyBody: "Ask us anything about orders, delivery or returns.",
      today: "Today",
    },
    "zh-CN": {
      title: "在线客服",
      openChat: "打开聊天",
      closeChat: "关闭聊天",
      unread: (n) => n + " 条未读消息",
      statusIdle: "通常会立即回复",
      statusConnecting: "正在连接…",
      statusOnline: "在线",
      statusReconnecting: "正在重新连接…",
      statusOffline: "离线",
      bannerReconnecting: "连接已断开，正在重新连接… 您的消息已保存，恢复后自动发送。",
      bannerOffline: "网络已断开，恢复联网后将自动发送您的消息。",
      moreOptions: "更多选项",
      talkToHuman: "转人工客服",
      rate: "评价本次服务",
      newConversation: "开始新的对话",
      conversation: "对话记录",
      messageLabel: "消息",
      placeholder: "请输入消息…",
      send: "发送",
      keyHint: "Enter 发送，Shift+Enter 换行",
      you: "我",
      assistant: "智能助手",
      agent: "人工客服",
      aiGenerated: "AI 生成",
      sending: "发送中…",
      sent: "已发送",
      notSent: "未发送，点击重试",
      typing: "智能助手正在输入…",
      suggestedReplies: "推荐回复",
      handoffWaiting: "正在为您转接人工客服，请不要离开对话。",
      handoffHuman: "您正在与人工客服对话。",
      humanJoined: "人工客服已加入对话。",
      backToBot: "已切换回智能助手。",
      csatQuestion: "您对本次服务满意吗？",
      csatThanks: "感谢您的评价！",
      csatStar: (n, label) => n + " 星：" + label,
      csatLabels: ["非常不满意", "不满意", "一般", "满意", "非常满意"],
      genericError: "抱歉，系统出现问题，请稍后再试。",
      newConversationStarted: "新的对话已开始。",
      emptyTitle: "您好 👋",
      emptyBody: "订单、配送、退换货等问题，都可以问我们。",
      today: "今天",
    },
  };

  /** The UI language: data-lang, else <html lang>, else the browser's; Chinese or English. */
  function pickLanguage(requested) {
    const candidates = [requested, document.documentElement.lang, navigator.language];
    for (const candidate of candidates) {
      if (!candidate) continue;
      return String(candidate).toLowerCase().startsWith("zh") ? "zh-CN" : "en";
    }
    return "en";
  }

  // ---------------------------------------------------------------------------------------
  // Small pure helpers

  function randomId() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // randomUUID needs a secure context; plain-http pages still get a v4 UUID.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  /** Redis stream ids ("1712345678901-0") or integers, as [major, minor]; else null. */
  function parseEventId(eventId) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(String(eventId));
    return match ? [Number(match[1]), Number(match[2] || 0)] : null;
  }

  /** Orders event ids; opaque ids fall back to length-then-lexicographic order. */
  function compareEventIds(a, b) {
    const pa = parseEventId(a);
    const pb = parseEventId(b);
    if (pa && pb) return pa[0] - pb[0] || pa[1] - pb[1];
    const sa = String(a);
    const sb = String(b);
    return sa.length - sb.length || (sa < sb ? -1 : sa > sb ? 1 : 0);
  }

  /** When a frame's event happened: its timestamp, else a Redis stream id's milliseconds. */
  function frameTime(frame) {
    const stamp = frame.ts != null ? frame.ts : frame.timestamp; // `ts` is what docs/protocol.md names
    if (typeof stamp === "number" && isFinite(stamp)) return new Date(stamp < 1e11 ? stamp * 1000 : stamp);
    if (typeof stamp === "string" && !isNaN(Date.parse(stamp))) return new Date(stamp);
    const parsed = parseEventId(frame.event_id);
    if (parsed && String(frame.event_id).includes("-") && parsed[0] > 1e12) return new Date(parsed[0]);
    return new Date();
  }

  /** http(s) URLs only: javascript:, data: and friends are never made clickable. */
  function safeHttpUrl(raw) {
    try {
      const url = new URL(raw);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function safeImageUrl(raw) {
    if (!raw) return null;
    try {
      const url = new URL(raw, SCRIPT && SCRIPT.src ? SCRIPT.src : location.href);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href;
      if (url.protocol === "data:" && /^data:image\//i.test(raw)) return raw;
    } catch (_) {
      /* fall through */
    }
    return null;
  }

  // ASCII only: in Chinese text a URL is often followed by a character without a space.
  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`\u007f-\uffff]+/gi;

  /** Drops sentence punctuation stuck to a URL's end; keeps ")" when the URL opened one. */
  function trimUrlTail(raw) {
    let url = raw;
    for (;;) {
      const last = url.charAt(url.length - 1);
      const opens = url.split("(").length;
      const closes = url.split(")").length;
      if (".,;:!?]}*".includes(last) || (last === ")" && closes > opens)) url = url.slice(0, -1);
      else return url;
    }
  }

  /** Appends text as text nodes and http(s) links; never parses HTML. */
  function appendRichText(parent, text) {
    const source = String(text == null ? "" : text);
    let position = 0;
    URL_PATTERN.lastIndex = 0;
    let match;
    while ((match = URL_PATTERN.exec(source)) !== null) {
      const raw = trimUrlTail(match[0]);
      const href = safeHttpUrl(raw);
      if (match.index > position) parent.append(source.slice(position, match.index));
      if (href) {
        parent.append(h("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, raw));
      } else {
        parent.append(raw);
      }
      position = match.index + raw.length;
      URL_PATTERN.lastIndex = Math.max(position, match.index + 1);
    }
    if (position < source.length) parent.append(source.slice(position));
  }

  /** createElement with attributes; children are nodes or strings (strings become text). */
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value == null || value === false) continue;
      if (name === "class") element.className = value;
      else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) if (child != null && child !== false) element.append(child);
    return element;
  }

  // 24x24 stroke icons (drawn for this widget), built with createElementNS: no innerHTML.
  const ICON_PATHS = {
    chat: ["M21 11.5a8.4 8.4 0 0 1-12.3 7.5L3 20.5l1.6-5.3A8.5 8.5 0 1 1 21 11.5z"],
    close: ["M6 6l12 12", "M18 6L6 18"],
    chevron: ["M6 9l6 6 6-6"],
    send: ["M21.5 2.5L10.8 13.2", "M21.5 2.5L14.7 21.5l-3.9-8.3-8.3-3.9z"],
    headset: ["M3.5 17v-5a8.5 8.5 0 0 1 17 0v5", "M20.5 18a2.5 2.5 0 0 1-2.5 2.5h-1v-6h3.5z", "M3.5 18A2.5 2.5 0 0 0 6 20.5h1v-6H3.5z"],
    more: ["M5 12h.01", "M12 12h.01", "M19 12h.01"],
    check: ["M5 12.5l4.5 4.5L19 7.5"],
    clock: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 7v5l3.5 2"],
    alert: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 7.5v5.5", "M12 16.5h.01"],
    retry: ["M20 12a8 8 0 1 1-2.4-5.7", "M20 4v5h-5"],
    star: ["M12 3.2l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17.2l-5.4 2.9 1-6.1-4.4-4.3 6.1-.9z"],
    person: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4.5 20.5a7.5 7.5 0 0 1 15 0"],
    bot: ["M5 10a3 3 0 0 1 3-3h8a3 3 0 0 1 3 3v6a3 3 0 0 1-3 3H8a3 3 0 0 1-3-3z", "M12 3.5V7", "M9.5 12.5h.01", "M14.5 12.5h.01", "M2.5 12.5v2", "M21.5 12.5v2"],
    plus: ["M12 5v14", "M5 12h14"],
  };

  function icon(name, className) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "icon" + (className ? " " + className : ""));
    for (const d of ICON_PATHS[name]) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  // ---------------------------------------------------------------------------------------
  // Colour: the site picks the accent, the widget keeps text on it at WCAG AA contrast.

  function relativeLuminance([r, g, b]) {
    const channel = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  }

  function contrastRatio(a, b) {
    const la = relativeLuminance(a);
    const lb = relativeLuminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  /** Resolves any CSS colour to [r, g, b] through the browser's own parser. */
  function parseCssColor(value, probeParent) {
    if (!value || !(window.CSS && CSS.supports("color", value))) return null;
    const probe = h("span", { style: "display:none;color:" + value });
    probeParent.append(probe);
    const match = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(getComputedStyle(probe).color);
    probe.remove();
    return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : null;
  }

  function toHex(rgb) {
    return "#" + rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  }

  /** The accent, the text colour to put on it, and a variant dark enough to be text on white. */
  function themeColors(rgb) {
    const white = [255, 255, 255];
    const ink = [17, 19, 24];
    const onAccent = contrastRatio(rgb, white) >= contrastRatio(rgb, ink) ? white : ink;
    let readable = rgb.slice();
    while (contrastRatio(readable, white) < 4.6) readable = readable.map((v) => v * 0.92);
    return { accent: toHex(rgb), onAccent: toHex(onAccent), accentInk: toHex(readable) };
  }

  // ---------------------------------------------------------------------------------------
  // Persistence: one key per concern, and one key per unsent message so that two tabs of the
  // same shop never overwrite each other's outbox.

  function memoryStorage() {
    const map = new Map();
    return {
      getItem: (k) => (map.has(k) ? map.get(k) : null),
      setItem: (k, v) => map.set(k, String(v)),
      removeItem: (k) => map.delete(k),
      key: (i) => Array.from(map.keys())[i] ?? null,
      get length() {
        return map.size;
      },
    };
  }

  function pickStorage() {
    try {
      const probe = "kefu:probe";
      localStorage.setItem(probe, "1");
      localStorage.removeItem(probe);
      return localStorage;
    } catch (_) {
      return memoryStorage(); // storage blocked (privacy mode): still works for this page view
    }
  }

  class WidgetStorage {
    constructor(serverUrl) {
      this.prefix = "kefu:v1:" + serverUrl + ":";
      this.backend = pickStorage();
    }

    read(name) {
      try {
        return JSON.parse(this.backend.getItem(this.prefix + name));
      } catch (_) {
        return null;
      }
    }

    write(name, value) {
      try {
        if (value == null) this.backend.removeItem(this.prefix + name);
        else this.backend.setItem(this.prefix + name, JSON.stringify(value));
      } catch (_) {
        /* quota exceeded: the in-memory state still carries on */
      }
    }

    /** Unsent customer messages, oldest first. */
    outbox() {
      const entries = [];
      const outboxPrefix = this.prefix + "outbox:";
      for (let i = 0; i < this.backend.length; i++) {
        const key = this.backend.key(i);
        if (key && key.startsWith(outboxPrefix)) {
          const entry = this.read(key.slice(this.prefix.length));
          if (entry && entry.id && typeof entry.text === "string") entries.push(entry);
        }
      }
      return entries.sort((a, b) => a.createdAt - b.createdAt);
    }

    saveOutboxEntry(entry) {
      this.write("outbox:" + entry.id, entry);
    }

    dropOutboxEntry(id) {
      this.write("outbox:" + id, null);
    }

    isConversationKey(key) {
      return key === this.prefix + "conversation";
    }
  }

  // ---------------------------------------------------------------------------------------
  // Connection: one websocket at a time, reconnect with backoff, ping. Knows nothing about
  // conversations; the Chat below speaks the protocol through it.

  class Connection {
    constructor(url, handlers) {
      this.url = url;
      this.handlers = handlers; // onOpen(), onFrame(frame), onDown()
      this.ws = null;
      this.attempt = 0;
      this.retryTimer = null;
      this.connectTimer = null;
      this.pingTimer = null;
      this.lastFrameAt = 0;
      this.started = false;
    }

    get isOpen() {
      return !!this.ws && this.ws.readyState === WebSocket.OPEN;
    }

    get isActive() {
      return !!this.ws || !!this.retryTimer;
    }

    start() {
      if (this.started) return;
      this.started = true;
      this.connect();
    }

    /** Skips the remaining backoff (the network came back, the tab became visible). */
    reconnectNow() {
      if (!this.started || this.ws) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.connect();
    }

    /** Abandons the current socket (it is dead or useless) and reconnects with backoff. */
    drop(reason) {
      const ws = this.ws;
      if (!ws) return;
      this.detach(ws);
      try {
        ws.close(4000, reason);
      } catch (_) {
        /* already closing */
      }
      this.handlers.onDown();
      this.scheduleRetry();
    }

    /** Closes the current socket (if any) and connects again at once, e.g. for another conversation. */
    restart() {
      const ws = this.ws;
      if (ws) {
        this.detach(ws);
        try {
          ws.close(1000, "restart");
        } catch (_) {
          /* already closing */
        }
      }
      clearTimeout(this.retryTimer);
      this.attempt = 0;
      this.started = true;
      this.connect();
    }

    /** A welcome arrived: the server is healthy, so the next outage starts backoff afresh. */
    markHealthy() {
      this.attempt = 0;
      clearTimeout(this.connectTimer);
    }

    send(frame) {
      if (!this.isOpen) return false;
      try {
        this.ws.send(JSON.stringify(frame));
        return true;
      } catch (_) {
        return false;
      }
    }

    connect() {
      this.retryTimer = null;
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (_) {
        this.handlers.onDown();
        this.scheduleRetry();
        return;
      }
      this.ws = ws;
      this.connectTimer = setTimeout(() => this.ws === ws && this.drop("handshake timeout"), HANDSHAKE_TIMEOUT_MS);
      ws.onopen = () => {
        this.lastFrameAt = Date.now();
        this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_INTERVAL_MS);
        this.handlers.onOpen();
      };
      ws.onmessage = (event) => {
        this.lastFrameAt = Date.now();
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return; // not ours to interpret; the protocol is JSON text frames
        }
        if (frame && typeof frame.type === "string") this.handlers.onFrame(frame);
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.detach(ws);
        this.handlers.onDown();
        this.scheduleRetry();
      };
      ws.onerror = () => {
        /* a close event always follows */
      };
    }

    detach(ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (this.ws === ws) this.ws = null;
      clearInterval(this.pingTimer);
      clearTimeout(this.connectTimer);
    }

    scheduleRetry() {
      clearTimeout(this.retryTimer);
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, this.attempt));
      const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
      this.attempt += 1;
      this.retryTimer = setTimeout(() => this.connect(), delay);
    }
  }


  // ---------------------------------------------------------------------------------------
  // Styles (inside the shadow root, so the page's CSS cannot reach them)

  const STYLESHEET = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.kefu {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
  font-size: 15px; line-height: 1.45; color: #1b1e23; -webkit-font-smoothing: antialiased;
  -webkit-text-size-adjust: 100%; text-align: left;
}
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.icon {
  width: 24px; height: 24px; flex: none; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round;
}
button { font: inherit; color: inherit; background: none; border: 0; margin: 0; padding: 0; cursor: pointer; }
:focus { outline: none; }
:focus-visible { outline: 3px solid var(--kefu-accent-ink); outline-offset: 2px; }

/* Launcher */
.launcher {
  position: fixed; z-index: 2147483000; bottom: 24px; right: 24px; width: 60px; height: 60px;
  border-radius: 50%; display: grid; place-items: center;
  background: var(--kefu-accent); color: var(--kefu-on-accent);
  box-shadow: 0 6px 20px rgba(15, 23, 42, .24), 0 2px 6px rgba(15, 23, 42, .16);
  transition: transform .15s ease, box-shadow .15s ease;
}
.kefu[data-position="left"] .launcher { right: auto; left: 24px; }
.launcher:hover { transform: translateY(-2px); box-shadow: 0 10px 26px rgba(15, 23, 42, .28), 0 2px 6px rgba(15, 23, 42, .16); }
.launcher:focus-visible { outline: none; box-shadow: 0 0 0 3px #fff, 0 0 0 6px var(--kefu-accent-ink), 0 6px 20px rgba(15, 23, 42, .24); }
.launcher .icon { position: absolute; width: 28px; height: 28px; transition: opacity .16s ease, transform .2s ease; }
.launcher .launcher-close { opacity: 0; transform: rotate(-90deg); }
.launcher[aria-expanded="true"] .launcher-open { opacity: 0; transform: rotate(90deg); }
.launcher[aria-expanded="true"] .launcher-close { opacity: 1; transform: none; }
.badge {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #c81e1e; color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; box-shadow: 0 0 0 2px #fff;
}

/* Panel */
.panel {
  position: fixed; z-index: 2147483000; bottom: 100px; right: 24px; width: 380px;
  height: min(640px, calc(100vh - 124px)); min-height: 360px;
  display: flex; flex-direction: column; overflow: hidden; background: #fff; border-radius: 16px;
  box-shadow: 0 16px 48px rgba(15, 23, 42, .22), 0 2px 8px rgba(15, 23, 42, .12);
  opacity: 0; transform: translateY(12px) scale(.98); transform-origin: bottom right;
  transition: opacity .18s ease, transform .18s ease;
}
.kefu[data-position="left"] .panel { right: auto; left: 24px; transform-origin: bottom left; }
.panel.is-open { opacity: 1; transform: none; }

.header {
  position: relative; flex: none; display: flex; align-items: center; gap: 2px;
  padding: 12px 8px 12px 14px; background: var(--kefu-accent); color: var(--kefu-on-accent);
}
.header :focus-visible { outline-color: var(--kefu-on-accent); outline-offset: -2px; }
.avatar {
  width: 40px; height: 40px; flex: none; border-radius: 50%; overflow: hidden; display: grid; place-items: center;
  background: color-mix(in srgb, var(--kefu-on-accent) 16%, transparent);
}
.avatar img { width: 100%; height: 100%; object-fit: cover; display: block; }
.avatar .icon { width: 24px; height: 24px; }
.titles { flex: 1; min-width: 0; margin: 0 6px 0 10px; }
.title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.25; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.status { margin: 2px 0 0; font-size: 13px; line-height: 1.3; display: flex; align-items: center; gap: 6px; min-width: 0; }
.status-text { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status::before {
  content: ""; width: 8px; height: 8px; flex: none; border-radius: 50%;
  background: color-mix(in srgb, var(--kefu-on-accent) 55%, transparent);
}
.status[data-state="online"]::before { background: #34d27b; box-shadow: 0 0 0 2px color-mix(in srgb, var(--kefu-on-accent) 35%, transparent); }
.status[data-state="connecting"]::before,
.status[data-state="reconnecting"]::before { background: #f5b82e; animation: kefu-pulse 1.2s ease-in-out infinite; }
.status[data-state="offline"]::before { background: #ff6b6b; }
.header-button {
  width: 38px; height: 38px; flex: none; border-radius: 10px; display: grid; place-items: center;
}
.header-button:hover { background: color-mix(in srgb, var(--kefu-on-accent) 15%, transparent); }
.header-button .icon { width: 20px; height: 20px; }
.header-button .icon-dots { stroke-width: 3.4; }

.menu {
  position: absolute; top: calc(100% - 4px); right: 8px; z-index: 3; min-width: 232px; padding: 6px;
  background: #fff; color: #1b1e23; border: 1px solid #dfe3e8; border-radius: 12px;
  box-shadow: 0 12px 32px rgba(15, 23, 42, .2);
}
.menu-item {
  display: flex; width: 100%; align-items: center; gap: 10px; padding: 10px 12px; border-radius: 8px;
  font-size: 14px; text-align: left; color: #1b1e23;
}
.menu-item:hover, .menu-item:focus { background: #eef1f5; }
.menu .menu-item:focus-visible { outline: 2px solid var(--kefu-accent-ink); outline-offset: -2px; }
.menu-item .icon { width: 18px; height: 18px; color: var(--kefu-accent-ink); }
.menu-item .icon-dots { stroke-width: 3.4; }
.menu-item[aria-disabled="true"] { color: #6b7280; cursor: default; }
.menu-item[aria-disabled="true"] .icon { color: inherit; }

.connection {
  flex: none; display: flex; align-items: center; gap: 8px; padding: 8px 16px;
  font-size: 13px; line-height: 1.35; background: #fff3d6; color: #5c3b00; border-bottom: 1px solid #efd591;
}
.connection[data-state="offline"] { background: #fdecec; color: #7f1d1d; border-color: #f3c0c0; }
.connection .icon { width: 16px; height: 16px; }
.spin { animation: kefu-spin 1.1s linear infinite; }
.handoff {
  flex: none; display: flex; align-items: center; gap: 8px; padding: 9px 16px;
  font-size: 13.5px; line-height: 1.35; border-bottom: 1px solid transparent;
}
.handoff .icon { width: 18px; height: 18px; }
.handoff[data-state="waiting"] { background: #fff6e0; color: #6b4500; border-color: #f0dba2; }
.handoff[data-state="human"] { background: #e7f6ed; color: #14532d; border-color: #bde3ca; }

/* History */
.scroller {
  flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain;
  background: #f5f6f8; padding: 16px 14px 10px;
}
.empty { text-align: center; padding: 36px 20px 20px; color: #4a5260; }
.empty-title { margin: 0 0 6px; font-size: 18px; font-weight: 650; color: #1b1e23; }
.empty-body { margin: 0; font-size: 14px; }
.log { display: flex; flex-direction: column; gap: 12px; }
.msg { display: flex; flex-direction: column; align-items: flex-start; animation: kefu-rise .2s ease-out; }
.msg-user { align-items: flex-end; }
.bubble {
  max-width: 85%; padding: 9px 13px; border-radius: 16px; font-size: 15px; line-height: 1.45;
  white-space: pre-wrap; overflow-wrap: anywhere;
}
.msg-bot .bubble { background: #fff; color: #1b1e23; border: 1px solid #e1e4e9; border-bottom-left-radius: 6px; }
.msg-bot .bubble a { color: var(--kefu-accent-ink); text-decoration: underline; text-underline-offset: 2px; }
.msg-user .bubble { background: var(--kefu-accent); color: var(--kefu-on-accent); border-bottom-right-radius: 6px; }
.msg-user .bubble a { color: inherit; text-decoration: underline; text-underline-offset: 2px; }
.msg-user[data-status="failed"] .bubble { background: #fff; color: #1b1e23; border: 1.5px dashed #c23b3b; }
.msg.src-human .bubble { background: #eaf7ef; border-color: #b9e0c6; }
.msg[data-streaming="true"] .bubble::after {
  content: ""; display: inline-block; width: 7px; height: 1em; margin-left: 2px; vertical-align: text-bottom;
  background: #8a929e; animation: kefu-blink 1s steps(2) infinite;
}
.sender { display: flex; align-items: center; gap: 4px; margin: 0 0 3px 4px; font-size: 12.5px; font-weight: 600; color: #1d5f36; }
.sender .icon { width: 14px; height: 14px; }
.meta { display: flex; align-items: center; gap: 6px; margin: 4px 6px 0; font-size: 12px; line-height: 1.2; color: #59616d; }
.meta .icon { width: 14px; height: 14px; }
.meta .tag { padding: 1px 6px; border-radius: 6px; background: #e8ebf0; color: #454c57; }
.delivery { display: inline-flex; align-items: center; }
.retry {
  display: inline-flex; align-items: center; gap: 4px; padding: 3px 6px; margin: -3px -6px;
  border-radius: 6px; color: #a11a1a; font-size: 12.5px; font-weight: 600; text-decoration: underline;
}
.retry:hover { background: #fbe9e9; }
.quick-replies { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
.quick-reply {
  padding: 7px 13px; border-radius: 999px; border: 1.5px solid var(--kefu-accent-ink); background: #fff;
  color: var(--kefu-accent-ink); font-size: 14px; font-weight: 550; line-height: 1.25; text-align: left;
  transition: background-color .12s ease, color .12s ease;
}
.quick-reply:hover { background: var(--kefu-accent); border-color: var(--kefu-accent); color: var(--kefu-on-accent); }
.notice {
  align-self: center; max-width: 92%; padding: 6px 12px; border-radius: 10px; text-align: center;
  font-size: 12.5px; line-height: 1.4; background: #e9ecf1; color: #3f4651;
}
.notice[data-kind="error"] { background: #fdecec; color: #8f1b1b; }
.typing {
  display: inline-flex; align-items: center; gap: 4px; margin-top: 12px; padding: 12px 14px;
  background: #fff; border: 1px solid #e1e4e9; border-radius: 16px; border-bottom-left-radius: 6px;
}
.typing .dot { width: 7px; height: 7px; border-radius: 50%; background: #7d8591; animation: kefu-bounce 1.2s infinite ease-in-out both; }
.typing .dot:nth-child(2) { animation-delay: .15s; }
.typing .dot:nth-child(3) { animation-delay: .3s; }

.csat {
  align-self: stretch; padding: 14px 12px; border-radius: 14px; background: #fff; border: 1px solid #e1e4e9; text-align: center;
}
.csat-question { margin: 0 0 8px; font-weight: 600; font-size: 14.5px; }
.stars { display: inline-flex; gap: 4px; }
.star { width: 42px; height: 42px; border-radius: 10px; display: grid; place-items: center; color: #767f8c; }
.star .icon { width: 28px; height: 28px; stroke-width: 1.6; }
.stars:hover .star, .stars:focus-within .star, .star[aria-pressed="true"] { color: #b86e00; }
.stars:hover .star .icon, .stars:focus-within .star .icon, .star[aria-pressed="true"] .icon { fill: #f6b73c; }
.stars .star:hover ~ .star, .stars .star:focus ~ .star { color: #767f8c; }
.stars .star:hover ~ .star .icon, .stars .star:focus ~ .star .icon { fill: none; }
.stars[data-rated="true"] .star { cursor: default; }
.csat-scale { display: flex; justify-content: space-between; max-width: 226px; margin: 2px auto 0; font-size: 11.5px; color: #59616d; }
.csat-thanks { margin: 8px 0 0; font-size: 14px; color: #14532d; font-weight: 600; }

/* Composer */
.composer { flex: none; padding: 10px 12px 8px; border-top: 1px solid #e4e7eb; background: #fff; }
.composer-row { display: flex; align-items: flex-end; gap: 8px; }
.input {
  flex: 1; min-width: 0; height: 46px; max-height: 140px; resize: none; margin: 0; padding: 12px 14px;
  border: 1.5px solid #8a929e; border-radius: 14px; background: #fff; color: #1b1e23;
  font: inherit; font-size: 15px; line-height: 1.4; overflow-y: auto;
}
.input::placeholder { color: #6b7280; opacity: 1; }
.input:focus-visible, .input:focus {
  outline: none; border-color: var(--kefu-accent-ink);
  box-shadow: 0 0 0 3px color-mix(in srgb, var(--kefu-accent) 25%, transparent);
}
.send {
  width: 46px; height: 46px; flex: none; border-radius: 14px; display: grid; place-items: center;
  background: var(--kefu-accent); color: var(--kefu-on-accent); transition: background-color .12s ease;
}
.send:disabled { background: #e7e9ed; color: #6b7280; cursor: default; }
.send .icon { width: 20px; height: 20px; }
.hint { margin: 6px 2px 0; font-size: 11.5px; color: #59616d; }

@keyframes kefu-rise { from { opacity: 0; transform: translateY(6px); } to { opacity: 1; transform: none; } }
@keyframes kefu-bounce { 0%, 80%, 100% { transform: translateY(0); opacity: .5; } 40% { transform: translateY(-4px); opacity: 1; } }
@keyframes kefu-pulse { 50% { opacity: .35; } }
@keyframes kefu-blink { 50% { opacity: 0; } }
@keyframes kefu-spin { to { transform: rotate(360deg); } }

@media (pointer: coarse) { .hint { display: none; } }
/* Phones (and short landscape windows, where a floating panel would not fit): full screen. */
@media (max-width: 480px), (max-height: 540px) {
  .panel, .kefu[data-position="left"] .panel {
    top: 0; right: 0; bottom: 0; left: 0; width: auto; height: auto; min-height: 0; border-radius: 0;
  }
  .kefu[data-open="true"] .launcher { display: none; }
  .launcher, .kefu[data-position="left"] .launcher { bottom: 16px; }
  .kefu[data-position="right"] .launcher { right: 16px; }
  .kefu[data-position="left"] .launcher { left: 16px; }
  .header { padding-top: calc(12px + env(safe-area-inset-top)); }
  .composer { padding-bottom: calc(10px + env(safe-area-inset-bottom)); }
  .bubble { max-width: 88%; }
  .input { font-size: 16px; } /* below 16px iOS zooms the page on focus */
}
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
}
@media (forced-colors: active) {
  .launcher, .bubble, .quick-reply, .input, .send, .notice, .csat, .menu, .handoff, .connection { border: 1px solid CanvasText; }
  .status::before { forced-color-adjust: none; }
}
`;

  // ---------------------------------------------------------------------------------------
  // View: builds and updates the DOM. It holds no protocol state; user intents go out
  // through `actions` (send, quickReply, retry, rate, human, newConversation, open, close).

  const FULLSCREEN_QUERY = "(max-width: 480px), (max-height: 540px)"; // same as the CSS

  class View {
    constructor({ strings, config, actions }) {
      this.t = strings;
      this.config = config;
      this.actions = actions;
      this.isOpen = false;
      this.streams = new Map(); // stream_id -> {item, bubble, text}
      this.typingTimer = null;
      this.savedPageOverflow = null;
      this.timeFormat = new Intl.DateTimeFormat(config.lang, { hour: "numeric", minute: "2-digit" });
      this.dateTimeFormat = new Intl.DateTimeFormat(config.lang, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
      this.fullDateFormat = new Intl.DateTimeFormat(config.lang, { dateStyle: "full", timeStyle: "short" });
    }

    mount() {
      const t = this.t;
      this.host = h("div", { id: "kefu-widget", "data-kefu-version": VERSION });
      document.body.append(this.host);
      this.root = this.host.attachShadow({ mode: "open" });
      const style = document.createElement("style");
      style.textContent = STYLESHEET;
      this.root.append(style);

      this.badge = h("span", { class: "badge", "data-testid": "unread-badge", "aria-hidden": "true", hidden: true });
      this.launcher = h(
        "button",
        {
          class: "launcher", type: "button", "data-testid": "launcher", "aria-expanded": "false",
          "aria-controls": "kefu-panel", "aria-label": t.openChat,
          onclick: () => (this.isOpen ? this.actions.close() : this.actions.open()),
        },
        icon("chat", "launcher-open"), icon("chevron", "launcher-close"), this.badge
      );

      this.panel = h("section", {
        class: "panel", id: "kefu-panel", role: "dialog", "aria-modal": "false",
        "aria-labelledby": "kefu-title", "data-testid": "panel", tabindex: "-1", hidden: true,
      });
      this.panel.append(this.buildHeader(), this.buildConnectionBanner(), this.buildHandoffBanner(), this.buildHistory(), this.buildComposer());

      this.rootElement = h("div", { class: "kefu", "data-position": this.config.position, "data-open": "false", lang: this.config.lang });
      this.rootElement.append(this.launcher, this.panel);
      this.root.append(this.rootElement);
      this.applyTheme();

      this.root.addEventListener("keydown", (event) => this.onKeydown(event));
      this.root.addEventListener("pointerdown", (event) => {
        if (!this.menu.hidden && !this.menu.contains(event.target) && !this.menuButton.contains(event.target)) this.closeMenu(false);
      });
    }

    applyTheme() {
      const rgb = parseCssColor(this.config.color, this.root) || parseCssColor(DEFAULT_COLOR, this.root);
      const colors = themeColors(rgb);
      this.rootElement.style.setProperty("--kefu-accent", colors.accent);
      this.rootElement.style.setProperty("--kefu-on-accent", colors.onAccent);
      this.rootElement.style.setProperty("--kefu-accent-ink", colors.accentInk);
    }

    buildHeader() {
      const t = this.t;
      const avatar = h("span", { class: "avatar", "aria-hidden": "true" });
      if (this.config.avatar) {
        const image = h("img", { src: this.config.avatar, alt: "", referrerpolicy: "no-referrer" });
        image.addEventListener("error", () => image.replaceWith(icon("bot")));
        avatar.append(image);
      } else {
        avatar.append(icon("bot"));
      }
      this.statusText = h("span", { class: "status-text" });
      this.status = h("p", { class: "status", role: "status", "data-testid": "status", "data-state": "idle" }, this.statusText);
      this.humanButton = h(
        "button",
        {
          class: "header-button", type: "button", "data-testid": "human-button", "aria-label": t.talkToHuman, title: t.talkToHuman,
          onclick: () => {
            this.actions.human();
            this.focusComposer(); // the button hides while handed off
          },
        },
        icon("headset")
      );
      this.menuButton = h(
        "button",
        {
          class: "header-button", type: "button", "data-testid": "menu-button", "aria-label": t.moreOptions, title: t.moreOptions,
          "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": "kefu-menu",
          onclick: () => (this.menu.hidden ? this.openMenu() : this.closeMenu(true)),
        },
        icon("more", "icon-dots")
      );
      const closeButton = h(
        "button",
        { class: "header-button", type: "button", "data-testid": "close", "aria-label": t.closeChat, title: t.closeChat, onclick: () => this.actions.close() },
        icon("close")
      );
      const menuItem = (testId, iconName, label, run) =>
        h(
          "button",
          {
            class: "menu-item", type: "button", role: "menuitem", tabindex: "-1", "data-testid": testId,
            onclick: (event) => {
              if (event.currentTarget.getAttribute("aria-disabled") === "true") return;
              this.closeMenu(false);
              run();
            },
          },
          icon(iconName), label
        );
      this.menuHuman = menuItem("menu-human", "headset", t.talkToHuman, () => {
        this.actions.human();
        this.focusComposer();
      });
      this.menu = h(
        "div",
        { class: "menu", id: "kefu-menu", role: "menu", "aria-label": t.moreOptions, "data-testid": "menu", hidden: true },
        this.menuHuman,
        menuItem("menu-rate", "star", t.rate, () => this.actions.offerRating().querySelector("button").focus()),
        menuItem("menu-new", "plus", t.newConversation, () => {
          this.actions.newConversation();
          this.focusComposer();
        })
      );
      return h(
        "div",
        { class: "header" },
        avatar,
        h("div", { class: "titles" }, h("h2", { class: "title", id: "kefu-title", "data-testid": "title" }, this.config.title || t.title), this.status),
        this.humanButton, this.menuButton, closeButton, this.menu
      );
    }

    buildConnectionBanner() {
      this.connectionText = h("span");
      this.connectionBanner = h("div", { class: "connection", "data-testid": "connection-banner", hidden: true }, icon("retry", "spin"), this.connectionText);
      this.connectionTimer = null;
      return this.connectionBanner;
    }

    buildHandoffBanner() {
      this.handoffIcon = h("span", { class: "handoff-icon" });
      this.handoffText = h("span");
      this.handoffBanner = h("div", { class: "handoff", "data-testid": "handoff-banner", role: "status", hidden: true }, this.handoffIcon, this.handoffText);
      return this.handoffBanner;
    }

    buildHistory() {
      const t = this.t;
      this.emptyState = h(
        "div",
        { class: "empty", "data-testid": "empty-state" },
        h("p", { class: "empty-title" }, t.emptyTitle),
        h("p", { class: "empty-body" }, t.emptyBody)
      );
      this.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t.conversation, "data-testid": "message-list" });
      this.typing = h(
        "div",
        { class: "typing", "data-testid": "typing", role: "status", hidden: true },
        h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "dot", "aria-hidden": "true" }),
        h("span", { class: "sr-only" }, t.typing)
      );
      this.scroller = h("div", { class: "scroller" }, this.emptyState, this.log, this.typing);
      return this.scroller;
    }

    buildComposer() {
      const t = this.t;
      this.input = h("textarea", {
        class: "input", id: "kefu-input", rows: "1", "data-testid": "input", placeholder: t.placeholder,
        maxlength: String(MAX_MESSAGE_CHARS), "aria-describedby": "kefu-hint", enterkeyhint: "send", autocomplete: "off",
      });
      this.sendButton = h("button", { class: "send", type: "submit", "data-testid": "send", "aria-label": t.send, title: t.send, disabled: true }, icon("send"));
      this.input.addEventListener("input", () => this.onInput());
      this.input.addEventListener("keydown", (event) => {
        // isComposing / 229: Enter confirms an IME candidate (Chinese input); it must not send.
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
          event.preventDefault();
          this.submit();
        }
      });
      const form = h(
        "form",
        { class: "composer", onsubmit: (event) => { event.preventDefault(); this.submit(); } },
        h("label", { class: "sr-only", for: "kefu-input" }, t.messageLabel),
        h("div", { class: "composer-row" }, this.input, this.sendButton),
        h("p", { class: "hint", id: "kefu-hint" }, t.keyHint)
      );
      form.noValidate = true;
      return form;
    }

    onInput() {
      this.sendButton.disabled = this.input.value.trim() === "";
      this.input.style.height = "auto";
      this.input.style.height = Math.min(this.input.scrollHeight + 3, 140) + "px";
    }

    /** Where focus goes after an action removed the focused control (quick reply, retry...). */
    focusComposer() {
      // On phones focusing the textarea would pop the keyboard over the history.
      if (this.isFullscreen && window.matchMedia("(pointer: coarse)").matches) this.panel.focus({ preventScroll: true });
      else this.input.focus();
    }

    submit() {
      const text = this.input.value.trim();
      if (!text) return;
      if (this.actions.send(text)) {
        this.input.value = "";
        this.onInput();
      }
      this.input.focus();
    }

    // --- panel --------------------------------------------------------------------------

    get isFullscreen() {
      return window.matchMedia(FULLSCREEN_QUERY).matches;
    }

    open({ focus = true } = {}) {
      if (this.isOpen) return;
      this.isOpen = true;
      this.panel.hidden = false;
      this.panel.setAttribute("aria-modal", this.isFullscreen ? "true" : "false");
      this.rootElement.dataset.open = "true";
      this.launcher.setAttribute("aria-expanded", "true");
      this.launcher.setAttribute("aria-label", this.t.closeChat);
      requestAnimationFrame(() => this.isOpen && this.panel.classList.add("is-open"));
      if (this.isFullscreen) {
        // The page underneath must not scroll behind a full-screen chat.
        this.savedPageOverflow = document.documentElement.style.overflow;
        document.documentElement.style.overflow = "hidden";
      }
      this.scrollToEnd();
      if (focus) this.focusComposer();
    }

    close() {
      if (!this.isOpen) return;
      const focusWasInside = this.panel.contains(this.root.activeElement);
      this.isOpen = false;
      this.closeMenu(false);
      this.panel.classList.remove("is-open");
      this.panel.hidden = true;
      this.rootElement.dataset.open = "false";
      this.launcher.setAttribute("aria-expanded", "false");
      this.setUnread(this.unreadCount || 0);
      if (this.savedPageOverflow !== null) {
        document.documentElement.style.overflow = this.savedPageOverflow;
        this.savedPageOverflow = null;
      }
      if (focusWasInside) this.launcher.focus();
    }

    onKeydown(event) {
      if (event.key === "Escape") {
        if (!this.menu.hidden) {
          event.stopPropagation();
          this.closeMenu(true);
        } else if (this.isOpen) {
          event.stopPropagation();
          this.actions.close();
          this.launcher.focus();
        }
        return;
      }
      if (!this.menu.hidden && this.menu.contains(this.root.activeElement)) {
        this.onMenuKeydown(event);
        return;
      }
      if (event.key === "Tab" && this.isOpen && this.isFullscreen) this.trapFocus(event);
    }

    /** Full screen the chat covers the page, so Tab must cycle inside it. */
    trapFocus(event) {
      const focusables = Array.from(this.panel.querySelectorAll("button, textarea, a[href], [tabindex='0']")).filter(
        (el) => !el.disabled && el.getClientRects().length > 0 && el.getAttribute("tabindex") !== "-1"
      );
      if (!focusables.length) return;
      const first = focusables[0];
      const last = focusables[focusables.length - 1];
      const active = this.root.activeElement;
      if (event.shiftKey && (active === first || !this.panel.contains(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && active === last) {
        event.preventDefault();
        first.focus();
      }
    }

    openMenu() {
      this.menu.hidden = false;
      this.menuButton.setAttribute("aria-expanded", "true");
      this.menuItems()[0].focus();
    }

    closeMenu(returnFocus) {
      if (this.menu.hidden) return;
      this.menu.hidden = true;
      this.menuButton.setAttribute("aria-expanded", "false");
      if (returnFocus) this.menuButton.focus();
    }

    menuItems() {
      return Array.from(this.menu.querySelectorAll("[role='menuitem']"));
    }

    onMenuKeydown(event) {
      const items = this.menuItems();
      const index = items.indexOf(this.root.activeElement);
      const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
      if (event.key in moves) {
        event.preventDefault();
        items[(moves[event.key] + items.length) % items.length].focus();
      } else if (event.key === "Tab") {
        this.closeMenu(false);
      }
    }

    // --- header state -------------------------------------------------------------------

    setStatus(state) {
      const t = this.t;
      const labels = { idle: t.statusIdle, connecting: t.statusConnecting, online: t.statusOnline, reconnecting: t.statusReconnecting, offline: t.statusOffline };
      this.status.dataset.state = state;
      this.statusText.textContent = labels[state] || state;
      this.status.title = labels[state] || state;
      clearTimeout(this.connectionTimer);
      if (state !== "reconnecting" && state !== "offline") {
        this.connectionBanner.hidden = true;
        return;
      }
      // A reconnect that succeeds within a moment should not flash a warning.
      const show = () =>
        this.keepingEndInView(() => {
          this.connectionBanner.dataset.state = state;
          this.connectionText.textContent = state === "offline" ? t.bannerOffline : t.bannerReconnecting;
          this.connectionBanner.hidden = false;
        });
      if (this.connectionBanner.hidden) this.connectionTimer = setTimeout(show, 800);
      else show();
    }

    setUnread(count) {
      this.unreadCount = count;
      const visible = count > 0 && !this.isOpen;
      this.badge.hidden = !visible;
      this.badge.textContent = count > 99 ? "99+" : String(count);
      const label = this.isOpen ? this.t.closeChat : this.t.openChat;
      this.launcher.setAttribute("aria-label", visible ? label + " (" + this.t.unread(count) + ")" : label);
    }

    setHandoff(state) {
      this.keepingEndInView(() => this.renderHandoff(state));
    }

    renderHandoff(state) {
      const handedOff = state === "waiting" || state === "human";
      this.handoffBanner.hidden = !handedOff;
      this.humanButton.hidden = handedOff;
      this.menuHuman.setAttribute("aria-disabled", handedOff ? "true" : "false");
      if (!handedOff) {
        delete this.handoffBanner.dataset.state;
        return;
      }
      this.handoffBanner.dataset.state = state;
      this.handoffIcon.replaceChildren(icon(state === "waiting" ? "clock" : "person"));
      this.handoffText.textContent = state === "waiting" ? this.t.handoffWaiting : this.t.handoffHuman;
    }

    // --- history ------------------------------------------------------------------------

    formatTime(date) {
      const sameDay = date.toDateString() === new Date().toDateString();
      return (sameDay ? this.timeFormat : this.dateTimeFormat).format(date);
    }

    buildMessage({ role, source, text, time, eventId, clientId, status, buttons }) {
      const t = this.t;
      const speaker = role === "user" ? t.you : source === "human" ? t.agent : t.assistant;
      const item = h("div", {
        class: "msg msg-" + role + " src-" + source, "data-testid": "message", "data-role": role, "data-source": source,
        "data-event-id": eventId, "data-client-id": clientId, "data-status": status,
      });
      if (source === "human") item.append(h("div", { class: "sender", "aria-hidden": "true" }, icon("person"), t.agent));
      item.append(h("span", { class: "sr-only" }, speaker + ": "));
      const bubble = h("div", { class: "bubble", "data-testid": "message-text" });
      appendRichText(bubble, text);
      if (text || !(buttons && buttons.length)) item.append(bubble);
      if (buttons && buttons.length) item.append(this.buildQuickReplies(buttons));
      const meta = h("div", { class: "meta" }, h("time", { datetime: time.toISOString(), title: this.fullDateFormat.format(time) }, this.formatTime(time)));
      if (source === "generated") meta.append(h("span", { class: "tag" }, t.aiGenerated));
      if (role === "user") meta.append(h("span", { class: "delivery" }));
      item.append(meta);
      if (role === "user") this.renderDelivery(item, status);
      return item;
    }

    buildQuickReplies(buttons) {
      return h(
        "div",
        { class: "quick-replies", role: "group", "aria-label": this.t.suggestedReplies },
        buttons.map((button) =>
          h(
            "button",
            {
              class: "quick-reply", type: "button", "data-testid": "quick-reply", "data-payload": button.payload,
              onclick: () => {
                this.actions.quickReply(button.payload, button.title);
                this.focusComposer(); // the buttons are gone once answered
              },
            },
            button.title
          )
        )
      );
    }

    renderDelivery(item, status) {
      const t = this.t;
      const slot = item.querySelector(".delivery");
      item.dataset.status = status;
      if (status === "failed") {
        slot.replaceChildren(
          h(
            "button",
            {
              class: "retry", type: "button", "data-testid": "retry",
              onclick: () => {
                this.actions.retry(item.dataset.clientId);
                this.focusComposer();
              },
            },
            icon("alert"), t.notSent
          )
        );
      } else {
        slot.replaceChildren(icon(status === "sent" ? "check" : "clock"), h("span", { class: "sr-only" }, status === "sent" ? t.sent : t.sending));
        slot.title = status === "sent" ? t.sent : t.sending;
      }
    }

    /** Confirmed items go after every confirmed one and before unsent customer messages. */
    insertConfirmed(node, { forceScroll = false } = {}) {
      const stick = forceScroll || this.isNearEnd();
      this.log.insertBefore(node, this.log.querySelector(".is-unconfirmed"));
      this.afterChange(stick);
    }

    afterChange(stick) {
      this.emptyState.hidden = this.log.childElementCount > 0;
      if (stick) this.scrollToEnd();
    }

    isNearEnd() {
      const s = this.scroller;
      return s.scrollHeight - s.scrollTop - s.clientHeight < 96;
    }

    /** Runs a layout change (a banner appears) without losing the newest message from view. */
    keepingEndInView(change) {
      const stick = this.isNearEnd();
      change();
      if (stick) this.scrollToEnd();
    }

    scrollToEnd() {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    }

    /** A stored message (user or bot). A final bot frame replaces its streamed bubble. */
    addMessage(message) {
      if (message.role === "user") this.hideQuickReplies();
      const item = this.buildMessage(message);
      const stream = message.role === "bot" ? this.takeStream(message.streamId, message.source) : null;
      if (stream) {
        stream.item.replaceWith(item);
        this.afterChange(this.isNearEnd());
      } else {
        this.insertConfirmed(item);
      }
      return item;
    }

    /** A customer message not acked yet; it stays at the end until it is. */
    addPendingMessage(entry) {
      this.hideQuickReplies();
      const item = this.buildMessage({
        role: "user", source: "customer", text: entry.display || entry.text, time: new Date(entry.createdAt),
        clientId: entry.id, status: entry.failed ? "failed" : "pending",
      });
      item.classList.add("is-unconfirmed");
      this.log.append(item);
      this.afterChange(true);
    }

    findByClientId(clientId) {
      return Array.from(this.log.querySelectorAll(".msg-user")).find((el) => el.dataset.clientId === clientId) || null;
    }

    confirmMessage(clientId, eventId) {
      const item = this.findByClientId(clientId);
      if (!item) return;
      const stick = this.isNearEnd();
      item.classList.remove("is-unconfirmed");
      if (eventId != null) item.dataset.eventId = eventId;
      this.renderDelivery(item, "sent");
      item.remove();
      this.insertConfirmed(item, { forceScroll: stick });
    }

    removeByClientId(clientId) {
      const item = this.findByClientId(clientId);
      if (item) item.remove();
      this.afterChange(false);
    }

    setMessageStatus(clientId, status) {
      const item = this.findByClientId(clientId);
      if (item) this.renderDelivery(item, status);
    }

    hideQuickReplies() {
      for (const group of this.log.querySelectorAll(".quick-replies")) group.remove();
    }

    appendStreamToken(streamId, text) {
      const key = String(streamId);
      let stream = this.streams.get(key);
      if (!stream) {
        const item = this.buildMessage({ role: "bot", source: "generated", text: "", time: new Date() });
        item.dataset.streaming = "true";
        // Announcing every token would drown a screen reader; the final message is announced.
        item.setAttribute("aria-hidden", "true");
        stream = { item, bubble: item.querySelector(".bubble"), text: "" };
        this.streams.set(key, stream);
        this.setTyping(false);
        this.insertConfirmed(item);
      }
      const stick = this.isNearEnd();
      stream.text += text;
      stream.bubble.textContent = stream.text;
      if (stick) this.scrollToEnd();
    }

    takeStream(streamId, source) {
      let key = streamId != null ? String(streamId) : null;
      // A final frame without stream_id closes the oldest stream, if it is a generated answer.
      if (key === null || !this.streams.has(key)) {
        key = source === "generated" && this.streams.size ? this.streams.keys().next().value : null;
      }
      if (key === null) return null;
      const stream = this.streams.get(key);
      this.streams.delete(key);
      return stream;
    }

    discardStreams() {
      for (const stream of this.streams.values()) stream.item.remove();
      this.streams.clear();
      this.afterChange(false);
    }

    setTyping(on) {
      clearTimeout(this.typingTimer);
      const stick = this.isNearEnd();
      this.typing.hidden = !on;
      if (on) {
        this.typingTimer = setTimeout(() => this.setTyping(false), TYPING_TIMEOUT_MS);
        if (stick) this.scrollToEnd();
      }
    }

    addNotice(text, kind) {
      this.insertConfirmed(h("div", { class: "notice", "data-testid": "notice", "data-kind": kind }, text), { forceScroll: true });
    }

    /** Shows the rating card (one unanswered card at a time) and returns it. */
    showCsat() {
      const waiting = Array.from(this.log.querySelectorAll(".csat")).find((card) => card.dataset.rated !== "true");
      if (waiting) {
        waiting.remove();
        this.insertConfirmed(waiting, { forceScroll: true });
        return waiting;
      }
      const t = this.t;
      const questionId = "kefu-csat-" + randomId().slice(0, 8);
      const stars = h("div", { class: "stars" });
      const card = h(
        "div",
        { class: "csat", "data-testid": "csat", role: "group", "aria-labelledby": questionId },
        h("p", { class: "csat-question", id: questionId }, t.csatQuestion),
        stars,
        h("div", { class: "csat-scale", "aria-hidden": "true" }, h("span", {}, t.csatLabels[0]), h("span", {}, t.csatLabels[4]))
      );
      for (let score = 1; score <= 5; score++) {
        stars.append(
          h(
            "button",
            {
              class: "star", type: "button", "data-testid": "csat-star", "data-score": String(score),
              "aria-label": t.csatStar(score, t.csatLabels[score - 1]), "aria-pressed": "false",
              onclick: () => this.rated(card, stars, score),
            },
            icon("star")
          )
        );
      }
      this.insertConfirmed(card, { forceScroll: true });
      return card;
    }

    rated(card, stars, score) {
      if (card.dataset.rated === "true") return;
      card.dataset.rated = "true";
      stars.dataset.rated = "true";
      for (const star of stars.children) {
        star.setAttribute("aria-pressed", Number(star.dataset.score) <= score ? "true" : "false");
        star.disabled = true;
      }
      const thanks = h("p", { class: "csat-thanks", "data-testid": "csat-thanks", tabindex: "-1" }, this.t.csatThanks);
      card.append(thanks);
      thanks.focus(); // the buttons just became disabled; keep focus somewhere meaningful
      this.actions.rate(score);
    }

    /** Forgets what is shown for the conversation; unsent customer messages stay. */
    clearConversation() {
      for (const node of Array.from(this.log.children)) if (!node.classList.contains("is-unconfirmed")) node.remove();
      this.streams.clear();
      this.setTyping(false);
      this.afterChange(true);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Chat: the protocol. Owns the conversation id/token, the event cursor, the dedupe set and
  // the outbox; turns server frames into view updates and user intents into client frames.

  const HANDOFF_STATES = ["waiting", "human", "bot"];

  /** Keeps only well-formed {title, payload} buttons with string fields. */
  function cleanButtons(buttons) {
    if (!Array.isArray(buttons)) return [];
    return buttons
      .filter((b) => b && (typeof b.title === "string" || typeof b.payload === "string"))
      .map((b) => ({ title: String(b.title || b.payload), payload: String(b.payload || b.title) }));
  }

  class Chat {
    constructor(config) {
      this.config = config;
      this.t = STRINGS[config.lang];
      this.storage = new WidgetStorage(config.serverUrl);
      const saved = this.storage.read("conversation") || {};
      this.conversationId = saved.conversation_id || null;
      this.token = saved.token || null;
      this.cursor = null; // newest message or handoff event seen by this page: last_event_id on reconnect
      this.cursorAtLoad = this.storage.read("cursor"); // events after it are new (unread)
      this.seen = new Set();
      this.outbox = new Map(); // client id -> {id, text, display, createdAt, tries, failed}
      this.payloadTitles = new Map([[HUMAN_AGENT_PAYLOAD, this.t.talkToHuman]]);
      const ui = this.storage.read("ui") || {};
      this.unread = Math.max(0, Number(ui.unread) || 0);
      this.handoff = HANDOFF_STATES.includes(ui.handoff) ? ui.handoff : "bot";
      this.wasOpen = ui.open === true;
      this.pendingCsat = this.storage.read("csat");
      this.ready = false; // a welcome arrived on the current socket
      this.status = null;
      this.listeners = new Map();
      this.connection = new Connection(config.serverUrl, {
        onOpen: () => this.sayHello(),
        onFrame: (frame) => this.receive(frame),
        onDown: () => this.connectionLost(),
      });
      this.view = new View({
        strings: this.t,
        config,
        actions: {
          open: () => this.open(),
          close: () => this.close(),
          send: (text) => this.sendText(text),
          quickReply: (payload, title) => this.sendText(payload, title),
          retry: (id) => this.retry(id),
          human: () => this.sendText(HUMAN_AGENT_PAYLOAD, this.t.talkToHuman),
          offerRating: () => this.view.showCsat(),
          rate: (score) => this.rate(score),
          newConversation: () => this.newConversation(),
        },
      });
    }

    start() {
      this.view.mount();
      this.setStatus("idle");
      this.view.setUnread(this.unread);
      this.view.setHandoff(this.handoff);
      for (const entry of this.storage.outbox()) {
        this.outbox.set(entry.id, entry);
        this.view.addPendingMessage(entry);
      }
      window.addEventListener("online", () => this.connection.reconnectNow());
      window.addEventListener("offline", () => {
        this.connection.drop("offline"); // the socket is most likely dead; do not wait to find out
        if (this.connection.started && !this.ready) this.setStatus("offline");
      });
      document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && this.connection.reconnectNow());
      window.addEventListener("storage", (event) => this.onStorage(event));
      setInterval(() => this.watchdog(), WATCHDOG_TICK_MS);
      // Visitors who never open the chat do not create conversations on the server.
      if (this.conversationId || this.outbox.size) this.ensureConnected();
      if (this.wasOpen && !this.view.isFullscreen) this.open({ focus: false });
    }

    // --- public intents -------------------------------------------------------------------

    open({ focus = true } = {}) {
      this.view.open({ focus });
      this.ensureConnected();
      this.unread = 0;
      this.view.setUnread(0);
      this.saveUi();
      this.emit("open", {});
    }

    close() {
      this.view.close();
      this.saveUi();
      this.emit("close", {});
    }

    /** Queues a customer message (payload `text`, shown as `display`); false if refused. */
    sendText(text, display) {
      const body = String(text == null ? "" : text).trim();
      if (!body || body.length > MAX_MESSAGE_CHARS) return false;
      const entry = { id: randomId(), text: body, display: display || body, createdAt: Date.now(), tries: 0, failed: false };
      if (display) this.payloadTitles.set(body, display);
      this.outbox.set(entry.id, entry);
      this.storage.saveOutboxEntry(entry);
      this.view.addPendingMessage(entry);
      this.transmit(entry);
      return true;
    }

    retry(id) {
      const entry = this.outbox.get(id);
      if (!entry) return;
      entry.failed = false;
      entry.tries = 0;
      this.storage.saveOutboxEntry(entry);
      this.view.setMessageStatus(id, "pending");
      this.transmit(entry);
      this.connection.reconnectNow();
    }

    rate(score) {
      this.pendingCsat = score;
      this.storage.write("csat", score);
      this.flushCsat();
      this.ensureConnected();
    }

    newConversation() {
      for (const entry of Array.from(this.outbox.values())) {
        if (entry.failed) this.forget(entry.id, { removeBubble: true });
      }
      this.conversationId = null;
      this.token = null;
      this.storage.write("conversation", null);
      this.resetConversation({ persist: true });
      this.view.addNotice(this.t.newConversationStarted, "info");
      this.ready = false;
      this.setStatus("connecting");
      this.connection.restart();
    }

    on(type, handler) {
      if (!this.listeners.has(type)) this.listeners.set(type, new Set());
      this.listeners.get(type).add(handler);
      return () => this.listeners.get(type).delete(handler);
    }

    snapshot() {
      return {
        status: this.status,
        conversationId: this.conversationId,
        lastEventId: this.cursor,
        unread: this.unread,
        handoff: this.handoff,
        outbox: Array.from(this.outbox.values(), (e) => ({ id: e.id, text: e.text, tries: e.tries, failed: e.failed })),
      };
    }

    // --- connection lifecycle -------------------------------------------------------------

    ensureConnected() {
      if (this.connection.started) return;
      this.setStatus("connecting");
      this.connection.start();
    }

    sayHello() {
      const hello = { type: "hello", lang: this.config.lang };
      if (this.conversationId) {
        hello.conversation_id = this.conversationId;
        if (this.token) hello.token = this.token;
        // Absent on a fresh page so the server replays the whole history.
        if (this.cursor != null) hello.last_event_id = this.cursor;
      }
      this.sendFrame(hello);
    }

    connectionLost() {
      this.ready = false;
      this.view.setTyping(false);
      const offline = navigator.onLine === false;
      // While the browser says it is offline the status promises to send later, so waiting
      // does not use up a message's tries.
      if (!offline) {
        for (const entry of this.outbox.values()) {
          if (entry.failed) continue;
          entry.tries += 1;
          entry.sentAt = null;
          if (entry.tries >= MAX_SEND_TRIES) {
            entry.failed = true;
            this.view.setMessageStatus(entry.id, "failed");
          }
          this.storage.saveOutboxEntry(entry);
        }
      }
      this.setStatus(offline ? "offline" : "reconnecting");
    }

    /** A socket can die without a close event; an ack that never comes is how we notice. */
    watchdog() {
      if (!this.ready) return;
      const now = Date.now();
      const oldestSend = Math.min(...Array.from(this.outbox.values(), (e) => (e.sentAt && !e.failed ? e.sentAt : Infinity)));
      if (now - oldestSend > ACK_SILENCE_MS && now - this.connection.lastFrameAt > ACK_SILENCE_MS) {
        this.connection.drop("ack timeout");
      }
    }

    onStorage(event) {
      if (!this.storage.isConversationKey(event.key)) return;
      let next = null;
      try {
        next = JSON.parse(event.newValue);
      } catch (_) {
        /* treated as cleared */
      }
      const nextId = (next && next.conversation_id) || null;
      if (nextId === this.conversationId) return;
      // Another tab of this shop started or switched conversations: follow it.
      this.conversationId = nextId;
      this.token = (next && next.token) || null;
      this.resetConversation({ persist: false }); // the other tab owns what is stored
      if (this.connection.started) this.connection.restart();
    }

    // --- frames in ------------------------------------------------------------------------

    receive(frame) {
      this.emit("frame", frame);
      switch (frame.type) {
        case "welcome":
          return this.onWelcome(frame);
        case "ack":
          return this.onAck(frame.id, frame.event_id);
        case "user":
          return this.onUserEvent(frame);
        case "bot":
          return this.onBotEvent(frame);
        case "typing":
          return this.view.setTyping(frame.on === true);
        case "token":
          if (typeof frame.text === "string" && frame.stream_id != null) this.view.appendStreamToken(frame.stream_id, frame.text);
          return;
        case "handoff":
          return this.onHandoff(frame.state, frame.event_id);
        case "csat_request":
          return this.view.showCsat();
        case "error":
          return this.onError(frame);
        default:
          return; // "pong" and frame types added later: ignored, the protocol only grows
      }
    }

    onWelcome(frame) {
      const id = frame.conversation_id != null ? String(frame.conversation_id) : null;
      if (this.conversationId && id !== this.conversationId) {
        // The stored conversation was refused (expired, wrong token): a new one started.
        this.resetConversation({ persist: true });
        this.view.addNotice(this.t.newConversationStarted, "info");
      }
      this.conversationId = id;
      if (frame.token != null) this.token = String(frame.token);
      this.storage.write("conversation", { conversation_id: this.conversationId, token: this.token });
      this.ready = true;
      this.connection.markHealthy();
      // Half-streamed answers from the last socket: the stored final message is replayed.
      this.view.discardStreams();
      this.setStatus("online");
      for (const entry of this.outbox.values()) if (!entry.failed) this.transmit(entry);
      this.flushCsat();
    }

    /** Records an event id; false if it was already shown (replay after reconnect). */
    noteEvent(eventId) {
      if (eventId == null) return true;
      const key = String(eventId);
      if (this.seen.has(key)) return false;
      this.seen.add(key);
      return true;
    }

    advanceCursor(eventId) {
      if (eventId == null) return;
      const key = String(eventId);
      if (this.cursor != null && compareEventIds(key, this.cursor) <= 0) return;
      this.cursor = key;
      if (this.cursorAtLoad == null || compareEventIds(key, this.cursorAtLoad) > 0) this.storage.write("cursor", key);
    }

    isNewSinceLoad(eventId) {
      return eventId == null || this.cursorAtLoad == null || compareEventIds(String(eventId), this.cursorAtLoad) > 0;
    }

    onAck(id, eventId) {
      if (!this.outbox.has(id)) return; // another tab's message, or a repeated ack
      const alreadyShown = eventId != null && this.seen.has(String(eventId));
      this.forget(id, { removeBubble: false });
      if (alreadyShown) {
        // The replay showed this message before its ack came: keep one copy.
        this.view.removeByClientId(id);
      } else {
        this.noteEvent(eventId);
        this.view.confirmMessage(id, eventId == null ? null : String(eventId));
      }
      this.emit("ack", { id, eventId });
    }

    onUserEvent(frame) {
      if (frame.id != null && this.outbox.has(String(frame.id))) {
        // Our own unacked message, replayed: it was stored, so this counts as its ack.
        this.onAck(String(frame.id), frame.event_id);
        this.advanceCursor(frame.event_id);
        return;
      }
      if (!this.noteEvent(frame.event_id)) return;
      this.advanceCursor(frame.event_id);
      const text = String(frame.text == null ? "" : frame.text);
      this.view.addMessage({
        role: "user", source: "customer", text: this.payloadTitles.get(text) || text,
        time: frameTime(frame), eventId: frame.event_id == null ? null : String(frame.event_id), status: "sent",
      });
      this.emit("message", { role: "user", source: "customer", text, eventId: frame.event_id });
    }

    onBotEvent(frame) {
      if (!this.noteEvent(frame.event_id)) return;
      this.advanceCursor(frame.event_id);
      const buttons = cleanButtons(frame.buttons);
      for (const button of buttons) this.payloadTitles.set(button.payload, button.title);
      const source = typeof frame.source === "string" && frame.source ? frame.source : "template";
      const text = String(frame.text == null ? "" : frame.text);
      this.view.setTyping(false);
      this.view.addMessage({
        role: "bot", source, text, buttons, time: frameTime(frame), streamId: frame.stream_id,
        eventId: frame.event_id == null ? null : String(frame.event_id),
      });
      if (!this.view.isOpen && this.isNewSinceLoad(frame.event_id)) {
        this.unread += 1;
        this.view.setUnread(this.unread);
        this.saveUi();
      }
      this.emit("message", { role: "bot", source, text, eventId: frame.event_id });
    }

    onHandoff(state, eventId) {
      // A reconnect replays everything after the last message, so a take-over and hand-back
      // with no message since would come again and be announced twice: handoffs are events
      // too, seen once and moving the cursor.
      if (!this.noteEvent(eventId)) return;
      this.advanceCursor(eventId);
      if (!HANDOFF_STATES.includes(state) || state === this.handoff) return;
      const previous = this.handoff;
      this.handoff = state;
      this.view.setHandoff(state);
      if (state === "human") this.view.addNotice(this.t.humanJoined, "info");
      else if (state === "bot" && previous === "human") this.view.addNotice(this.t.backToBot, "info");
      this.saveUi();
    }

    onError(frame) {
      const id = frame.id != null ? String(frame.id) : null;
      if (id && this.outbox.has(id)) {
        // The server refused this message (too long, rate limited): resending it as is
        // would fail again, so it waits for the customer's retry.
        const entry = this.outbox.get(id);
        entry.failed = true;
        entry.sentAt = null;
        this.storage.saveOutboxEntry(entry);
        this.view.setMessageStatus(id, "failed");
      }
      const message = typeof frame.message === "string" && frame.message.trim() ? frame.message.trim() : this.t.genericError;
      this.view.addNotice(message, "error");
    }

    // --- frames out -----------------------------------------------------------------------

    sendFrame(frame) {
      const sent = this.connection.send(frame);
      if (sent) this.emit("sent", frame);
      return sent;
    }

    transmit(entry) {
      if (!this.ready) {
        this.ensureConnected();
        return;
      }
      const frame = { type: "user", id: entry.id, text: entry.text };
      // A button's title goes along with its payload: the server stores it, so the replayed
      // history and the staff transcript read "Get a refund", not "/get_refund".
      if (entry.display && entry.display !== entry.text) frame.title = entry.display.slice(0, MAX_TITLE_CHARS);
      if (this.sendFrame(frame)) entry.sentAt = Date.now();
    }

    flushCsat() {
      if (this.pendingCsat == null || !this.ready) return;
      const score = Math.min(5, Math.max(1, Math.round(Number(this.pendingCsat))));
      if (this.sendFrame({ type: "csat", score })) {
        this.pendingCsat = null;
        this.storage.write("csat", null);
      }
    }

    // --- bookkeeping ----------------------------------------------------------------------

    forget(id, { removeBubble }) {
      this.outbox.delete(id);
      this.storage.dropOutboxEntry(id);
      if (removeBubble) this.view.removeByClientId(id);
    }

    /** Forgets the shown conversation; `persist` also clears what this tab stored for it. */
    resetConversation({ persist }) {
      this.seen.clear();
      this.cursor = null;
      this.cursorAtLoad = null;
      this.unread = 0;
      this.view.setUnread(0);
      this.handoff = "bot";
      this.view.setHandoff("bot");
      this.view.clearConversation();
      if (persist) {
        this.storage.write("cursor", null);
        this.saveUi();
      }
    }

    setStatus(state) {
      if (state === this.status) return;
      this.status = state;
      this.view.setStatus(state);
      this.emit("status", { state });
    }

    saveUi() {
      this.storage.write("ui", { unread: this.unread, handoff: this.handoff, open: this.view.isOpen });
    }

    emit(type, detail) {
      const handlers = this.listeners.get(type);
      if (!handlers) return;
      for (const handler of Array.from(handlers)) {
        try {
          handler(detail);
        } catch (error) {
          console.error("KefuWidget " + type + " handler failed", error);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Boot

  /** ws(s) URL: data-server (absolute or relative to this script), else "ws" next to it. */
  function resolveServerUrl(explicit, script) {
    const base = script && script.src ? script.src : location.href;
    const url = new URL(explicit || "ws", base);
    if (url.protocol === "https:") url.protocol = "wss:";
    else if (url.protocol === "http:") url.protocol = "ws:";
    return url.href;
  }

  function readConfig(script) {
    const data = (script && script.dataset) || {};
    return {
      serverUrl: resolveServerUrl(data.server, script),
      color: data.color || DEFAULT_COLOR,
      title: data.title || "",
      avatar: safeImageUrl(data.avatar),
      position: data.position === "left" ? "left" : "right",
      lang: pickLanguage(data.lang),
    };
  }

  function boot() {
    const chat = new Chat(readConfig(SCRIPT));
    window.KefuWidget = Object.freeze({
      version: VERSION,
      open: () => chat.open(),
      close: () => chat.close(),
      toggle: () => (chat.view.isOpen ? chat.close() : chat.open()),
      isOpen: () => chat.view.isOpen,
      send: (text) => chat.sendText(text),
      newConversation: () => chat.newConversation(),
      on: (type, handler) => chat.on(type, handler),
      state: () => chat.snapshot(),
    });
    chat.start();
  }

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot, { once: true });
})();
