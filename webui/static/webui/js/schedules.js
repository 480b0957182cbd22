/* The server page's Schedules tab: the server's tasks, a form with the next five run times shown as the
   cron expression is typed (GET /api/tasks/preview), a steps editor, and each task's run history.
   Everything a user typed is put in the page with textContent, never as markup. */
"use strict";

(function (Hearth) {
  var panel = document.getElementById("panel-schedules");
  if (!panel) return;
  var data = Hearth.pageData();
  var may = (data.tasks && data.tasks.may) || {};
  var ACTIONS = ["start", "stop", "restart", "kill", "backup", "command"];
  var $ = function (id) { return document.getElementById(id); };
  var rows = $("schedules-rows");
  var form = $("schedules-form");
  var editing = null; // the task being edited, or null for a new one

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function when(iso) {
    if (!iso) return "—";
    var date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  var noticeTimer = null;
  function notify(text) {
    var notice = $("schedules-notice");
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 10000);
  }

  function refused(res, fallback) {
    return (res.body && res.body.message) || fallback;
  }

  // --- the list --------------------------------------------------------------------------------------

  function stepsText(task) {
    return task.steps
      .map(function (step) {
        var text = step.action;
        if (step.payload && step.payload.command) text += " “" + step.payload.command + "”";
        if (step.delaySeconds) text = "wait " + step.delaySeconds + " s, " + text;
        return text;
      })
      .join(" → ");
  }

  function button(label, className, onClick) {
    var b = el("button", "button button-small " + (className || ""), label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function row(task) {
    var tr = el("tr");
    tr.dataset.taskId = task.id;
    var name = el("td", "col-name");
    name.appendChild(el("strong", null, task.name));
    if (!task.enabled) name.appendChild(el("span", "muted small", " (disabled)"));
    tr.appendChild(name);
    var schedule = el("td");
    schedule.appendChild(el("code", null, task.schedule));
    schedule.appendChild(el("span", "muted small", " " + task.timezone));
    tr.appendChild(schedule);
    tr.appendChild(el("td", "small", stepsText(task)));
    tr.appendChild(el("td", "small", when(task.nextRunAt)));
    var last = el("td", "small");
    if (task.lastRun) {
      last.appendChild(el("span", "run-" + task.lastRun.status, task.lastRun.status));
      last.appendChild(el("span", "muted", " " + when(task.lastRun.startedAt)));
    } else {
      last.textContent = "never";
    }
    tr.appendChild(last);
    var actions = el("td", "col-actions");
    if (may.execute) actions.appendChild(button("Run now", "", function () { execute(task); }));
    actions.appendChild(button("History", "button-quiet", function () { history_(task); }));
    if (may.update) actions.appendChild(button("Edit", "button-quiet", function () { openForm(task); }));
    if (may["delete"]) actions.appendChild(button("Delete", "button-danger-quiet", function () { remove(task); }));
    tr.appendChild(actions);
    return tr;
  }

  function load() {
    return Hearth.api("GET", "/api/tasks?serverId=" + encodeURIComponent(data.serverId)).then(function (res) {
      if (!res.ok) return notify(refused(res, "Could not load the tasks."));
      rows.replaceChildren.apply(rows, res.body.data.map(row));
      $("schedules-empty").hidden = res.body.data.length > 0;
    });
  }

  function execute(task) {
    Hearth.api("POST", "/api/tasks/" + task.id + "/execute").then(function (res) {
      if (!res.ok) return notify(refused(res, "Could not run the task."));
      notify("“" + task.name + "” is running: see its history.");
      setTimeout(function () { load(); history_(task); }, 1500);
    });
  }

  function remove(task) {
    if (!window.confirm("Delete the task “" + task.name + "” and its history?")) return;
    Hearth.api("DELETE", "/api/tasks/" + task.id).then(function (res) {
      if (!res.ok) return notify(refused(res, "Could not delete the task."));
      load();
    });
  }

  // --- run history -----------------------------------------------------------------------------------

  function history_(task) {
    Hearth.api("GET", "/api/tasks/" + task.id + "/runs").then(function (res) {
      if (!res.ok) return notify(refused(res, "Could not load the runs."));
      var list = $("schedules-runs");
      $("schedules-history-title").textContent = "Run history: " + task.name;
      list.replaceChildren.apply(
        list,
        res.body.data.map(function (run) {
          var li = el("li");
          li.dataset.status = run.status;
          var head = el("div");
          head.appendChild(el("strong", "run-" + run.status, run.status));
          head.appendChild(el("span", null, " · " + run.trigger + " · " + when(run.startedAt)));
          li.appendChild(head);
          if (run.reason) li.appendChild(el("div", "muted small", run.reason));
          var steps = el("ol");
          run.steps.forEach(function (step) {
            var text = step.action + ": " + step.status + (step.error ? " — " + step.error : step.output ? " — " + step.output : "");
            steps.appendChild(el("li", "small step-" + step.status, text));
          });
          li.appendChild(steps);
          return li;
        })
      );
      if (!res.body.data.length) list.appendChild(el("li", "muted", "No runs yet."));
      $("schedules-history").hidden = false;
    });
  }
  $("schedules-history-close").addEventListener("click", function () { $("schedules-history").hidden = true; });

  // --- the form: cron preview and steps editor ---------------------------------------------------------

  var previewTimer = null;
  function preview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      var query = "?schedule=" + encodeURIComponent($("task-schedule").value) +
        "&timezone=" + encodeURIComponent($("task-timezone").value || "UTC");
      Hearth.api("GET", "/api/tasks/preview" + query).then(function (res) {
        var list = $("task-next-runs");
        var error = $("task-schedule-error");
        if (!res.ok) {
          list.replaceChildren();
          error.textContent = refused(res, "Not a valid schedule.");
          error.hidden = false;
          return;
        }
        error.hidden = true;
        list.replaceChildren.apply(list, res.body.data.nextRuns.map(function (iso) { return el("li", null, when(iso)); }));
      });
    }, 250);
  }
  $("task-schedule").addEventListener("input", preview);
  $("task-timezone").addEventListener("input", preview);

  function stepRow(step) {
    var li = el("li");
    var action = el("select", "step-action");
    action.setAttribute("aria-label", "Action");
    ACTIONS.forEach(function (name) {
      var option = el("option", null, name);
      option.value = name;
      action.appendChild(option);
    });
    action.value = step.action || "restart";
    var payload = el("input", "step-payload");
    payload.setAttribute("aria-label", "Command, or the backup's name");
    payload.value = (step.payload && (step.payload.command || step.payload.name)) || "";
    var delay = el("input", "step-delay");
    delay.type = "number";
    delay.min = "0";
    delay.max = "3600";
    delay.value = step.delaySeconds || 0;
    delay.setAttribute("aria-label", "Delay after the previous step, seconds");
    var goOn = el("input", "step-continue");
    goOn.type = "checkbox";
    goOn.checked = !!step.continueOnFailure;
    var goOnLabel = el("label", "small");
    goOnLabel.appendChild(goOn);
    goOnLabel.appendChild(document.createTextNode(" go on if it fails"));
    function shown() {
      payload.hidden = action.value !== "command" && action.value !== "backup";
      payload.placeholder = action.value === "command" ? "say The server restarts in 5 minutes" : "backup name (optional)";
    }
    action.addEventListener("change", shown);
    shown();
    var delayLabel = el("label", "small", "wait (s) ");
    delayLabel.appendChild(delay);
    [action, payload, delayLabel, goOnLabel, button("Remove", "button-quiet step-remove", function () { li.remove(); })]
      .forEach(function (node) { li.appendChild(node); });
    return li;
  }

  function readSteps() {
    return Array.prototype.map.call($("task-steps").children, function (li) {
      var action = li.querySelector(".step-action").value;
      var text = li.querySelector(".step-payload").value;
      var payload = action === "command" ? { command: text } : action === "backup" && text ? { name: text } : null;
      return {
        action: action,
        payload: payload,
        delaySeconds: Number(li.querySelector(".step-delay").value) || 0,
        continueOnFailure: li.querySelector(".step-continue").checked,
      };
    });
  }

  function openForm(task) {
    editing = task || null;
    $("schedules-form-title").textContent = task ? "Edit “" + task.name + "”" : "New task";
    $("task-name").value = task ? task.name : "";
    $("task-schedule").value = task ? task.schedule : "0 3 * * *";
    var zone = (Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
    $("task-timezone").value = task ? task.timezone : zone;
    $("task-catch-up").value = task ? task.catchUp : "skip";
    $("task-enabled").checked = task ? task.enabled : true;
    $("task-online").checked = task ? task.onlyWhenOnline : false;
    var steps = task ? task.steps : [{ action: "restart" }];
    $("task-steps").replaceChildren.apply($("task-steps"), steps.map(stepRow));
    $("task-form-error").hidden = true;
    form.hidden = false;
    preview();
    $("task-name").focus();
  }

  $("task-add-step").addEventListener("click", function () {
    $("task-steps").appendChild(stepRow({ action: "command" }));
  });
  $("task-cancel").addEventListener("click", function () { form.hidden = true; });
  var create = $("schedules-new");
  if (create) create.addEventListener("click", function () { openForm(null); });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = {
      name: $("task-name").value,
      schedule: $("task-schedule").value,
      timezone: $("task-timezone").value || "UTC",
      catchUp: $("task-catch-up").value,
      enabled: $("task-enabled").checked,
      onlyWhenOnline: $("task-online").checked,
      steps: readSteps(),
    };
    if (!editing) body.serverId = data.serverId;
    var request = editing ? Hearth.api("PUT", "/api/tasks/" + editing.id, body) : Hearth.api("POST", "/api/tasks", body);
    request.then(function (res) {
      if (!res.ok) {
        var error = $("task-form-error");
        error.textContent = refused(res, "The task was not saved.");
        error.hidden = false;
        return;
      }
      form.hidden = true;
      load();
    });
  });

  // --- start -------------------------------------------------------------------------------------------

  Hearth.tabs.add("schedules", { show: load }); // tabs.js shows the panel; this loads the tasks
})(window.Hearth);
