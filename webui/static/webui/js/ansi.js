/* Console text → DOM. Colours from ANSI SGR codes; every other escape and control character is dropped.
 * Text only ever reaches the page through textContent, so a game (or a player) cannot inject markup. */
"use strict";

window.Hearth = window.Hearth || {};

(function (Hearth) {
  // CSI sequences (colours among them), OSC sequences (window titles, links), other two-byte escapes,
  // and every C0 control except tab and newline.
  var ESCAPES = /\x1b\[([0-9;:?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -\/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f]/g;
  var LEVELS = [0, 95, 135, 175, 215, 255];

  function xterm256(n) {
    if (n < 16) return null; // the 16 base colours come from the stylesheet (.ansi-fg-N)
    if (n >= 232) {
      var grey = 8 + (n - 232) * 10;
      return "rgb(" + grey + "," + grey + "," + grey + ")";
    }
    n -= 16;
    return "rgb(" + LEVELS[Math.floor(n / 36)] + "," + LEVELS[Math.floor(n / 6) % 6] + "," + LEVELS[n % 6] + ")";
  }

  function State() {
    this.fg = null; // 0–15 (a class) or an "rgb(…)" string
    this.bold = false;
  }

  State.prototype.reset = function () {
    this.fg = null;
    this.bold = false;
  };

  State.prototype.apply = function (params) {
    var codes = params === "" ? [0] : params.split(/[;:]/).map(function (p) { return p === "" ? 0 : Number(p); });
    for (var i = 0; i < codes.length; i++) {
      var code = codes[i];
      if (code === 0) this.reset();
      else if (code === 1) this.bold = true;
      else if (code === 22) this.bold = false;
      else if (code >= 30 && code <= 37) this.fg = code - 30;
      else if (code >= 90 && code <= 97) this.fg = code - 90 + 8;
      else if (code === 39) this.fg = null;
      else if (code === 38 || code === 48) {
        var mode = codes[i + 1];
        if (mode === 5) {
          var n = codes[i + 2];
          if (code === 38 && n >= 0 && n <= 255) this.fg = n < 16 ? n : xterm256(n);
          i += 2;
        } else if (mode === 2) {
          var rgb = codes.slice(i + 2, i + 5).map(function (v) { return Math.max(0, Math.min(255, v | 0)); });
          if (code === 38 && rgb.length === 3) this.fg = "rgb(" + rgb.join(",") + ")";
          i += 4;
        } else {
          i = codes.length; // malformed: ignore the rest
        }
      }
      // anything else (background, italics, blink…) is ignored
    }
  };

  function span(text, state) {
    if (!state.bold && state.fg === null) return document.createTextNode(text);
    var el = document.createElement("span");
    if (state.bold) el.classList.add("ansi-bold");
    if (typeof state.fg === "number") el.classList.add("ansi-fg-" + state.fg);
    else if (state.fg) el.style.color = state.fg;
    el.textContent = text;
    return el;
  }

  /* Append the pieces of one line (no newline in it) to `parent`, updating `state` as codes pass. */
  function renderLine(parent, text, state) {
    var last = 0;
    var match;
    ESCAPES.lastIndex = 0;
    while ((match = ESCAPES.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(span(text.slice(last, match.index), state));
      if (match[2] === "m" && match[0].charAt(1) === "[") state.apply(match[1]);
      last = ESCAPES.lastIndex;
      if (match[0] === "") ESCAPES.lastIndex++; // never loop on an empty match
    }
    if (last < text.length) parent.appendChild(span(text.slice(last), state));
  }

  /* Console data ("one or several lines, each ending in \n") → an array of <div class="line"> elements. */
  function render(data, state, className) {
    var lines = String(data).split("\n");
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    return lines.map(function (text) {
      var div = document.createElement("div");
      div.className = "line" + (className ? " " + className : "");
      renderLine(div, text, state);
      return div;
    });
  }

  Hearth.ansi = { State: State, render: render };
})(window.Hearth);
