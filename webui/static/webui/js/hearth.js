/* Hearth web UI: what every page shares — the API client, status badges and the live WebSocket. */
"use strict";

window.Hearth = window.Hearth || {};

(function (Hearth) {
  Hearth.pageData = function () {
    var el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : {};
  };

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  Hearth.loginUrl = function () {
    return "/login?next=" + encodeURIComponent(location.pathname + location.search).replace(/%2F/g, "/");
  };

  /* fetch() with the session cookie and CSRF token; resolves to {ok, status, body} and never throws. */
  Hearth.api = function (method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = cookie("csrftoken");
      options.body = JSON.stringify(body || {});
    }
    return fetch(path, options).then(
      function (response) {
        return response
          .json()
          .catch(function () { return {}; })
          .then(function (json) {
            if (response.status === 401) location.assign(Hearth.loginUrl());
            return { ok: response.ok, status: response.status, body: json };
          });
      },
      function () {
        return { ok: false, status: 0, body: { message: "The panel could not be reached. Check your connection." } };
      }
    );
  };

  Hearth.statusLabel = function (state) {
    var text = String(state || "unknown").replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  };

  Hearth.setBadge = function (badge, state) {
    if (!badge) return;
    badge.className = "badge status-" + String(state).replace(/[^a-z_]/g, "");
    badge.dataset.status = state;
    badge.textContent = Hearth.statusLabel(state);
  };

  /* One WebSocket to /ws that reconnects with backoff and subscribes again after each reconnect. */
  function Live(onMessage) {
    this.onMessage = onMessage;
    this.subscriptions = new Map();
    this.socket = null;
    this.attempts = 0;
    this.openedAt = 0;
    this.connections = 0;
    this.timer = null;
    this.indicator = document.getElementById("connection");
    this.onOpen = null; // called with true when a reconnect (not the first connection) opens
  }

  Live.prototype.url = function () {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  };

  Live.prototype.isOpen = function () {
    return !!this.socket && this.socket.readyState === WebSocket.OPEN;
  };

  Live.prototype.send = function (message) {
    if (!this.isOpen()) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  };

  Live.prototype.subscribe = function (serverId, events) {
    this.subscriptions.set(serverId, events);
    this.send({ type: "subscribe", serverId: serverId, events: events });
  };

  Live.prototype.show = function (state, text) {
    if (!this.indicator) return;
    this.indicator.hidden = false;
    this.indicator.dataset.state = state;
    this.indicator.textContent = text;
  };

  Live.prototype.connect = function () {
    var live = this;
    clearTimeout(this.timer);
    this.show("connecting", "Connecting…");
    var socket = (this.socket = new WebSocket(this.url()));
    socket.addEventListener("open", function () {
      live.openedAt = Date.now();
      live.connections += 1;
      live.show("live", "Live");
      live.subscriptions.forEach(function (events, serverId) {
        live.send({ type: "subscribe", serverId: serverId, events: events });
      });
      if (live.onOpen) live.onOpen(live.connections > 1);
    });
    socket.addEventListener("message", function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (message && typeof message.type === "string") live.onMessage(message, live);
    });
    socket.addEventListener("close", function (event) {
      if (socket !== live.socket) return;
      if (event.code === 4401) {
        live.show("offline", "Signed out");
        location.assign(Hearth.loginUrl());
        return;
      }
      // A connection that stayed up a while was healthy: start the backoff again from the bottom.
      if (live.openedAt && Date.now() - live.openedAt > 10000) live.attempts = 0;
      live.openedAt = 0;
      var delay = Math.min(30000, 1000 * Math.pow(2, live.attempts));
      if (event.code === 4429) delay = Math.max(delay, 10000);
      delay = Math.round(delay * (0.75 + Math.random() / 2));
      live.attempts += 1;
      live.show("offline", "Reconnecting in " + Math.ceil(delay / 1000) + " s");
      live.timer = setTimeout(function () { live.connect(); }, delay);
    });
  };

  Hearth.Live = Live;

  var notice = null;
  var noticeTimer = null;
  Hearth.notify = function (text) {
    notice = notice || document.getElementById("notice");
    if (!notice) return;
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 10000);
  };

  /* Copy `text` to the clipboard and say so on `button` for a moment; `unable(text)` when the browser
     will not (plain http outside localhost has no Clipboard API: a selected, off-screen field first). */
  Hearth.copy = function (text, button, unable) {
    function done() {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    function fallback() {
      var area = document.createElement("textarea");
      area.className = "visually-hidden";
      area.value = text;
      document.body.appendChild(area);
      area.select();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (err) {
        copied = false;
      }
      area.remove();
      if (!copied) unable(text);
      return copied;
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback() && done(); });
    } else if (fallback()) {
      done();
    }
  };

  /* An element with a class and a text (set as text, never as markup). */
  Hearth.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  Hearth.button = function (label, className, onClick) {
    var b = Hearth.el("button", "button button-small" + (className ? " " + className : ""), label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  };

  /* A line of a task list (<ul> `list`) with a progress bar: progress(percent, text) while it runs,
     finish(ok, text) at its end (a finished line goes by itself after 8 s); `item` and `name` are its
     elements. */
  Hearth.taskLine = function (list, label) {
    var item = list.appendChild(Hearth.el("li", "files-task"));
    var name = item.appendChild(Hearth.el("span", "task-name", label));
    var bar = item.appendChild(Hearth.el("progress"));
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", label);
    var state = item.appendChild(Hearth.el("span", "task-state muted small", "Waiting"));
    var dismiss = item.appendChild(Hearth.el("button", "button button-quiet button-small", "×"));
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.addEventListener("click", function () { item.remove(); });
    return {
      item: item,
      name: name,
      progress: function (percent, text) {
        bar.value = percent;
        state.textContent = text || percent + " %";
      },
      finish: function (ok, text) {
        bar.value = 100;
        item.classList.add(ok ? "task-done" : "task-failed");
        state.textContent = text;
        if (ok) setTimeout(function () { item.remove(); }, 8000);
      },
    };
  };

  /* A tab's notice element as notify(text, ok): shown as a success when ok, else as an error. */
  Hearth.notifier = function (notice) {
    return function notify(text, ok) {
      notice.textContent = text;
      notice.className = "notice " + (ok ? "notice-success" : "notice-error");
      notice.hidden = false;
    };
  };

  /* The API's own message for a refusal, else `fallback`. */
  Hearth.message = function (res, fallback) {
    return (res.body && res.body.message) || fallback;
  };

  /* A tab's confirmation dialog (#<prefix>-dialog, its -form, -title, -message, -ok and -cancel): returns
     ask(title, text, okLabel, then), which shows it and runs `then` once confirmed. */
  Hearth.confirmation = function (prefix) {
    var dialog = document.getElementById(prefix + "-dialog");
    var pending = null;
    document.getElementById(prefix + "-dialog-form").addEventListener("submit", function () {
      var then = pending;
      pending = null;
      if (then) then();
    });
    document.getElementById(prefix + "-dialog-cancel").addEventListener("click", function () {
      pending = null;
      dialog.close();
    });
    return function ask(title, text, okLabel, then) {
      document.getElementById(prefix + "-dialog-title").textContent = title;
      document.getElementById(prefix + "-dialog-message").textContent = text;
      document.getElementById(prefix + "-dialog-ok").textContent = okLabel;
      pending = then;
      dialog.showModal();
    };
  };
})(window.Hearth);
