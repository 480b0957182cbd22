/* The server page's Databases tab: the list with each database's connection details to copy (the
   password hidden until shown), create (on a host the server's node may use), a new password and delete
   after a confirmation. Controls are made only for what the caller may do (the API checks again); every
   value is put in the page with textContent. */
"use strict";

(function (Hearth) {
  var panel = document.getElementById("panel-databases");
  if (!panel) return;
  var data = Hearth.pageData();
  var may = (data.databases || {}).may || {};
  var limit = (data.databases || {}).limit;
  var base = "/api/servers/" + data.serverId + "/databases";
  var rows = document.getElementById("databases-rows");
  var empty = document.getElementById("databases-empty");
  var loading = document.getElementById("databases-loading");
  var count = document.getElementById("databases-count");
  var notice = document.getElementById("databases-notice");
  var loaded = false;
  var hostsLoaded = false;

  var el = Hearth.el;
  var button = Hearth.button;

  var notify = Hearth.notifier(notice);
  var message = Hearth.message;

  function copyable(text, label) {
    var td = el("td", "database-value");
    td.appendChild(el("code", "", text));
    var copy = td.appendChild(button("Copy", "copy", function () {
      Hearth.copy(text, copy, function () { notify("Copy it by hand: " + text); });
    }));
    copy.setAttribute("aria-label", "Copy the " + label);
    return td;
  }

  // --- the list -------------------------------------------------------------------------------------

  function load() {
    if (!loaded) loading.hidden = false;
    return Hearth.api("GET", base).then(function (res) {
      loading.hidden = true;
      if (!res.ok) return notify(message(res, "The databases could not be listed."));
      loaded = true;
      render(res.body.data || []);
    });
  }

  function render(databases) {
    rows.replaceChildren();
    databases.forEach(function (database) { rows.appendChild(row(database)); });
    empty.hidden = databases.length > 0;
    var said = databases.length === 1 ? "1 database" : databases.length + " databases";
    count.textContent = limit !== undefined ? said + " of " + limit : said;
  }

  function row(database) {
    var tr = el("tr");
    tr.dataset.databaseId = database.id;
    var name = tr.appendChild(copyable(database.name, "database name"));
    name.classList.add("col-name");
    tr.appendChild(copyable(database.username, "username"));
    tr.appendChild(password(database));
    tr.appendChild(copyable(database.host + ":" + database.port, "address"));
    tr.appendChild(el("td", "muted", database.remote === "%" ? "anywhere" : database.remote));
    tr.appendChild(actions(database));
    return tr;
  }

  function password(database) {
    var td = el("td", "database-value database-password");
    var code = td.appendChild(el("code", "", "••••••••"));
    var shown = false;
    var toggle = td.appendChild(button("Show", "", function () {
      shown = !shown;
      code.textContent = shown ? database.password : "••••••••";
      toggle.textContent = shown ? "Hide" : "Show";
    }));
    toggle.setAttribute("aria-label", "Show the password of " + database.name);
    var copy = td.appendChild(button("Copy", "copy", function () {
      Hearth.copy(database.password, copy, function () { notify("Show the password and copy it by hand."); });
    }));
    copy.setAttribute("aria-label", "Copy the password of " + database.name);
    return td;
  }

  function actions(database) {
    var td = el("td", "col-actions database-actions");
    if (may.rotate) td.appendChild(button("New password…", "", function () { confirmRotate(database); }));
    if (may.delete) td.appendChild(button("Delete…", "button-danger", function () { confirmDelete(database); }));
    return td;
  }

  // --- create ---------------------------------------------------------------------------------------

  var form = document.getElementById("database-create");

  function loadHosts() {
    if (!form || hostsLoaded) return;
    Hearth.api("GET", base + "/hosts").then(function (res) {
      if (!res.ok) return;
      hostsLoaded = true;
      var hosts = res.body.data || [];
      var select = document.getElementById("database-host");
      select.replaceChildren();
      hosts.forEach(function (host) {
        var option = el("option", "", host.name + " (" + host.host + ":" + host.port + ")");
        option.value = host.id;
        select.appendChild(option);
      });
      document.getElementById("database-host-field").hidden = hosts.length < 2;
      if (!hosts.length) {
        notify("No database host serves this server's node yet: ask staff to add one.");
        document.getElementById("database-create-button").disabled = true;
      }
    });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { name: document.getElementById("database-name").value.trim() };
      var host = document.getElementById("database-host").value;
      var remote = document.getElementById("database-remote").value.trim();
      if (host) body.hostId = host;
      if (remote) body.remote = remote;
      var submit = document.getElementById("database-create-button");
      submit.disabled = true;
      Hearth.api("POST", base, body).then(function (res) {
        submit.disabled = false;
        if (!res.ok) return notify(message(res, "The database could not be created."));
        notify("Database " + res.body.data.name + " created.", true);
        form.reset();
        load();
      });
    });
  }

  // --- confirmations: a new password and delete -----------------------------------------------------

  var ask = Hearth.confirmation("databases");

  function confirmRotate(database) {
    ask(
      "New password for " + database.username + "?",
      "The current password stops working at once: update every plugin or program that uses " +
        database.name + " with the new one.",
      "Set a new password",
      function () {
        Hearth.api("POST", base + "/" + database.id + "/rotate").then(function (res) {
          if (!res.ok) return notify(message(res, "The password could not be changed."));
          notify("New password set for " + database.username + ".", true);
          load();
        });
      }
    );
  }

  function confirmDelete(database) {
    ask(
      "Delete " + database.name + "?",
      "The database, all its tables and its user " + database.username + " are dropped for good; " +
        "this cannot be undone.",
      "Delete",
      function () {
        Hearth.api("DELETE", base + "/" + database.id).then(function (res) {
          if (!res.ok) return notify(message(res, "The database could not be deleted."));
          notify("Deleted " + database.name + ".", true);
          load();
        });
      }
    );
  }

  // --- the tab (tabs.js) ----------------------------------------------------------------------------

  Hearth.tabs.add("databases", {
    hash: function () { return "#databases"; },
    show: function () {
      load();
      loadHosts();
    },
  });
})(window.Hearth);
