/* The Files tab's changes: upload (progress, several files, drag and drop), download, new file and
   folder, rename, delete, archive and extract (jobs). Controls are only made for what the caller may do;
   the API checks again and its message is what the page shows when it refuses. */
"use strict";

(function (Hearth) {
  var files = Hearth.files;
  if (!files) return;
  var may = files.may;
  var el = files.el;
  var base = files.base;
  var serverId = Hearth.pageData().serverId;

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  // --- the dialog: ask a name, or confirm ---------------------------------------------------------

  var dialog = document.getElementById("files-dialog");
  var dialogForm = document.getElementById("files-dialog-form");
  var dialogTitle = document.getElementById("files-dialog-title");
  var dialogMessage = document.getElementById("files-dialog-message");
  var dialogField = document.getElementById("files-dialog-field");
  var dialogLabel = document.getElementById("files-dialog-label");
  var dialogInput = document.getElementById("files-dialog-input");
  var formatField = document.getElementById("files-dialog-format-field");
  var formatSelect = document.getElementById("files-dialog-format");
  var dialogOk = document.getElementById("files-dialog-ok");
  var pending = null;

  /* Resolves to the value typed (or true for a confirmation), or null when cancelled. */
  function ask(options) {
    if (pending) pending(null);
    dialogTitle.textContent = options.title;
    dialogMessage.textContent = options.message || "";
    dialogMessage.hidden = !options.message;
    dialogField.hidden = options.value === undefined;
    dialogLabel.textContent = options.label || "Name";
    dialogInput.value = options.value || "";
    formatField.hidden = !options.formats;
    dialogOk.textContent = options.confirm || "OK";
    dialogOk.classList.toggle("button-danger", !!options.danger);
    dialogOk.classList.toggle("button-primary", !options.danger);
    dialog.showModal();
    if (!dialogField.hidden) {
      dialogInput.focus();
      var dot = options.selectUntilDot ? dialogInput.value.indexOf(".") : -1;
      dialogInput.setSelectionRange(0, dot > 0 ? dot : dialogInput.value.length);
    } else {
      dialogOk.focus();
    }
    return new Promise(function (resolve) {
      pending = function (value) {
        pending = null;
        if (dialog.open) dialog.close();
        resolve(value);
      };
    });
  }

  dialogForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pending) return;
    if (dialogField.hidden) return pending(true);
    var value = dialogInput.value.trim();
    if (value) pending(value);
  });
  document.getElementById("files-dialog-cancel").addEventListener("click", function () {
    if (pending) pending(null);
  });
  dialog.addEventListener("close", function () {
    if (pending) pending(null); // Escape
  });
  formatSelect.addEventListener("change", function () {
    dialogInput.value = dialogInput.value.replace(/\.(tar\.gz|zip)$/i, "") + "." + formatSelect.value;
  });

  function refused(res, fallback) {
    if (res.ok) return false;
    files.notify(files.message(res, fallback));
    return true;
  }

  // --- tasks: uploads and jobs, each a line with a progress bar -------------------------------------

  var tasks = document.getElementById("files-tasks");

  function task(label) {
    return Hearth.taskLine(tasks, label);
  }

  // --- upload -----------------------------------------------------------------------------------------

  function uploadOne(file, dir, line) {
    return new Promise(function (resolve) {
      var max = files.limits.uploadMaxBytes;
      if (max && file.size > max) {
        line.finish(false, "Over the upload limit of " + files.formatBytes(max));
        return resolve(false);
      }
      var form = new FormData();
      form.append("path", dir);
      form.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", base + "/upload");
      xhr.setRequestHeader("X-CSRFToken", cookie("csrftoken"));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) line.progress(Math.round((100 * event.loaded) / event.total));
      };
      xhr.onload = function () {
        var body = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch (err) {
          body = {};
        }
        if (xhr.status === 401) location.assign(Hearth.loginUrl());
        var ok = xhr.status >= 200 && xhr.status < 300;
        line.finish(ok, ok ? "Uploaded" : body.message || "The upload failed (" + xhr.status + ").");
        resolve(ok);
      };
      xhr.onerror = function () {
        line.finish(false, "The panel could not be reached.");
        resolve(false);
      };
      line.progress(0, "Uploading");
      xhr.send(form);
    });
  }

  /* One request per file, in turn: each has its own bar and its own answer (one may be over a limit). */
  files.upload = function (list) {
    var chosen = Array.prototype.slice.call(list || []);
    if (!chosen.length) return Promise.resolve();
    var dir = files.path;
    var lines = chosen.map(function (file) { return task(file.name + " (" + files.formatBytes(file.size) + ")"); });
    return chosen
      .reduce(function (previous, file, i) {
        return previous.then(function () { return uploadOne(file, dir, lines[i]); });
      }, Promise.resolve())
      .then(function () { if (files.path === dir) files.reload(); });
  };

  var input = document.getElementById("files-upload-input");
  if (input) {
    input.addEventListener("change", function () {
      files.upload(input.files).then(function () { input.value = ""; });
    });
  }

  var card = document.getElementById("files-card");
  var drop = document.getElementById("files-drop");
  if (drop) {
    var depth = 0;
    var carriesFiles = function (event) {
      return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types || [], "Files") !== -1;
    };
    card.addEventListener("dragenter", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth += 1;
      drop.hidden = false;
    });
    card.addEventListener("dragover", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    card.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) drop.hidden = true;
    });
    card.addEventListener("drop", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      drop.hidden = true;
      files.upload(event.dataTransfer.files);
    });
  }

  // --- new file, new folder -------------------------------------------------------------------------

  function create(isDirectory) {
    ask({ title: isDirectory ? "New folder" : "New file", value: "", label: "Name", confirm: "Create" }).then(
      function (name) {
        if (!name) return;
        var path = files.join(files.path, name);
        var body = { path: path, isDirectory: isDirectory };
        if (!isDirectory) body.content = "";
        Hearth.api("POST", base + "/create", body).then(function (res) {
          if (refused(res, "It was not created.")) return;
          if (isDirectory) files.go(path);
          else files.reload().then(function () { files.edit(path); });
        });
      }
    );
  }

  var newFile = document.getElementById("files-new-file");
  if (newFile) newFile.addEventListener("click", function () { create(false); });
  var newFolder = document.getElementById("files-new-folder");
  if (newFolder) newFolder.addEventListener("click", function () { create(true); });

  // --- rename, delete ---------------------------------------------------------------------------------

  function rename(entry, path) {
    ask({ title: "Rename", value: entry.name, label: "New name", confirm: "Rename", selectUntilDot: !entry.isDirectory }).then(
      function (name) {
        if (!name || name === entry.name) return;
        // A name with "/" in it moves the entry: relative to this folder, or absolute.
        var target = name.charAt(0) === "/" ? name : files.join(files.path, name);
        Hearth.api("POST", base + "/rename", { from: path, to: target }).then(function (res) {
          if (!refused(res, "It was not renamed.")) files.reload();
        });
      }
    );
  }

  function remove(paths) {
    return paths.reduce(function (previous, path) {
      return previous.then(function (failed) {
        return Hearth.api("DELETE", base + files.query(path)).then(function (res) {
          return refused(res, path + " was not deleted.") || failed;
        });
      });
    }, Promise.resolve(false));
  }

  function confirmDelete(names) {
    var what = names.length === 1 ? "“" + names[0] + "”" : names.length + " items";
    return ask({
      title: "Delete " + what + "?",
      message: "Folders are deleted with everything in them. This cannot be undone.",
      confirm: "Delete",
      danger: true,
    }).then(function (yes) {
      if (!yes) return;
      return remove(names.map(function (name) { return files.join(files.path, name); })).then(function () {
        names.forEach(function (name) { files.selected.delete(name); });
        files.reload();
      });
    });
  }

  var deleteSelected = document.getElementById("files-delete-selected");
  if (deleteSelected) {
    deleteSelected.addEventListener("click", function () { confirmDelete(Array.from(files.selected)); });
  }

  // --- archives: compress and extract are jobs --------------------------------------------------------

  var watched = new Map(); // job id → its task line
  var polling = null;

  function jobFinished(id, ok, text) {
    var line = watched.get(id);
    if (!line) return;
    watched.delete(id);
    line.finish(ok, text);
    files.reload();
  }

  function jobUpdate(job) {
    var id = String(job.id || job.jobId || "");
    var line = watched.get(id);
    if (!line) return;
    if (job.status === "succeeded" || job.status === "completed") jobFinished(id, true, "Finished");
    else if (job.status === "failed") jobFinished(id, false, job.error || "Failed");
    else if (job.progress !== undefined && job.progress !== null) line.progress(Number(job.progress) || 0);
  }

  // The job list is the source of truth; WebSocket job messages (below) only make it quicker.
  function poll() {
    if (!watched.size) {
      polling = null;
      return;
    }
    Hearth.api("GET", "/api/servers/" + serverId + "/jobs").then(function (res) {
      if (!res.ok) {
        // No server.read: the job's end is not visible to this member; the listing shows the result.
        watched.forEach(function (line) { line.finish(true, "Started"); });
        watched.clear();
        polling = null;
        setTimeout(files.reload, 3000);
        return;
      }
      (res.body.data || []).forEach(jobUpdate);
      polling = setTimeout(poll, 1000);
    });
  }

  function watch(jobId, line) {
    if (!jobId) return line.finish(true, "Finished");
    watched.set(String(jobId), line);
    line.progress(0, "Queued");
    if (!polling) polling = setTimeout(poll, 500);
  }

  /* 200: the job ended while the API waited for it; 202: it goes on, and its progress is followed. */
  function settle(res, answer, line) {
    if (res.status === 202 && answer.jobId) return watch(answer.jobId, line);
    line.finish(true, "Finished");
    files.reload();
  }

  document.addEventListener("hearth:message", function (event) {
    var message = event.detail || {};
    if (/job/.test(message.type || "") && (message.jobId || message.id)) jobUpdate(message);
  });

  function stamp() {
    var now = new Date();
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return now.getFullYear() + pad(now.getMonth() + 1) + pad(now.getDate()) + "-" + pad(now.getHours()) + pad(now.getMinutes());
  }

  function archive(names) {
    formatSelect.value = "tar.gz";
    var suggested = (names.length === 1 ? names[0] : "archive-" + stamp()) + ".tar.gz";
    ask({ title: "Archive " + names.length + (names.length === 1 ? " item" : " items"), value: suggested, label: "Archive name", confirm: "Archive", formats: true }).then(
      function (name) {
        if (!name) return;
        var body = {
          paths: names.map(function (n) { return files.join(files.path, n); }),
          archiveName: name,
          format: formatSelect.value,
        };
        var line = task("Archiving into " + name);
        Hearth.api("POST", base + "/compress", body).then(function (res) {
          if (!res.ok) return line.finish(false, files.message(res, "The archive was not made."));
          var answer = res.body.data || res.body;
          line.name.textContent = "Archiving into " + (answer.archivePath || name);
          files.selected.clear();
          settle(res, answer, line);
        });
      }
    );
  }

  function extract(entry, path) {
    ask({ title: "Extract " + entry.name, value: files.path, label: "Into folder", confirm: "Extract" }).then(function (target) {
      if (!target) return;
      var into = target.charAt(0) === "/" ? target : files.join(files.path, target);
      var line = task("Extracting " + entry.name);
      Hearth.api("POST", base + "/decompress", { archivePath: path, targetPath: into }).then(function (res) {
        if (!res.ok) return line.finish(false, files.message(res, "The archive was not extracted."));
        settle(res, res.body.data || res.body, line);
      });
    });
  }

  var archiveButton = document.getElementById("files-archive");
  if (archiveButton) archiveButton.addEventListener("click", function () { archive(Array.from(files.selected)); });

  // --- the buttons of each row ----------------------------------------------------------------------

  function button(label, title, handler, className) {
    var control = el("button", "button button-small " + (className || ""), label);
    control.type = "button";
    control.title = title;
    control.setAttribute("aria-label", title);
    control.addEventListener("click", handler);
    return control;
  }

  files.rowActions = [
    function download(entry, path) {
      if (entry.isDirectory) return null;
      var link = el("a", "button button-small", "Download");
      link.href = base + "/download" + files.query(path);
      link.setAttribute("download", entry.name);
      link.setAttribute("aria-label", "Download " + entry.name);
      return link;
    },
    function extractButton(entry, path) {
      if (!may.write || entry.isDirectory || !files.isArchive(entry.name)) return null;
      return button("Extract", "Extract " + entry.name, function () { extract(entry, path); });
    },
    function renameButton(entry, path) {
      if (!may.write) return null;
      return button("Rename", "Rename " + entry.name, function () { rename(entry, path); });
    },
    function deleteButton(entry) {
      if (!may.delete) return null;
      return button("Delete", "Delete " + entry.name, function () { confirmDelete([entry.name]); }, "button-danger-quiet");
    },
  ];
  if (files.entries.length) files.render();
})(window.Hearth);
