/* The server page's Plugins tab (Mods on a mod server): what is installed in plugins/, mods/ and
   world/datapacks/ (enable, disable, update, uninstall after a confirmation, check for updates) and the
   install and update jobs followed to their end; plugins-find.js adds the search and the install.
   Names and versions are third-party text: every one is put in the page with textContent. Controls are
   made only for what the caller may do (the API checks again). */
"use strict";

(function (Hearth) {
  var panel = document.getElementById("panel-plugins");
  if (!panel) return;
  var data = Hearth.pageData();
  var config = data.plugins || {};
  var may = config.may || {};
  var seesJobs = !!(data.may || {}).read; // GET /jobs needs server.read
  var base = "/api/servers/" + data.serverId;

  var el = Hearth.el;
  var button = Hearth.button;
  var message = Hearth.message;
  var notify = Hearth.notifier(document.getElementById("plugins-notice"));
  var labels = {};
  (config.sources || []).forEach(function (source) { labels[source.name] = source.label; });

  function label(source) {
    return labels[source] || source || "";
  }

  function title(plugin) {
    return plugin.name || plugin.fileName;
  }

  function sourceClass(source) {
    return "badge plugin-badge source-" + String(source).replace(/[^a-z]/g, "");
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // --- the installed list -------------------------------------------------------------------------

  var rows = document.getElementById("plugins-rows");
  var empty = document.getElementById("plugins-empty");
  var loading = document.getElementById("plugins-loading");
  var count = document.getElementById("plugins-count");
  var modpack = document.getElementById("plugins-modpack");
  var checkButton = document.getElementById("plugins-check");
  var updateAll = document.getElementById("plugins-update-all");
  var loaded = false;
  var updates = 0;
  var installed = {}; // "source:projectId" → the installed entry, for the search's results

  function load() {
    if (!loaded) loading.hidden = false;
    return Hearth.api("GET", base + "/plugins").then(function (res) {
      loading.hidden = true;
      if (!res.ok) return notify(message(res, "The installed plugins could not be listed."));
      loaded = true;
      render(res.body.data || {});
    });
  }

  function render(answer) {
    var list = answer.plugins || [];
    installed = {};
    rows.replaceChildren();
    list.forEach(function (plugin) {
      if (plugin.source && plugin.projectId) installed[plugin.source + ":" + plugin.projectId] = plugin;
      rows.appendChild(row(plugin));
    });
    empty.hidden = list.length > 0;
    count.textContent = plural(list.length, "file", "files");
    updates = list.filter(function (plugin) { return plugin.update; }).length;
    if (updateAll) {
      updateAll.hidden = !updates;
      updateAll.textContent = "Update all (" + updates + ")";
    }
    showModpack(answer.modpack);
    plugins.rendered();
  }

  function showModpack(pack) {
    modpack.hidden = !pack;
    if (!pack) return;
    var when = pack.installedAt ? new Date(pack.installedAt).toLocaleDateString() : "";
    modpack.replaceChildren(
      el("strong", "", "Modpack: "),
      document.createTextNode(
        [pack.name, pack.version].filter(Boolean).join(" ") +
          " from " + label(pack.source) + ", " + plural(pack.files || 0, "file", "files") +
          (when ? ", installed " + when : "") + "."
      )
    );
  }

  function sourceBadge(plugin) {
    if (plugin.origin === "manual" || !plugin.source) return el("span", "badge plugin-badge", "uploaded");
    var badge = el("span", sourceClass(plugin.source), label(plugin.source));
    if (plugin.origin === "identified") {
      badge.textContent += " (recognised)";
      badge.title = "Uploaded by hand; " + label(plugin.source) + " knows this file.";
    }
    return badge;
  }

  function row(plugin) {
    var tr = el("tr");
    tr.dataset.path = plugin.path;
    var name = tr.appendChild(el("td", "col-name"));
    name.appendChild(el("strong", "plugin-name", title(plugin)));
    if (plugin.type && plugin.type !== "plugin") name.appendChild(el("span", "muted small", " " + plugin.type));

    var version = tr.appendChild(el("td", "plugin-version"));
    version.appendChild(el("span", "", plugin.version || "—"));
    if (plugin.update) version.appendChild(updateControl(plugin));

    tr.appendChild(el("td")).appendChild(sourceBadge(plugin));
    tr.appendChild(el("td", "col-file")).appendChild(el("code", "", plugin.directory + "/" + plugin.fileName));
    tr.appendChild(enabledCell(plugin));

    var actions = tr.appendChild(el("td", "col-actions"));
    if (may.delete) {
      var remove = button("Uninstall…", "button-danger", function () { confirmUninstall(plugin); });
      remove.setAttribute("aria-label", "Uninstall " + title(plugin));
      actions.appendChild(remove);
    }
    return tr;
  }

  function updateControl(plugin) {
    var text = "Update to " + plugin.update.version;
    if (!may.write) return el("span", "badge plugin-badge plugin-update", text);
    var control = button(text, "button-primary plugin-update", function () {
      control.disabled = true;
      update([plugin.path], "Updating " + plugin.name + " to " + plugin.update.version, control);
    });
    control.setAttribute("aria-label", "Update " + plugin.name + " to " + plugin.update.version);
    return control;
  }

  function enabledCell(plugin) {
    var td = el("td", "plugin-state");
    var state = el("span", plugin.enabled ? "" : "muted", plugin.enabled ? "Enabled" : "Disabled");
    if (!may.write) {
      td.appendChild(state);
      return td;
    }
    var toggle = el("label", "plugin-switch");
    var input = toggle.appendChild(el("input"));
    input.type = "checkbox";
    input.setAttribute("role", "switch");
    input.checked = !!plugin.enabled;
    input.setAttribute("aria-label", "Enable " + title(plugin));
    toggle.appendChild(state);
    input.addEventListener("change", function () {
      var on = input.checked;
      input.disabled = true;
      var path = base + "/plugins/" + (on ? "enable" : "disable");
      Hearth.api("POST", path, { path: plugin.path }).then(function (res) {
        input.disabled = false;
        if (!res.ok) {
          input.checked = !on;
          return notify(message(res, title(plugin) + " was not " + (on ? "enabled." : "disabled.")));
        }
        notify(title(plugin) + (on ? " enabled: the server loads it from its next start." :
          " disabled: the server no longer loads it from its next start."), true);
        load();
      });
    });
    td.appendChild(toggle);
    return td;
  }

  checkButton.addEventListener("click", function () {
    checkButton.disabled = true;
    checkButton.textContent = "Checking…";
    Hearth.api("POST", base + "/plugins/check-updates").then(function (res) {
      checkButton.disabled = false;
      checkButton.textContent = "Check for updates";
      if (!res.ok) return notify(message(res, "The updates could not be checked."));
      var answer = res.body.data || {};
      render(answer);
      notify(answer.updates ? plural(answer.updates, "update", "updates") + " available." :
        "Everything is up to date.", true);
    });
  });

  if (updateAll) {
    updateAll.addEventListener("click", function () {
      updateAll.disabled = true;
      update(null, "Updating " + plural(updates, "file", "files"), null).then(function () {
        updateAll.disabled = false;
      });
    });
  }

  function update(paths, text, control) {
    return Hearth.api("POST", base + "/plugins/update", paths ? { paths: paths } : {}).then(function (res) {
      if (!res.ok) {
        if (control) control.disabled = false;
        return notify(message(res, "The update did not start."));
      }
      follow(res.body.jobId || (res.body.data || {}).jobId, task(text), "Updated");
    });
  }

  // --- uninstall ------------------------------------------------------------------------------------

  var ask = Hearth.confirmation("plugins");

  function confirmUninstall(plugin) {
    var name = title(plugin);
    ask(
      "Uninstall " + name + "?",
      plugin.directory + "/" + plugin.fileName + " is deleted from the server's files. Its configuration " +
        "folder, if it made one, stays. A running server keeps it loaded until it restarts.",
      "Uninstall",
      function () {
        Hearth.api("POST", base + "/plugins/uninstall", { path: plugin.path }).then(function (res) {
          if (!res.ok) return notify(message(res, name + " was not uninstalled."));
          notify("Uninstalled " + name + ".", true);
          load();
        });
      }
    );
  }

  // --- jobs: install and update, each a line with a progress bar ------------------------------------

  var tasks = document.getElementById("plugins-tasks");
  var watched = new Map(); // job id → {end, line, finished}
  var polling = null;

  function task(text) {
    return Hearth.taskLine(tasks, text);
  }

  /* Follow the job to its end; `done(ok)` then, and the installed list is read again. */
  function follow(jobId, line, finished, done) {
    var end = function (ok, said) {
      line.finish(ok, said);
      if (done) done(ok);
      load();
    };
    if (!jobId) return end(true, finished);
    if (!seesJobs) {
      // Without server.read the job's end is not visible: the list is read again a little later.
      line.finish(true, "Started");
      setTimeout(load, 3000);
      setTimeout(load, 15000);
      if (done) done(true);
      return;
    }
    watched.set(String(jobId), { end: end, line: line, finished: finished });
    line.progress(0, "Queued");
    if (!polling) polling = setTimeout(poll, 500);
  }

  function jobUpdate(job) {
    var id = String(job.id || job.jobId || "");
    var watch = watched.get(id);
    if (!watch) return;
    if (job.status === "succeeded") {
      watched.delete(id);
      watch.end(true, watch.finished);
    } else if (job.status === "failed") {
      watched.delete(id);
      watch.end(false, job.error || "Failed");
    } else if (job.status === "running") {
      watch.line.progress(Number(job.progress) || 0);
    }
  }

  function poll() {
    if (!watched.size) {
      polling = null;
      return;
    }
    Hearth.api("GET", base + "/jobs").then(function (res) {
      if (res.ok) (res.body.data || []).forEach(jobUpdate);
      polling = setTimeout(poll, 1000);
    });
  }

  // --- for plugins-find.js, and the tab (tabs.js) -----------------------------------------------------

  var plugins = (Hearth.plugins = {
    base: base,
    may: may,
    config: config,
    notify: notify,
    label: label,
    plural: plural,
    sourceClass: sourceClass,
    task: task,
    follow: follow,
    /* The installed entry of a project ("source:projectId"), or undefined. */
    installed: function (key) { return installed[key]; },
    rendered: function () {}, // after each listing
    shown: function () {}, // each time the tab is shown
  });

  Hearth.tabs.add("plugins", {
    hash: function () { return "#plugins"; },
    show: function () {
      load();
      plugins.shown();
    },
  });
})(window.Hearth);
