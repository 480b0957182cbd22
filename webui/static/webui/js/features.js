/* The egg features' offers on the server page. A console line such as Minecraft's "You need to agree to
   the EULA" offers its fix, as Pterodactyl's panel does: eula (accept in one click), java_version (switch
   to another of the template's images and start), pid_limit, steam_disk_space and gsl_token (say what
   happened and who can fix it). The patterns come from servers/features.py in the page data; which
   features the template has, from the server detail (template.features). Text only, never HTML. */
"use strict";

(function (Hearth) {
  var data = Hearth.pageData();
  var offer = data.features;
  var box = document.getElementById("feature-offer");
  if (!offer || !box) return;
  var serverId = data.serverId;
  var may = offer.may;
  var status = data.status;
  var enabled = null; // the template's features, lower-cased, once the server detail has answered
  var seen = {}; // features whose pattern a game line of the current run matched
  // Lines stamped at or before this are an earlier run's: the history replayed on (re)subscribing holds
  // them. The server's clock, as the lines' stamps: the last start requested when the page was made,
  // then, at each start seen live, the newest line's stamp so far.
  var runSince = Date.parse(offer.lastStartAt || "") || 0;
  var newestLine = runSince;
  // Only the game's output counts: the panel's own lines (stream "system") never do.
  var GAME_STREAMS = ["stdout", "stderr"];
  // Failures of a start: the line is the game's last before it exits. While it runs, such text is
  // a player's chat or a plugin's, never the end of it.
  var AT_START_ONLY = ["eula", "java_version"];
  var shown = null;
  var settled = false; // the offer was taken: its answer stays until dismissed
  var title = document.getElementById("feature-offer-title");
  var text = document.getElementById("feature-offer-text");
  var controls = document.getElementById("feature-offer-controls");
  var ORDER = ["eula", "java_version", "pid_limit", "steam_disk_space", "gsl_token"];

  function button(label, onClick, quiet) {
    var el = document.createElement("button");
    el.type = "button";
    el.className = "button button-small" + (quiet ? " button-quiet" : "");
    el.textContent = label;
    el.addEventListener("click", onClick);
    controls.appendChild(el);
    return el;
  }

  function say(message, kind) {
    text.textContent = message;
    box.className = "notice feature-offer notice-" + (kind || "warning");
  }

  function dismiss() {
    box.hidden = true;
    shown = null;
  }

  function done() {
    settled = true;
    controls.textContent = "";
    button("Dismiss", dismiss, true);
  }

  function busy(on) {
    Array.prototype.forEach.call(controls.querySelectorAll("button, select"), function (el) { el.disabled = on; });
  }

  function stoppedOnly() {
    // The accept only starts a stopped server (409 otherwise): the game may still be exiting.
    var accept = document.getElementById("eula-accept");
    if (accept && !settled) accept.disabled = status !== "stopped" && status !== "crashed";
  }

  function failed(res, fallback) {
    busy(false);
    say((res.body && res.body.message) || fallback, "error");
  }

  function acceptEula() {
    busy(true);
    Hearth.api("POST", "/api/servers/" + serverId + "/eula").then(function (res) {
      if (!res.ok) return failed(res, "The EULA could not be accepted.");
      done();
      say("Accepted: eula.txt now says eula=true, and the server is starting.", "success");
    });
  }

  function switchImage(select) {
    busy(true);
    Hearth.api("PATCH", "/api/servers/" + serverId, { dockerImage: select.value }).then(function (res) {
      if (!res.ok) return failed(res, "The image could not be changed.");
      offer.dockerImage = select.value;
      Hearth.api("POST", "/api/servers/" + serverId + "/start").then(function (started) {
        if (!started.ok) return failed(started, "The image was changed, but the server did not start.");
        done();
        say("The server now runs " + select.value + " and is starting.", "success");
      });
    });
  }

  var OFFERS = {
    eula: function () {
      title.textContent = "Accept the Minecraft® EULA";
      say("The server stopped: it needs the EULA accepted. By pressing “I accept” you agree to the Minecraft EULA.");
      var link = document.createElement("a");
      link.href = "https://www.minecraft.net/eula";
      link.target = "_blank";
      link.rel = "noreferrer noopener";
      link.textContent = "Read the EULA";
      controls.appendChild(link);
      if (may.eula) {
        button("I accept", acceptEula).id = "eula-accept";
        stoppedOnly();
      }
      else say("The server needs the Minecraft EULA accepted: ask someone who may edit its files and start it.");
    },
    java_version: function () {
      title.textContent = "This server needs another Java version";
      var others = offer.images.filter(function (entry) { return entry.image !== offer.dockerImage; });
      if (!others.length) return say("The game needs a Java version its image lacks, and the template offers no other image: ask staff.");
      if (!may.image) return say("The game needs a Java version its image lacks: ask the server's owner to choose another image.");
      say("The game needs a Java version its image lacks. Choose another of the template's images; the server then starts with it.");
      var select = document.createElement("select");
      select.id = "java-image";
      select.setAttribute("aria-label", "Image");
      others.forEach(function (entry) {
        var option = document.createElement("option");
        option.value = entry.image;
        option.textContent = entry.label + " (" + entry.image + ")";
        select.appendChild(option);
      });
      controls.appendChild(select);
      button("Switch image and start", function () { switchImage(select); }).id = "java-switch";
    },
    pid_limit: function () {
      title.textContent = "Process or memory limit reached";
      say(may.resources
        ? "The server could not create a thread (pthread_create failed): raise its process limit (pidsLimit) or its memory."
        : "The server tried to use more processes or memory than it is allowed (pthread_create failed). Contact the administrator with this message.");
    },
    steam_disk_space: function () {
      title.textContent = "Out of disk space";
      say("SteamCMD could not update the server: it needs more free disk space. Delete files or ask for a larger disk.");
    },
    gsl_token: function () {
      title.textContent = "Game server login token";
      say("Steam refused the server's login token (GSLT): it expired or its account was not found. Set a new token " +
        "in the server's variables (https://steamcommunity.com/dev/managegameservers).");
    },
  };

  function show(name) {
    if (shown === name) return;
    shown = name;
    settled = false;
    controls.textContent = "";
    OFFERS[name]();
    button("Dismiss", dismiss, true);
    box.hidden = false;
  }

  function consider() {
    if (!enabled || status === "running") return;
    for (var i = 0; i < ORDER.length; i++) {
      var name = ORDER[i];
      if (seen[name] && enabled.indexOf(name) !== -1) {
        seen[name] = false;
        return show(name);
      }
    }
  }

  function matches(message) {
    var stamp = Date.parse(message.timestamp || "");
    if (stamp) newestLine = Math.max(newestLine, stamp); // the panel's lines too: "Server stopped."
    if (GAME_STREAMS.indexOf(message.stream) === -1) return;
    if (stamp && stamp <= runSince) return; // an earlier run's line, replayed
    var lower = String(message.data || "").toLowerCase();
    Object.keys(offer.patterns).forEach(function (name) {
      if (status === "running" && AT_START_ONLY.indexOf(name) !== -1) return;
      if (offer.patterns[name].some(function (p) { return lower.indexOf(p) !== -1; })) seen[name] = true;
    });
    consider();
  }

  document.addEventListener("hearth:message", function (event) {
    var message = event.detail;
    if (message.type === "server_log") matches(message);
    if (message.type === "server_state_update") {
      status = message.state;
      if (status === "starting") { // a new run: what the last one printed no longer applies
        seen = {};
        runSince = newestLine;
      }
      if (status === "running") {
        seen = {};
        if (shown && !settled) dismiss(); // the line was not the end of it
      }
      stoppedOnly();
      consider();
    }
  });

  Hearth.api("GET", "/api/servers/" + serverId).then(function (res) {
    var template = res.ok && res.body.data && res.body.data.template;
    enabled = ((template && template.features) || []).map(function (name) { return String(name).toLowerCase(); });
    consider();
  });
})(window.Hearth);
