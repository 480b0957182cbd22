/* The server page's Backups tab: the list (with a progress bar while one is made), create, download,
   lock and unlock, restore after a confirmation that names what will be replaced, and delete. Controls
   are made only for what the caller may do (the API checks again). Names are put in the page with
   textContent, never as markup: a backup's name is whatever its maker typed. */
"use strict";

(function (Hearth) {
  var panel = document.getElementById("panel-backups");
  if (!panel) return;
  var data = Hearth.pageData();
  var may = (data.backups || {}).may || {};
  var serverName = (data.backups || {}).serverName || "this server";
  var base = "/api/servers/" + data.serverId + "/backups";
  var rows = document.getElementById("backups-rows");
  var empty = document.getElementById("backups-empty");
  var loading = document.getElementById("backups-loading");
  var count = document.getElementById("backups-count");
  var notice = document.getElementById("backups-notice");
  var POLL_MS = 1500;
  var pollTimer = null;
  var loaded = false;
  var restoring = null; // {job, name} while a restore we started runs

  var el = Hearth.el;
  var button = Hearth.button;

  var notify = Hearth.notifier(notice);
  var message = Hearth.message;

  function size(bytes) {
    if (!bytes) return "—";
    var units = ["B", "KB", "MB", "GB", "TB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "—";
  }

  // --- the list -------------------------------------------------------------------------------------

  function load() {
    if (!loaded) loading.hidden = false;
    return Hearth.api("GET", base).then(function (res) {
      loading.hidden = true;
      if (!res.ok) return notify(message(res, "The backups could not be listed."));
      loaded = true;
      render(res.body.data || []);
    });
  }

  function render(backups) {
    rows.replaceChildren();
    backups.forEach(function (backup) { rows.appendChild(row(backup)); });
    empty.hidden = backups.length > 0;
    count.textContent = backups.length === 1 ? "1 backup" : backups.length + " backups";
    var busy = backups.some(function (b) { return b.status === "pending" || b.status === "in_progress"; });
    schedule(busy || restoring !== null);
  }

  function row(backup) {
    var tr = el("tr");
    tr.dataset.backupId = backup.id;
    var name = tr.appendChild(el("td", "col-name"));
    name.appendChild(el("span", "backup-name", backup.name));
    if (backup.locked) name.appendChild(el("span", "badge backup-locked", "Locked"));
    if (backup.scheduled) name.appendChild(el("span", "muted small", " scheduled"));

    var status = tr.appendChild(el("td", "backup-status"));
    var badge = status.appendChild(el("span"));
    Hearth.setBadge(badge, backup.status);
    if (backup.status === "pending" || backup.status === "in_progress") {
      var bar = status.appendChild(el("progress"));
      bar.max = 100;
      bar.value = backup.progress || 0;
      bar.setAttribute("aria-label", "Backup progress");
    }
    if (backup.status === "failed" && backup.error) status.appendChild(el("p", "backup-error small", backup.error));

    tr.appendChild(el("td", "col-size", size(backup.sizeBytes)));
    tr.appendChild(el("td", "col-modified", when(backup.createdAt)));
    tr.appendChild(actions(backup));
    return tr;
  }

  function actions(backup) {
    var td = el("td", "col-actions backup-actions");
    var done = backup.status === "completed";
    if (may.download && done) {
      var link = td.appendChild(el("a", "button button-small", "Download"));
      link.href = base + "/" + backup.id + "/download";
      link.setAttribute("download", "");
    }
    if (may.delete) {
      td.appendChild(
        button(backup.locked ? "Unlock" : "Lock", "", function () {
          post(backup, backup.locked ? "unlock" : "lock", backup.locked ? "Unlocked " : "Locked ");
        })
      );
    }
    if (may.restore && done) td.appendChild(button("Restore…", "", function () { confirmRestore(backup); }));
    if (may.delete) {
      var del = td.appendChild(button("Delete…", "button-danger", function () { confirmDelete(backup); }));
      del.disabled = backup.locked || backup.status === "pending" || backup.status === "in_progress";
      if (backup.locked) del.title = "Unlock the backup to delete it.";
    }
    return td;
  }

  function post(backup, action, said) {
    return Hearth.api("POST", base + "/" + backup.id + "/" + action).then(function (res) {
      if (!res.ok) return notify(message(res, "The backup could not be changed."));
      notify(said + backup.name + ".", true);
      load();
    });
  }

  function schedule(again) {
    clearTimeout(pollTimer);
    if (again) pollTimer = setTimeout(tick, POLL_MS);
  }

  function tick() {
    if (restoring) watchRestore();
    load();
  }

  // --- create ---------------------------------------------------------------------------------------

  var form = document.getElementById("backup-create");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      var name = document.getElementById("backup-name").value.trim();
      var ignore = document.getElementById("backup-ignore").value.split(",").map(function (p) { return p.trim(); });
      if (name) body.name = name;
      ignore = ignore.filter(Boolean);
      if (ignore.length) body.ignore = ignore;
      var submit = document.getElementById("backup-create-button");
      submit.disabled = true;
      Hearth.api("POST", base, body).then(function (res) {
        submit.disabled = false;
        if (!res.ok) return notify(message(res, "The backup could not be started."));
        notify("Backup " + res.body.backupName + " started.", true);
        form.reset();
        load();
      });
    });
  }

  // --- confirmations: restore and delete ------------------------------------------------------------

  var ask = Hearth.confirmation("backups");

  function confirmRestore(backup) {
    ask(
      "Restore " + backup.name + "?",
      "This replaces every file of " + serverName + " with the files of backup " + backup.name +
        ", made " + when(backup.createdAt) + " (" + size(backup.sizeBytes) + "). Files created or changed " +
        "since then are lost. The server must be stopped, and stays stopped while its files are replaced.",
      "Replace the files",
      function () {
        Hearth.api("POST", base + "/" + backup.id + "/restore").then(function (res) {
          if (!res.ok) return notify(message(res, "The restore could not be started."));
          restoring = { job: res.body.jobId, name: backup.name };
          notify("Restoring " + backup.name + "…", true);
          schedule(true);
        });
      }
    );
  }

  function watchRestore() {
    var watched = restoring;
    Hearth.api("GET", "/api/servers/" + data.serverId + "/jobs").then(function (res) {
      if (!res.ok || restoring !== watched) return;
      var job = (res.body.data || []).filter(function (j) { return String(j.id) === String(watched.job); })[0];
      if (!job || job.status === "pending" || job.status === "running") return;
      restoring = null;
      if (job.status === "succeeded") notify("Backup " + watched.name + " restored.", true);
      else notify("The restore failed: " + (job.error || "see the console") + ". The files were left as they were.");
    });
  }

  function confirmDelete(backup) {
    ask(
      "Delete " + backup.name + "?",
      "The backup's archive (" + size(backup.sizeBytes) + ") is removed for good; this cannot be undone.",
      "Delete",
      function () {
        Hearth.api("DELETE", base + "/" + backup.id).then(function (res) {
          if (!res.ok) return notify(message(res, "The backup could not be deleted."));
          notify("Deleted " + backup.name + ".", true);
          load();
        });
      }
    );
  }

  // --- the tab (tabs.js) ----------------------------------------------------------------------------

  Hearth.tabs.add("backups", {
    hash: function () { return "#backups"; },
    show: function () { load(); },
  });
})(window.Hearth);
