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
 * Wire protocol: "Widget protocol" in docs/architecture.md. Beyond it the widget uses, when
 * present: a `stream_id` on the final `bot` frame of a stream, an `id` on replayed `user`
 * frames and on `error` frames about one message, a `timestamp` on user/bot frames (else the
 * time is read from a Redis stream id "ms-seq"), and `{"type":"csat_request"}`.
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
  const CONNECT_TIMEOUT_MS = 10000; // a socket stuck in CONNECTING (black-holed network)
  const WELCOME_TIMEOUT_MS = 10000;
  const ACK_SILENCE_MS = 20000; // waiting for an ack and hearing nothing at all: half-open socket
  const MAX_SEND_TRIES = 8; // connection lifetimes a message may wait through before "not sent"
  const TYPING_TIMEOUT_MS = 30000; // a lost typing-off frame must not leave dots forever
  const MAX_MESSAGE_CHARS = 2000;
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
      statusOffline: "Offline: messages will be sent when you are back online",
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
      statusOffline: "网络已断开：恢复后将自动发送您的消息",
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
    const stamp = frame.timestamp;
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
      this.connectTimer = setTimeout(() => this.ws === ws && this.drop("connect timeout"), CONNECT_TIMEOUT_MS + WELCOME_TIMEOUT_MS);
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

