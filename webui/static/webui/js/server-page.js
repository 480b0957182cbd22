/* The server page: power buttons, the live console with its command line, and the resource charts. */
"use strict";

(function (Hearth) {
  var data = Hearth.pageData();
  var serverId = data.serverId;
  var may = data.may;
  var MAX_LINES = 1000;
  var HISTORY_SIZE = 50;

  var badge = document.querySelector("[data-status-badge]");
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-action]"));
  var pane = document.getElementById("console");
  var jump = document.getElementById("jump");
  var form = document.getElementById("command-form");
  var input = document.getElementById("command");

  var status = data.status;
  var installed = data.installed;
  var busy = false;
  var subscribed = false;
  var ansiStates = {}; // per stream, so a colour left open on stderr does not tint stdout

  // --- status and power ----------------------------------------------------------------------

  function updateButtons() {
    buttons.forEach(function (button) {
      var action = button.dataset.action;
      var allowed = (data.allowedFrom[action] || []).indexOf(status) !== -1;
      if ((action === "start" || action === "restart") && !installed) allowed = false;
      button.disabled = busy || !allowed;
    });
    var hint = document.getElementById("not-installed");
    if (hint) hint.hidden = installed;
  }

  function setStatus(state, previous) {
    if (previous === "installing" && state !== "install_failed") installed = true;
    status = state;
    Hearth.setBadge(badge, state);
    updateButtons();
  }

  function refreshStatus() {
    Hearth.api("GET", "/api/servers/" + serverId).then(function (res) {
      if (!res.ok || !res.body.data) return;
      if (res.body.data.installedAt) installed = true;
      setStatus(res.body.data.status);
    });
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      var action = button.dataset.action;
      if (action === "kill" && !window.confirm("Kill the server? It stops at once, without saving.")) return;
      busy = true;
      updateButtons();
      Hearth.api("POST", "/api/servers/" + serverId + "/" + action).then(function (res) {
        busy = false;
        if (!res.ok) Hearth.notify(res.body.message || "The server refused to " + action + ".");
        updateButtons();
        if (!live.isOpen()) refreshStatus(); // no live updates: ask instead
      });
    });
  });

  // --- console ---------------------------------------------------------------------------------

  function atBottom() {
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight < 24;
  }

  function scrollToBottom() {
    pane.scrollTop = pane.scrollHeight;
    if (jump) jump.hidden = true;
  }

  function appendLog(stream, text, extraClass) {
    if (!pane) return;
    var stick = atBottom();
    var state = (ansiStates[stream] = ansiStates[stream] || new Hearth.ansi.State());
    var lines = Hearth.ansi.render(text, state, "stream-" + stream + (extraClass ? " " + extraClass : ""));
    var fragment = document.createDocumentFragment();
    lines.forEach(function (line) { fragment.appendChild(line); });
    pane.appendChild(fragment);
    var excess = pane.childElementCount - MAX_LINES;
    while (excess-- > 0) pane.removeChild(pane.firstElementChild);
    if (stick) scrollToBottom();
    else if (jump) jump.hidden = false;
  }

  function clearConsole() {
    if (!pane) return;
    pane.textContent = "";
    ansiStates = {};
  }

  if (pane) {
    pane.addEventListener("scroll", function () { if (atBottom() && jump) jump.hidden = true; });
    if (jump) jump.addEventListener("click", scrollToBottom);
  }

  // --- command line with history -----------------------------------------------------------------

  var historyKey = "hearth.history." + serverId;
  var history = [];
  try {
    history = JSON.parse(sessionStorage.getItem(historyKey) || "[]");
  } catch (err) {
    history = [];
  }
  var position = history.length;
  var draft = "";

  function remember(command) {
    if (history[history.length - 1] !== command) history.push(command);
    history = history.slice(-HISTORY_SIZE);
    position = history.length;
    draft = "";
    try {
      sessionStorage.setItem(historyKey, JSON.stringify(history));
    } catch (err) {
      /* private mode: history lives only as long as the page */
    }
  }

  function sendCommand(command) {
    if (live.send({ type: "console_input", serverId: serverId, data: command + "\n" })) return;
    Hearth.api("POST", "/api/servers/" + serverId + "/command", { command: command }).then(function (res) {
      if (!res.ok) Hearth.notify(res.body.message || "The command was not sent.");
    });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var command = input.value;
      if (!command.trim()) return;
      remember(command);
      appendLog("input", "> " + command + "\n");
      sendCommand(command);
      input.value = "";
    });
    input.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
      if (!history.length) return;
      event.preventDefault();
      if (position === history.length) draft = input.value;
      position += event.key === "ArrowUp" ? -1 : 1;
      position = Math.max(0, Math.min(history.length, position));
      input.value = position === history.length ? draft : history[position];
      input.setSelectionRange(input.value.length, input.value.length);
    });
  }

  // --- resource charts ---------------------------------------------------------------------------

  function formatBytes(bytes) {
    var units = ["B", "KB", "MB", "GB", "TB"];
    var value = Number(bytes) || 0;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : value) + " " + units[unit];
  }

  var cpuCanvas = document.getElementById("cpu-chart");
  var memoryCanvas = document.getElementById("memory-chart");
  var charts = cpuCanvas && {
    cpu: new Hearth.LineChart(cpuCanvas, {
      label: "CPU",
      color: "#38bdf8",
      ceiling: 100 * data.allocatedCpuCores,
      format: function (v) { return (Math.round(v * 10) / 10) + " %"; },
    }),
    memory: new Hearth.LineChart(memoryCanvas, {
      label: "Memory",
      color: "#a78bfa",
      ceiling: data.allocatedMemoryMb,
      format: function (v) { return Math.round(v) + " MB"; },
    }),
  };

  function showStats(message) {
    if (!charts) return;
    document.getElementById("cpu-now").textContent = charts.cpu.push(message.cpu);
    document.getElementById("memory-now").textContent =
      charts.memory.push(message.memoryMb) + " / " + data.allocatedMemoryMb + " MB";
    document.getElementById("net-in").textContent = formatBytes(message.networkReceived);
    document.getElementById("net-out").textContent = formatBytes(message.networkSent);
  }

  window.addEventListener("resize", function () {
    if (charts) {
      charts.cpu.draw();
      charts.memory.draw();
    }
  });

  // --- live updates -------------------------------------------------------------------------------

  var live = new Hearth.Live(function (message) {
    if (message.serverId && message.serverId !== serverId) return;
    document.dispatchEvent(new CustomEvent("hearth:message", { detail: message })); // files.js: jobs
    switch (message.type) {
      case "subscribed":
        // The last lines follow as server_log messages: start the pane afresh so none is shown twice.
        subscribed = true;
        clearConsole();
        refreshStatus(); // states that changed while the socket was down
        break;
      case "server_log":
        appendLog(message.stream || "stdout", message.data || "");
        break;
      case "server_state_update":
        setStatus(message.state, message.previousState);
        break;
      case "resource_stats":
        showStats(message);
        break;
      case "error":
        Hearth.notify(message.message || "The live console refused a request.");
        break;
    }
  });

  if (may.read) {
    var events = ["server_state_update", "resource_stats"];
    if (may.logs) events.push("server_log");
    live.subscribe(serverId, events);
  }
  if (may.read || may.console) live.connect();

  if (may.logs) {
    // Show the history at once; the WebSocket replays it again on subscribe (and then takes over).
    Hearth.api("GET", "/api/servers/" + serverId + "/logs?limit=150").then(function (res) {
      if (subscribed || !res.ok || !Array.isArray(res.body.data)) return;
      res.body.data.forEach(function (entry) { appendLog(entry.stream, entry.data); });
    });
  }

  updateButtons();
})(window.Hearth);
