/* A small line chart on a <canvas>: the last `capacity` samples, scaled to a ceiling that grows if needed. */
"use strict";

window.Hearth = window.Hearth || {};

(function (Hearth) {
  function LineChart(canvas, options) {
    this.canvas = canvas;
    this.color = options.color;
    this.ceiling = options.ceiling; // the value at the top of the chart (e.g. the allocation)
    this.format = options.format;
    this.label = options.label;
    this.capacity = options.capacity || 60;
    this.values = [];
    this.draw();
  }

  LineChart.prototype.push = function (value) {
    this.values.push(Number(value) || 0);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
    var now = this.format(this.values[this.values.length - 1]);
    this.canvas.setAttribute("aria-label", this.label + " chart, latest " + now + " of " + this.format(this.ceiling));
    return now;
  };

  LineChart.prototype.draw = function () {
    var canvas = this.canvas;
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || canvas.width;
    var height = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    var top = Math.max(this.ceiling, Math.max.apply(null, this.values.concat([0])) * 1.1) || 1;
    var pad = 4;
    var plotHeight = height - 2 * pad;

    ctx.strokeStyle = "rgba(148, 163, 184, 0.25)";
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 4]);
    [0, 0.5, 1].forEach(function (f) {
      var y = Math.round(pad + plotHeight * f) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(width, y);
      ctx.stroke();
    });
    ctx.setLineDash([]);

    if (this.values.length === 0) {
      ctx.fillStyle = "rgba(148, 163, 184, 0.8)";
      ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("Waiting for samples…", width / 2, height / 2 + 4);
      return;
    }

    var step = width / Math.max(1, this.capacity - 1);
    var offset = (this.capacity - this.values.length) * step; // newest sample at the right edge
    var points = this.values.map(function (v, i) {
      return [offset + i * step, pad + plotHeight * (1 - Math.min(v, top) / top)];
    });

    ctx.beginPath();
    points.forEach(function (p, i) { if (i === 0) ctx.moveTo(p[0], p[1]); else ctx.lineTo(p[0], p[1]); });
    ctx.lineTo(points[points.length - 1][0], height - pad);
    ctx.lineTo(points[0][0], height - pad);
    ctx.closePath();
    ctx.globalAlpha = 0.18;
    ctx.fillStyle = this.color;
    ctx.fill();
    ctx.globalAlpha = 1;

    ctx.beginPath();
    points.forEach(function (p, i) { if (i === 0) ctx.moveTo(p[0], p[1]); else ctx.lineTo(p[0], p[1]); });
    ctx.strokeStyle = this.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.stroke();

    var last = points[points.length - 1];
    ctx.beginPath();
    ctx.arc(Math.min(last[0], width - 3), last[1], 3, 0, 2 * Math.PI);
    ctx.fillStyle = this.color;
    ctx.fill();
  };

  Hearth.LineChart = LineChart;
})(window.Hearth);
