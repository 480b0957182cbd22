/* The server page's Files tab: browsing with breadcrumbs, the editor and the SFTP login.
   Changes (upload, rename, delete, archives) are in files-actions.js. Every name is put in the page with
   textContent, never as markup: file names are chosen by whoever controls the server's files. */
"use strict";

(function (Hearth) {
  var panel = document.getElementById("panel-files");
  if (!panel) return;
  var data = Hearth.pageData();
  var limits = data.files || {};
  var may = limits.may; // {read, write, delete}: file.read, file.write, file.delete on this server
  var base = "/api/servers/" + data.serverId + "/files";
  var ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.zst|tzst|zip)$/i;
  var MODES = [
    [/\.(properties|ini|cfg|conf|lang|env)$/i, "text/x-properties"],
    [/\.(ya?ml)$/i, "text/x-yaml"],
    [/\.(json|mcmeta|json5)$/i, "application/json"],
    [/\.toml$/i, "text/x-toml"],
    [/\.(js|mjs)$/i, "text/javascript"],
  ];

  var files = (Hearth.files = {
    base: base,
    may: may,
    limits: limits,
    path: "/",
    entries: [],
    selected: new Set(),
    isArchive: function (name) { return ARCHIVE.test(name); },
  });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  files.el = el;

  files.join = function (dir, name) {
    return (dir === "/" ? "" : dir) + "/" + name;
  };

  files.query = function (path) {
    return "?path=" + encodeURIComponent(path);
  };

  files.message = function (res, fallback) {
    return (res.body && res.body.message) || fallback;
  };

  var notice = document.getElementById("files-notice");
  var noticeTimer = null;
  /* The API's refusals, shown at the top of the Files tab (the page's own notice may be far above). */
  files.notify = function (text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 10000);
    if (notice.getBoundingClientRect().top < 0) notice.scrollIntoView({ block: "nearest" });
  };

  files.formatBytes = function (bytes) {
    var units = ["B", "KB", "MB", "GB", "TB"];
    var value = Number(bytes) || 0;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : value) + " " + units[unit];
  };

  function formatTime(iso) {
    var when = new Date(iso);
    return isNaN(when) ? "" : when.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  function symbolicMode(mode, isDirectory) {
    var digits = String(mode || "").slice(-3);
    if (!/^[0-7]{3}$/.test(digits)) return "";
    var out = isDirectory ? "d" : "-";
    for (var i = 0; i < 3; i++) {
      var bits = Number(digits[i]);
      out += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
    }
    return out;
  }

  // --- the tab (tabs.js) -----------------------------------------------------------------------------

  Hearth.tabs.add("files", {
    hash: function () { return hashFor(files.path); },
    show: function (value) {
      var path = pathFromHash(value);
      if (path !== files.path || !files.loaded) files.open(path);
    },
  });

  // The folder is in the address (#files=/plugins), so reloading or going back keeps the place.
  function hashFor(path) {
    return "#files=" + encodeURIComponent(path).replace(/%2F/g, "/");
  }

  function pathFromHash(raw) {
    try {
      return decodeURIComponent(raw || "") || "/";
    } catch (err) {
      return "/";
    }
  }

  // --- the listing --------------------------------------------------------------------------------

  var crumbs = document.getElementById("files-crumbs");
  var rows = document.getElementById("files-rows");
  var empty = document.getElementById("files-empty");
  var loading = document.getElementById("files-loading");
  var selectAll = document.getElementById("files-select-all");
  var selectionBar = document.getElementById("files-selection");
  var selectedCount = document.getElementById("files-selected-count");
  var checkable = !!selectAll;

  function renderCrumbs(path) {
    crumbs.textContent = "";
    var parts = path.split("/").filter(Boolean);
    var trail = [{ name: "Files", path: "/" }];
    parts.forEach(function (part, i) {
      trail.push({ name: part, path: "/" + parts.slice(0, i + 1).join("/") });
    });
    trail.forEach(function (crumb, i) {
      if (i) crumbs.appendChild(el("span", "crumb-sep", "/")).setAttribute("aria-hidden", "true");
      if (i === trail.length - 1) {
        var here = crumbs.appendChild(el("span", "crumb-here", crumb.name));
        here.setAttribute("aria-current", "location");
      } else {
        var link = crumbs.appendChild(el("a", "crumb", crumb.name));
        link.href = hashFor(crumb.path);
      }
    });
  }

  function sortEntries(entries) {
    return entries.slice().sort(function (a, b) {
      if (a.isDirectory !== b.isDirectory) return a.isDirectory ? -1 : 1;
      return a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" });
    });
  }

  function updateSelection() {
    if (!checkable) return;
    var count = files.selected.size;
    selectionBar.hidden = count === 0;
    selectedCount.textContent = count + (count === 1 ? " item selected" : " items selected");
    selectAll.checked = count > 0 && count === files.entries.length;
    selectAll.indeterminate = count > 0 && count < files.entries.length;
  }
  files.updateSelection = updateSelection;

  function nameCell(entry) {
    var cell = el("td", "col-name");
    var path = files.join(files.path, entry.name);
    var icon = el("span", "file-icon " + (entry.isDirectory ? "icon-dir" : entry.isSymlink ? "icon-link" : "icon-file"));
    icon.setAttribute("aria-hidden", "true");
    cell.appendChild(icon);
    var link = cell.appendChild(el("a", "file-name", entry.name));
    link.dataset.name = entry.name;
    if (entry.isDirectory) {
      link.href = hashFor(path);
    } else {
      link.href = "#";
      link.addEventListener("click", function (event) {
        event.preventDefault();
        if (entry.isSymlink) openLink(path, entry);
        else files.edit(path, entry);
      });
    }
    if (entry.isSymlink) cell.appendChild(el("span", "muted small link-note", " (link)"));
    // At phone width the size and date columns are hidden; they show under the name instead.
    cell.appendChild(
      el("span", "file-meta", entry.isDirectory ? formatTime(entry.modified) : files.formatBytes(entry.size) + " · " + formatTime(entry.modified))
    );
    return cell;
  }

  function row(entry) {
    var tr = el("tr");
    tr.dataset.name = entry.name;
    if (checkable) {
      var check = el("input");
      check.type = "checkbox";
      check.setAttribute("aria-label", "Select " + entry.name);
      check.checked = files.selected.has(entry.name);
      check.addEventListener("change", function () {
        if (check.checked) files.selected.add(entry.name);
        else files.selected.delete(entry.name);
        updateSelection();
      });
      tr.appendChild(el("td", "col-check")).appendChild(check);
    }
    tr.appendChild(nameCell(entry));
    tr.appendChild(el("td", "col-size", entry.isDirectory ? "—" : files.formatBytes(entry.size)));
    tr.appendChild(el("td", "col-modified", formatTime(entry.modified)));
    var mode = tr.appendChild(el("td", "col-mode"));
    mode.appendChild(el("code", "", entry.mode || "")).title = symbolicMode(entry.mode, entry.isDirectory);
    var actions = tr.appendChild(el("td", "col-actions"));
    (files.rowActions || []).forEach(function (make) {
      var control = make(entry, files.join(files.path, entry.name));
      if (control) actions.appendChild(control);
    });
    return tr;
  }

  /* A link may name a folder or a file (inside the helper, whatever it points to): try it as a folder. */
  function openLink(path, entry) {
    Hearth.api("GET", base + files.query(path)).then(function (res) {
      if (res.ok) files.go(path);
      else files.edit(path, entry);
    });
  }

  function render() {
    rows.textContent = "";
    var fragment = document.createDocumentFragment();
    files.entries.forEach(function (entry) { fragment.appendChild(row(entry)); });
    rows.appendChild(fragment);
    empty.hidden = files.entries.length > 0;
    updateSelection();
  }
  files.render = render;

  var generation = 0;
  files.open = function (path) {
    if (editing && !closeEditor()) return Promise.resolve();
    var mine = ++generation; // a slow answer for a folder left since must not replace the newer one
    files.path = path;
    files.loaded = true;
    renderCrumbs(path);
    loading.hidden = false;
    return Hearth.api("GET", base + files.query(path)).then(function (res) {
      if (mine !== generation) return;
      loading.hidden = true;
      if (!res.ok) {
        files.notify(files.message(res, "The folder could not be listed."));
        if (res.status === 400 || res.status === 404) rows.textContent = "";
        return;
      }
      files.entries = sortEntries(Array.isArray(res.body.data) ? res.body.data : []);
      var names = new Set(files.entries.map(function (e) { return e.name; }));
      files.selected.forEach(function (name) { if (!names.has(name)) files.selected.delete(name); });
      render();
    });
  };

  files.reload = function () {
    return files.open(files.path);
  };

  files.go = function (path) {
    files.selected.clear();
    if (location.hash === hashFor(path)) files.open(path);
    else location.hash = hashFor(path);
  };

  if (selectAll) {
    selectAll.addEventListener("change", function () {
      files.selected = new Set(selectAll.checked ? files.entries.map(function (e) { return e.name; }) : []);
      render();
    });
  }

  // --- the editor ------------------------------------------------------------------------------------

  var editorCard = document.getElementById("files-editor");
  var listCard = document.getElementById("files-card");
  var editorTitle = document.getElementById("editor-title");
  var editorState = document.getElementById("editor-state");
  var saveButton = document.getElementById("editor-save");
  var closeButton = document.getElementById("editor-close");
  var editorHost = document.getElementById("editor-host");
  var editor = null;
  var editing = null; // {path, clean generation}

  function modeFor(name) {
    for (var i = 0; i < MODES.length; i++) if (MODES[i][0].test(name)) return MODES[i][1];
    return null;
  }

  function dirty() {
    return !!editor && !!editing && !editor.isClean(editing.clean);
  }

  function showEditorState() {
    if (!editing) return;
    editorState.textContent = !may.write ? "Read-only" : dirty() ? "Unsaved changes" : "Saved";
    if (saveButton) saveButton.disabled = !dirty() || editing.saving;
  }

  files.edit = function (path, entry) {
    if (entry && !entry.isSymlink && limits.editorMaxBytes && entry.size > limits.editorMaxBytes) {
      files.notify(
        "This file is over the editor's limit of " + files.formatBytes(limits.editorMaxBytes) + ": download it instead."
      );
      return;
    }
    Hearth.api("GET", base + "/content" + files.query(path)).then(function (res) {
      if (!res.ok) return files.notify(files.message(res, "The file could not be opened."));
      var body = res.body.data;
      var content = typeof body === "string" ? body : (body && body.content) || "";
      openEditor(path, content);
    });
  };

  function openEditor(path, content) {
    var name = path.split("/").pop();
    editing = { path: path, clean: 0, saving: false };
    editorTitle.textContent = path;
    listCard.hidden = true;
    editorCard.hidden = false;
    if (!editor) {
      editor = window.CodeMirror(editorHost, {
        lineNumbers: true,
        lineWrapping: false,
        indentUnit: 2,
        tabSize: 4,
        viewportMargin: 50,
        readOnly: !may.write,
        extraKeys: {
          "Ctrl-S": function () { save(); },
          "Cmd-S": function () { save(); },
        },
      });
      editor.on("change", showEditorState);
    }
    editor.setOption("mode", modeFor(name));
    editor.setValue(content);
    editor.clearHistory();
    editing.clean = editor.changeGeneration(true);
    editor.refresh();
    editor.focus();
    showEditorState();
  }

  function closeEditor() {
    if (dirty() && !window.confirm("Discard the unsaved changes to " + editing.path + "?")) return false;
    editing = null;
    editorCard.hidden = true;
    listCard.hidden = false;
    return true;
  }
  files.closeEditor = closeEditor;

  function save() {
    if (!may.write || !editing || editing.saving) return;
    var target = editing;
    var generationSaved = editor.changeGeneration(true);
    target.saving = true;
    editorState.textContent = "Saving…";
    if (saveButton) saveButton.disabled = true;
    Hearth.api("PUT", base + "/content" + files.query(target.path), { content: editor.getValue() }).then(
      function (res) {
        target.saving = false;
        if (editing !== target) return;
        if (!res.ok) {
          files.notify(files.message(res, "The file was not saved."));
        } else {
          target.clean = generationSaved;
        }
        showEditorState();
      }
    );
  }

  if (saveButton) saveButton.addEventListener("click", save);
  closeButton.addEventListener("click", function () {
    if (closeEditor()) files.reload();
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty()) event.preventDefault();
  });

  // --- SFTP login, to copy ------------------------------------------------------------------------

  Array.prototype.forEach.call(panel.querySelectorAll("button[data-copy]"), function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      Hearth.copy(text, button, function () { files.notify("Copy it by hand: " + text); });
    });
  });

  // --- start --------------------------------------------------------------------------------------------

})(window.Hearth);
