/* The Plugins tab's search and install (plugins.js has the installed list): a search of the
   marketplace's sources (what fits the server at first; a source that fails is named above the results
   while the others still show), and Install, which first shows the plan (the files it writes, the
   dependencies it brings, the optional ones, any conflict, and a choice of version), then starts the
   install and follows its job. Names and descriptions are third-party text: all put in the page with
   textContent, links only when http(s), icons only from the sources' own https hosts (the page's
   img-src allows exactly those). */
"use strict";

(function (Hearth) {
  var plugins = Hearth.plugins;
  if (!plugins) return;
  var base = plugins.base;
  var may = plugins.may;
  var iconHosts = plugins.config.iconHosts || [];
  var plan = document.getElementById("plugins-plan"); // the install dialog: only with file.write
  var PER_PAGE = 20;

  var el = Hearth.el;
  var button = Hearth.button;
  var message = Hearth.message;
  var notify = plugins.notify;
  var label = plugins.label;
  var plural = plugins.plural;
  var installing = {}; // "source:projectId" → true while its install job runs

  function webUrl(text) {
    try {
      var url = new URL(text);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
    } catch (err) {
      return "";
    }
  }

  function iconUrl(text) {
    try {
      var url = new URL(text);
      return url.protocol === "https:" && iconHosts.indexOf(url.hostname) !== -1 ? url.href : "";
    } catch (err) {
      return "";
    }
  }

  var compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

  // --- search ---------------------------------------------------------------------------------------

  var form = document.getElementById("plugins-search");
  var results = document.getElementById("plugins-results");
  var status = document.getElementById("plugins-status");
  var sourceNotice = document.getElementById("plugins-sources");
  var pager = document.getElementById("plugins-pager");
  var previous = document.getElementById("plugins-previous");
  var next = document.getElementById("plugins-next");
  var pageLabel = document.getElementById("plugins-page");
  var field = function (id) { return document.getElementById("plugins-" + id); };
  var current = { page: 1, asked: 0 };
  var searched = false;

  function search(page) {
    var params = new URLSearchParams();
    params.set("query", field("query").value.trim());
    params.set("type", field("type").value);
    params.set("loader", field("loader").value);
    params.set("gameVersion", field("game-version").value.trim() || "any");
    params.set("sort", field("sort").value);
    if (field("source").value) params.set("source", field("source").value);
    params.set("page", String(page));
    params.set("limit", String(PER_PAGE));
    var asked = (current.asked += 1);
    status.textContent = "Searching…";
    field("search-button").disabled = true;
    return Hearth.api("GET", base + "/marketplace/search?" + params.toString()).then(function (res) {
      if (asked !== current.asked) return; // a newer search was asked meanwhile
      field("search-button").disabled = false;
      searched = true;
      if (!res.ok) {
        status.textContent = "";
        return notify(message(res, "The search failed."));
      }
      current.page = page;
      showResults(res.body.data || {}, params.get("source"), params.get("query"));
    });
  }

  function showResults(answer, chosenSource, text) {
    var list = answer.results || [];
    var sources = answer.sources || [];
    var failed = sources.filter(function (s) { return !s.ok || (chosenSource && s.skipped); });
    sourceNotice.replaceChildren();
    failed.forEach(function (s) {
      var said = s.error || s.skipped || "no answer.";
      var name = label(s.source);
      sourceNotice.appendChild(el("p", "", said.indexOf(name) === 0 ? said : name + ": " + said)); // most name it
    });
    sourceNotice.hidden = !failed.length;

    results.replaceChildren();
    list.forEach(function (project) { results.appendChild(result(project)); });
    markResults();
    var more = sources.some(function (s) { return s.ok && s.total && s.total > current.page * PER_PAGE; });
    pager.hidden = current.page === 1 && !more;
    previous.disabled = current.page === 1;
    next.disabled = !more;
    pageLabel.textContent = "Page " + current.page;
    var filters = answer.filters || {};
    var widen = filters.loader || filters.gameVersion ? " Try the loader or game version “any”." : "";
    var what = text ? " for “" + text + "”" : " that fit the server";
    status.textContent = list.length
      ? plural(list.length, "result", "results") + what + (current.page > 1 ? " on page " + current.page : "") + "."
      : "Nothing found" + what + "." + widen;
  }

  function result(project) {
    var item = el("li", "plugin-result");
    item.dataset.source = project.source;
    item.dataset.projectId = project.id;
    var src = iconUrl(project.iconUrl || "");
    if (src) {
      var img = item.appendChild(el("img", "plugin-icon"));
      img.alt = "";
      img.width = 48;
      img.height = 48;
      img.loading = "lazy";
      img.referrerPolicy = "no-referrer";
      img.src = src;
    } else {
      var initial = (project.name || "?").charAt(0).toUpperCase();
      item.appendChild(el("span", "plugin-icon plugin-icon-none", initial)).setAttribute("aria-hidden", "true");
    }

    var body = item.appendChild(el("div", "plugin-result-body"));
    var head = body.appendChild(el("h3", "plugin-result-name"));
    var link = webUrl(project.url || "");
    if (link) {
      var a = head.appendChild(el("a", "", project.name || project.slug || project.id));
      a.href = link;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    } else {
      head.textContent = project.name || project.slug || project.id;
    }
    var facts = body.appendChild(el("p", "muted small plugin-facts"));
    facts.appendChild(el("span", plugins.sourceClass(project.source), label(project.source)));
    // Some sources give an author or latest version as an id (a number) or a file name: not shown.
    var author = project.author || "";
    var latest = project.latestVersion || "";
    if (author && !/^\d+$/.test(author)) facts.appendChild(el("span", "", "by " + author));
    facts.appendChild(el("span", "", compact.format(project.downloads || 0) + " downloads"));
    if (latest && !/^\d+$|\.(jar|zip|mrpack)$/i.test(latest)) facts.appendChild(el("span", "", "Latest: " + latest));
    if (project.projectType) facts.appendChild(el("span", "", project.projectType));
    facts.appendChild(el("span", "plugin-installed", "")).hidden = true;
    if (project.description) body.appendChild(el("p", "plugin-description", project.description));

    if (may.write && plan) {
      item.appendChild(button("Install", "button-primary plugin-install", function () {
        planInstall(project);
      }));
    }
    return item;
  }

  /* Say which results are installed already (installing one again replaces it) or being installed:
     a new page of results shows the same. */
  function markResults() {
    Array.prototype.forEach.call(results.children, function (item) {
      var key = item.dataset.source + ":" + item.dataset.projectId;
      var here = plugins.installed(key);
      var badge = item.querySelector(".plugin-installed");
      badge.hidden = !here;
      badge.textContent = here ? "Installed" + (here.version ? " (" + here.version + ")" : "") : "";
      var control = item.querySelector(".plugin-install");
      if (!control) return;
      var name = item.querySelector(".plugin-result-name").textContent;
      var verb = installing[key] ? "Installing…" : here ? "Reinstall" : "Install";
      control.textContent = verb;
      control.disabled = !!installing[key];
      control.setAttribute("aria-label", installing[key] ? "Installing " + name + "…" : verb + " " + name);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    search(1);
  });
  previous.addEventListener("click", function () { search(Math.max(1, current.page - 1)); });
  next.addEventListener("click", function () { search(current.page + 1); });

  // --- install: the plan, confirmed, then the job ---------------------------------------------------

  var planning = { project: null, plan: null, asked: 0 };

  function planInstall(project) {
    planning = { project: project, plan: null, asked: planning.asked };
    field("plan-title").textContent = "Install " + (project.name || project.id) + "?";
    field("plan-version-field").hidden = true;
    field("plan-version").replaceChildren();
    plan.showModal();
    askPlan(null);
    loadVersions(project);
  }

  function askPlan(versionId) {
    var project = planning.project;
    var asked = (planning.asked += 1);
    var body = { source: project.source, projectId: project.id, dependencies: true };
    if (versionId) body.versionId = versionId;
    planning.plan = null;
    field("plan-ok").disabled = true;
    field("plan-body").hidden = true;
    field("plan-conflicts").hidden = true;
    field("plan-status").textContent = "Working out what to install…";
    Hearth.api("POST", base + "/marketplace/plan", body).then(function (res) {
      if (asked !== planning.asked) return;
      field("plan-status").textContent = "";
      if (!res.ok) return showConflicts([message(res, "It cannot be installed.")]);
      showPlan(res.body.data || {});
    });
  }

  function showConflicts(conflicts) {
    var box = field("plan-conflicts");
    box.replaceChildren();
    conflicts.forEach(function (text) { box.appendChild(el("p", "", text)); });
    box.hidden = !conflicts.length;
  }

  function showPlan(answer) {
    var steps = answer.steps || [];
    var list = field("plan-steps");
    list.replaceChildren();
    steps.forEach(function (step) {
      var item = list.appendChild(el("li"));
      item.appendChild(el("strong", "", step.projectName + " " + step.versionName));
      item.appendChild(document.createTextNode(" → "));
      item.appendChild(el("code", "", step.directory.replace(/\/$/, "") + "/" + step.filename));
      var why = step.reason === "requested" ? "" : step.reason;
      if (step.replaces) why = (why ? why + "; " : "") + "replaces " + step.replaces;
      if (why) item.appendChild(el("span", "muted small", " (" + why + ")"));
    });
    var optional = answer.optional || [];
    field("plan-optional").hidden = !optional.length;
    field("plan-optional").textContent = optional.length
      ? "Optional, not installed: " + optional.map(function (o) { return o.name || o.projectId; }).join(", ") +
        "."
      : "";
    field("plan-modpack").hidden = !steps.some(function (step) { return step.projectType === "modpack"; });
    field("plan-body").hidden = !steps.length;
    showConflicts(answer.conflicts || []);
    planning.plan = answer;
    field("plan-ok").disabled = !steps.length || (answer.conflicts || []).length > 0;
    field("plan-ok").textContent = steps.length > 1 ? "Install " + steps.length + " files" : "Install";
    if (steps.length) selectVersion(steps[0].versionId);
  }

  function loadVersions(project) {
    var path = "/marketplace/projects/" + encodeURIComponent(project.source) + "/" + encodeURIComponent(project.id);
    Hearth.api("GET", base + path).then(function (res) {
      if (planning.project !== project || !res.ok) return;
      var versions = ((res.body.data || {}).versions || []).filter(function (v) { return v.downloadable !== false; });
      var select = field("plan-version");
      select.replaceChildren();
      versions.forEach(function (version) {
        var day = version.published ? " (" + String(version.published).slice(0, 10) + ")" : "";
        var option = el("option", "", version.name + day);
        option.value = version.id;
        select.appendChild(option);
      });
      field("plan-version-field").hidden = versions.length < 2;
      var steps = (planning.plan || {}).steps || [];
      if (steps.length) selectVersion(steps[0].versionId);
    });
  }

  function selectVersion(versionId) {
    var select = field("plan-version");
    var listed = Array.prototype.some.call(select.options, function (o) { return o.value === versionId; });
    if (listed) select.value = versionId;
  }

  if (plan) {
    field("plan-version").addEventListener("change", function () { askPlan(field("plan-version").value); });
    field("plan-cancel").addEventListener("click", function () { plan.close(); });
    plan.addEventListener("close", function () { planning.asked += 1; }); // a late plan answer is ignored

    field("plan-form").addEventListener("submit", function () {
      var chosen = planning.plan;
      var project = planning.project;
      if (!chosen || !chosen.steps || !chosen.steps.length) return;
      var first = chosen.steps[0];
      var body = { source: project.source, projectId: project.id, versionId: first.versionId, dependencies: true };
      var others = chosen.steps.length - 1;
      var text = "Installing " + first.projectName + " " + first.versionName +
        (others ? " and " + plural(others, "dependency", "dependencies") : "");
      var key = project.source + ":" + project.id;
      installing[key] = true;
      markResults();
      Hearth.api("POST", base + "/marketplace/install", body).then(function (res) {
        if (!res.ok) {
          delete installing[key];
          markResults();
          var conflicts = (res.body && res.body.conflicts) || [];
          return notify(conflicts.length ? conflicts.join(" ") : message(res, "The install did not start."));
        }
        var jobId = res.body.jobId || (res.body.data || {}).jobId;
        plugins.follow(jobId, plugins.task(text), "Installed", function () {
          delete installing[key];
          markResults();
        });
        document.getElementById("plugins-installed").scrollIntoView({ block: "nearest" });
      });
    });
  }

  plugins.rendered = markResults;
  plugins.shown = function () {
    if (!searched) search(1); // what fits the server, before anything is typed
  };
})(window.Hearth);
