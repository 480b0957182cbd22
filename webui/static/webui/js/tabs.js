/* The server page's tabs (Console, Files, Backups): one panel shown at a time, the tab in the address
   (#files=/plugins, #backups) so a reload or the back button keeps it, arrow keys between tabs. A tab's
   script registers what showing it does: Hearth.tabs.add(name, {hash: fn() -> "#…", show: fn(value)}). */
"use strict";

(function (Hearth) {
  var bar = document.getElementById("server-tabs");
  if (!bar) return;
  var tabs = {};
  var order = [];
  var specs = {};
  Array.prototype.forEach.call(bar.querySelectorAll('[role="tab"]'), function (tab) {
    var name = tab.id.replace(/^tab-/, "");
    tabs[name] = tab;
    order.push(name);
  });

  function panel(name) {
    return document.getElementById(tabs[name].getAttribute("aria-controls"));
  }

  function show(name, focus) {
    order.forEach(function (key) {
      var on = key === name;
      tabs[key].setAttribute("aria-selected", on ? "true" : "false");
      tabs[key].tabIndex = on ? 0 : -1;
      panel(key).hidden = !on;
    });
    if (focus) tabs[name].focus();
    if (name === "console") window.dispatchEvent(new Event("resize")); // the charts redraw at their size
  }

  /* {name, value} of the tab the address names (#files=/a → files, "/a"), or null for the console. */
  function fromHash() {
    var match = /^#([a-z]+)(?:=(.*))?$/.exec(location.hash);
    return match && tabs[match[1]] && specs[match[1]] ? { name: match[1], value: match[2] } : null;
  }

  function follow() {
    var at = fromHash();
    var name = at ? at.name : "console";
    show(name);
    if (at && specs[name].show) specs[name].show(at.value);
  }

  order.forEach(function (key, index) {
    tabs[key].addEventListener("click", function () {
      if (key === "console" || !specs[key]) {
        history.replaceState(null, "", location.pathname + location.search);
        return show(key);
      }
      var hash = specs[key].hash ? specs[key].hash() : "#" + key;
      if (location.hash === hash) follow();
      else location.hash = hash;
    });
    tabs[key].addEventListener("keydown", function (event) {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      var step = event.key === "ArrowRight" ? 1 : order.length - 1;
      var other = order[(index + step) % order.length];
      tabs[other].click();
      tabs[other].focus();
    });
  });

  window.addEventListener("hashchange", follow);

  Hearth.tabs = {
    add: function (name, spec) { specs[name] = spec; },
    show: show,
  };

  document.addEventListener("DOMContentLoaded", function () {
    bar.hidden = false; // the tabs work from here on
    if (fromHash()) follow();
  });
})(window.Hearth);
