/*!
 * Kefu live pages: the waiting queue and the agent's chat view, updated by server-sent
 * events. Everything from the server is inserted with textContent (never innerHTML), so
 * whatever a customer typed shows as text.
 *
 * Queue   [data-live-queue data-events=URL]: "snapshot" events carry the whole queue,
 *         "update" events one change ({conversation_id, kind, state?, text?}).
 * Chat    [data-live-conversation data-events=URL]: "event" events carry one transcript
 *         line; [data-live-reply] and [data-live-action] forms are posted with fetch.
 */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var STATE_LABELS = { bot: "with bot", waiting: "waiting", human: "with a person" };

  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  function connection(indicator, state) {
    if (!indicator) return;
    indicator.setAttribute("data-state", state);
    indicator.textContent = state === "online" ? "live" : state;
  }

  // -- the queue ---------------------------------------------------------------------------
  function startQueue(root) {
    var lists = { waiting: root.querySelector('[data-list="waiting"]'), human: root.querySelector('[data-list="human"]') };
    var indicator = document.querySelector('[data-testid="queue-connection"]');
    var timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

    function item(id, text, aside) {
      var li = node("li", "queue-item");
      li.setAttribute("data-conversation-id", id);
      li.setAttribute("data-testid", "queue-item");
      var link = node("a", null, text || id.slice(0, 10));
      link.href = "/staff/live/" + encodeURIComponent(id);
      link.setAttribute("data-testid", "queue-open");
      li.appendChild(link);
      li.appendChild(node("span", "muted small nowrap", aside || ""));
      return li;
    }

    function find(id) {
      return root.querySelector('.queue-item[data-conversation-id="' + CSS.escape(id) + '"]');
    }

    function refreshCounts() {
      Object.keys(lists).forEach(function (state) {
        var count = lists[state].children.length;
        root.querySelector('[data-count="' + state + '"]').textContent = String(count);
        root.querySelector('[data-empty="' + state + '"]').hidden = count > 0;
      });
    }

    function place(id, state, text, aside) {
      var existing = find(id);
      if (state !== "waiting" && state !== "human") {
        if (existing) existing.remove();
        return;
      }
      var previousText = existing ? existing.querySelector("a").textContent : null;
      var li = item(id, text || previousText, aside);
      if (existing && existing.parentElement === lists[state]) existing.replaceWith(li);
      else {
        if (existing) existing.remove();
        lists[state].appendChild(li);
        li.classList.add("fresh");
      }
    }

    var source = new EventSource(root.getAttribute("data-events"));
    source.onopen = function () { connection(indicator, "online"); };
    source.onerror = function () { connection(indicator, "reconnecting"); };
    source.addEventListener("snapshot", function (event) {
      var rows = JSON.parse(event.data);
      var seen = {};
      rows.forEach(function (row) {
        seen[row.id] = true;
        var aside = row.handoff_state === "human" ? (row.agent || "") : (row.handoff_at ? timeFormat.format(new Date(row.handoff_at * 1000)) : "");
        place(row.id, row.handoff_state, row.last_text, aside);
      });
      root.querySelectorAll(".queue-item").forEach(function (li) {
        if (!seen[li.getAttribute("data-conversation-id")]) li.remove();
      });
      refreshCounts();
    });
    source.addEventListener("update", function (event) {
      var update = JSON.parse(event.data);
      var id = update.conversation_id;
      if (update.kind === "handoff") {
        var aside = update.state === "human" ? (update.agent || "") : timeFormat.format(new Date((update.ts || Date.now() / 1000) * 1000));
        place(id, update.state, null, aside);
      } else if (update.kind === "user" && update.text) {
        var existing = find(id);
        if (existing) existing.querySelector("a").textContent = update.text;
      }
      refreshCounts();
    });
  }

  // -- one conversation ----------------------------------------------------------------------
  function startConversation(root) {
    var log = root.querySelector('[data-testid="live-log"]');
    var status = root.querySelector('[data-testid="live-status"]');
    var badge = document.querySelector('[data-testid="live-state"]');
    var takeOver = document.querySelector('[data-testid="take-over"]');
    var handBack = document.querySelector('[data-testid="hand-back"]');

    function setState(state) {
      if (badge) {
        badge.setAttribute("data-state", state);
        badge.className = "badge badge-" + state;
        badge.textContent = STATE_LABELS[state] || state;
      }
      if (takeOver) takeOver.hidden = state === "human";
      if (handBack) handBack.hidden = state !== "human";
    }

    function line(event) {
      if (log.querySelector('[data-event-id="' + CSS.escape(event.event_id) + '"]')) return;
      var li;
      if (event.kind === "handoff") {
        li = node("li", "system-line", event.state + (event.agent ? " · " + event.agent : ""));
        setState(event.state);
      } else if (event.kind === "user" || event.kind === "bot") {
        li = node("li", "msg msg-" + event.kind + (event.source ? " msg-src-" + event.source : ""));
        var who = event.kind === "user" ? "Customer" : (event.source === "human" ? (event.agent || "human") : "Bot · " + event.source);
        li.appendChild(node("span", "who", who));
        var bubble = node("div", "bubble", event.text || "");
        bubble.setAttribute("data-testid", "live-text");
        li.appendChild(bubble);
        if (event.kind === "user" && event.intent) {
          li.appendChild(node("span", "muted small", event.intent + (typeof event.confidence === "number" ? " " + event.confidence.toFixed(2) : "")));
        }
        li.setAttribute("data-source", event.source || "");
      } else {
        return;
      }
      li.setAttribute("data-testid", "live-event");
      li.setAttribute("data-kind", event.kind);
      li.setAttribute("data-event-id", event.event_id);
      log.appendChild(li);
      log.scrollTop = log.scrollHeight;
    }

    var source = new EventSource(root.getAttribute("data-events"));
    source.onopen = function () { status.textContent = "live"; };
    source.onerror = function () { status.textContent = "reconnecting…"; };
    source.addEventListener("event", function (message) { line(JSON.parse(message.data)); });
    log.scrollTop = log.scrollHeight;

    function post(form) {
      return fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
      }).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
    }

    var reply = root.querySelector("[data-live-reply]");
    var textarea = reply.querySelector("textarea");
    reply.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!textarea.value.trim()) return;
      var button = reply.querySelector("button");
      button.disabled = true;
      post(reply).then(function () {
        textarea.value = "";
        status.textContent = "sent";
      }).catch(function (error) {
        status.textContent = "not sent (" + error.message + "); try again";
      }).finally(function () { button.disabled = false; textarea.focus(); });
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        reply.requestSubmit();
      }
    });
    document.querySelectorAll("[data-live-action]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        post(form).catch(function (error) { status.textContent = "failed (" + error.message + ")"; });
      });
    });
  }

  function start() {
    var queue = document.querySelector("[data-live-queue]");
    if (queue) startQueue(queue);
    var conversation = document.querySelector("[data-live-conversation]");
    if (conversation) startConversation(conversation);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
