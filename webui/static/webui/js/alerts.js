/* The alerts page: the alerts of the caller's servers (GET /api/alerts), open ones first, with a resolve
   button where the caller may resolve (POST /api/alerts/<id>/resolve). Text goes in with textContent. */
"use strict";

(function (Hearth) {
  var data = Hearth.pageData();
  var rows = document.getElementById("alerts-rows");
  var show = document.getElementById("alerts-show");
  var resolvable = new Set(data.resolvable || []);

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function when(iso) {
    var date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function mayResolve(alert) {
    return data.resolveAll || (alert.serverId && resolvable.has(alert.serverId));
  }

  function row(alert) {
    var tr = el("tr");
    tr.dataset.alertId = alert.id;
    tr.appendChild(el("td", "small", when(alert.createdAt)));
    tr.appendChild(el("td", "severity-" + alert.severity, alert.severity));
    var what = el("td");
    what.appendChild(el("strong", null, alert.title));
    if (alert.message) what.appendChild(el("div", "muted small", alert.message));
    if (alert.occurrences > 1) what.appendChild(el("div", "muted small", "seen " + alert.occurrences + " times"));
    tr.appendChild(what);
    var server = el("td");
    if (alert.serverId) {
      var link = el("a", null, (data.serverNames || {})[alert.serverId] || alert.serverId);
      link.href = "/servers/" + alert.serverId;
      server.appendChild(link);
    } else {
      server.textContent = alert.nodeId ? "a node" : "—";
    }
    tr.appendChild(server);
    tr.appendChild(el("td", "small", alert.resolved ? "Resolved " + when(alert.resolvedAt) : "Open"));
    var actions = el("td");
    if (!alert.resolved && mayResolve(alert)) {
      var button = el("button", "button button-small", "Resolve");
      button.type = "button";
      button.addEventListener("click", function () {
        button.disabled = true;
        Hearth.api("POST", "/api/alerts/" + alert.id + "/resolve").then(function (res) {
          if (!res.ok) {
            button.disabled = false;
            Hearth.notify((res.body && res.body.message) || "The alert could not be resolved.");
            return;
          }
          load();
        });
      });
      actions.appendChild(button);
    }
    tr.appendChild(actions);
    return tr;
  }

  function load() {
    var query = "?limit=100" + (show.value ? "&resolved=" + show.value : "");
    Hearth.api("GET", "/api/alerts" + query).then(function (res) {
      if (!res.ok) {
        Hearth.notify((res.body && res.body.message) || "The alerts could not be loaded.");
        return;
      }
      rows.replaceChildren.apply(rows, res.body.data.map(row));
      document.getElementById("alerts-empty").hidden = res.body.data.length > 0;
      var total = res.body.pagination ? res.body.pagination.total : res.body.data.length;
      document.getElementById("alerts-count").textContent = total + " alert" + (total === 1 ? "" : "s");
    });
  }

  show.addEventListener("change", load);
  load();
})(window.Hearth);
