/* The server page's Notifications tab: where this server's alerts go (a Discord channel's webhook, any
   webhook, an email address) through /api/servers/<id>/notifications: add, test, remove. */
"use strict";

(function (Hearth) {
  var panel = document.getElementById("panel-notifications");
  if (!panel) return;
  var data = Hearth.pageData();
  var base = "/api/servers/" + data.serverId + "/notifications";
  var $ = function (id) { return document.getElementById(id); };
  var rows = $("notifications-rows");
  var form = $("notification-form");
  var EVENTS = { server_crashed: "Crashes", resource_threshold: "Resource thresholds", server_expiring: "Expiry reminders" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  var noticeTimer = null;
  function notify(text, ok, level) {  // level "info": neither a success nor an error (a queued test)
    var notice = $("notifications-notice");
    notice.className = "notice " + (level === "info" ? "notice-info" : ok ? "notice-success" : "notice-error");
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 10000);
  }

  var message = Hearth.message;

  function button(label, onClick) {
    var b = el("button", "button button-small", label);
    b.type = "button";
    b.addEventListener("click", function () { onClick(b); });
    return b;
  }

  function test(notification, b) {
    b.disabled = true;
    Hearth.api("POST", base + "/" + notification.id + "/test").then(function (res) {
      b.disabled = false;
      if (!res.ok) return notify(message(res, "The test could not be sent."));
      var deliveries = res.body.data.deliveries || [];
      var results = deliveries.map(outcome);
      var failed = deliveries.some(function (d) { return d.status === "failed"; });
      var queued = deliveries.some(function (d) { return d.status === "pending"; });
      notify(
        "Test: " + (results.join("; ") || "sent") + (queued ? " (its result shows under Last delivery)" : ""),
        !failed,
        !failed && queued ? "info" : null
      );
      if (queued) setTimeout(load, 5000);
    });
  }

  function outcome(d) {  // a delivery's status as a person reads it: "pending" is a queued send
    var status = d.status === "pending" ? "queued" : d.status;
    return status + (d.statusCode ? " (HTTP " + d.statusCode + ")" : "") + (d.error ? ": " + d.error : "");
  }

  function lastDelivery(notification) {
    var last = notification.lastDelivery;
    var cell = el("td", "small");
    if (!last) {
      cell.appendChild(el("span", "muted", "none yet"));
      return cell;
    }
    cell.appendChild(el("span", null, outcome(last)));
    if (last.lastAttemptAt) {
      cell.appendChild(el("span", "muted", " · " + new Date(last.lastAttemptAt).toLocaleString()));
    }
    return cell;
  }

  function remove(notification, b) {
    b.disabled = true;
    Hearth.api("DELETE", base + "/" + notification.id).then(function (res) {
      if (!res.ok) {
        b.disabled = false;
        return notify(message(res, "The notification could not be removed."));
      }
      load();
    });
  }

  function row(notification) {
    var tr = el("tr");
    tr.dataset.notificationId = notification.id;
    var where = el("td");
    where.appendChild(el("code", null, notification.kind === "email" ? notification.email : notification.url));
    if (!notification.enabled) where.appendChild(el("span", "muted small", " (off)"));
    tr.appendChild(where);
    tr.appendChild(el("td", "small", notification.kind === "email" ? "email" : notification.format));
    var events = notification.events.length ? notification.events : Object.keys(EVENTS);
    tr.appendChild(el("td", "small", events.map(function (e) { return EVENTS[e] || e; }).join(", ")));
    tr.appendChild(lastDelivery(notification));
    var actions = el("td");
    actions.appendChild(button("Send a test", function (b) { test(notification, b); }));
    actions.appendChild(button("Remove", function (b) { remove(notification, b); }));
    tr.appendChild(actions);
    return tr;
  }

  function load() {
    Hearth.api("GET", base).then(function (res) {
      if (!res.ok) return notify(message(res, "The notifications could not be loaded."));
      rows.replaceChildren.apply(rows, res.body.data.map(row));
      $("notifications-empty").hidden = res.body.data.length > 0;
    });
  }

  function kindChanged() {
    var email = $("notification-kind").value === "email";
    $("notification-url-field").hidden = email;
    $("notification-format-field").hidden = email;
    $("notification-email-field").hidden = !email;
  }

  $("notification-kind").addEventListener("change", kindChanged);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var kind = $("notification-kind").value;
    var body = { kind: kind };
    if (kind === "email") body.email = $("notification-email").value.trim();
    else {
      body.url = $("notification-url").value.trim();
      body.format = $("notification-format").value;
    }
    body.events = Array.prototype.filter
      .call(form.querySelectorAll('input[name="events"]'), function (box) { return box.checked; })
      .map(function (box) { return box.value; });
    var error = $("notification-error");
    error.hidden = true;
    $("notification-add").disabled = true;
    Hearth.api("POST", base, body).then(function (res) {
      $("notification-add").disabled = false;
      if (!res.ok) {
        error.textContent = message(res, "The notification could not be added.");
        error.hidden = false;
        return;
      }
      $("notification-url").value = "";
      $("notification-email").value = "";
      load();
    });
  });

  Hearth.tabs.add("notifications", { show: load });
})(window.Hearth);
