/*!
 * Kefu charts: a tiny SVG chart module for the reports page, served by Kefu itself.
 *
 * Reads the JSON in <script type="application/json" id="report-data"> and draws into each
 * <div class="chart" data-chart="KEY" data-kind="line|bars">: a line chart of
 * [{label, value}] over time, or horizontal bars. Labels go in with textContent, never as
 * HTML. Each point or bar has a <title> tooltip; the data table below stays for screen
 * readers (CSS hides it visually once a chart is drawn).
 */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, anchor) {
    var node = el("text", { x: x, y: y, "text-anchor": anchor || "start" }, parent);
    node.textContent = value;
    return node;
  }

  function tooltip(node, value) {
    el("title", {}, node).textContent = value;
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function format(value) {
    return Math.abs(value) < 1 && value !== 0 ? value.toFixed(2) : String(Math.round(value * 100) / 100);
  }

  function lineChart(container, items) {
    var width = 640, height = 240, left = 40, right = 12, top = 12, bottom = 30;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, "aria-hidden": "true" });
    var max = niceMax(Math.max.apply(null, items.map(function (d) { return d.value; }).concat([0])));
    var plotW = width - left - right, plotH = height - top - bottom;
    var x = function (i) { return left + (items.length < 2 ? plotW / 2 : (i * plotW) / (items.length - 1)); };
    var y = function (v) { return top + plotH - (v / max) * plotH; };
    for (var g = 0; g <= 4; g++) {
      var gy = top + (plotH * g) / 4;
      el("line", { x1: left, x2: width - right, y1: gy, y2: gy, "class": "grid" }, svg);
      text(svg, left - 6, gy + 4, format(max - (max * g) / 4), "end");
    }
    if (items.length) {
      var points = items.map(function (d, i) { return x(i) + "," + y(d.value); });
      el("polygon", { points: x(0) + "," + y(0) + " " + points.join(" ") + " " + x(items.length - 1) + "," + y(0), "class": "area" }, svg);
      el("polyline", { points: points.join(" "), "class": "line" }, svg);
      var every = Math.max(1, Math.ceil(items.length / 8));
      items.forEach(function (d, i) {
        var point = el("circle", { cx: x(i), cy: y(d.value), r: items.length > 60 ? 2 : 3.5, "class": "point" }, svg);
        tooltip(point, d.label + ": " + d.value);
        var last = items.length - 1;
        // Every `every`-th day, and the last one unless it would overlap its neighbour.
        if ((i % every === 0 && (last - i >= every / 2 || i === last)) || i === last) {
          text(svg, x(i), height - 10, d.label.slice(5), "middle");
        }
      });
    }
    el("line", { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, "class": "axis" }, svg);
    return svg;
  }

  function barChart(container, items) {
    var row = 24, labelW = 170, width = 640, right = 48;
    var height = Math.max(items.length, 1) * row + 8;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, "aria-hidden": "true" });
    var max = Math.max.apply(null, items.map(function (d) { return d.value; }).concat([0])) || 1;
    var plotW = width - labelW - right;
    items.forEach(function (d, i) {
      var yTop = i * row + 4;
      var label = d.label.length > 26 ? d.label.slice(0, 25) + "…" : d.label;
      text(svg, labelW - 8, yTop + row / 2 + 3, label, "end");
      var bar = el("rect", { x: labelW, y: yTop + 3, width: Math.max(2, (d.value / max) * plotW), height: row - 8, rx: 3, "class": "bar" }, svg);
      tooltip(bar, d.label + ": " + format(d.value) + (d.count !== undefined ? " (" + d.count + " messages)" : ""));
      text(svg, labelW + Math.max(2, (d.value / max) * plotW) + 6, yTop + row / 2 + 3, format(d.value));
    });
    if (!items.length) text(svg, width / 2, 20, "no data", "middle");
    return svg;
  }

  function draw() {
    var source = document.getElementById("report-data");
    if (!source) return;
    var data = JSON.parse(source.textContent);
    document.querySelectorAll(".chart[data-chart]").forEach(function (container) {
      var items = data[container.getAttribute("data-chart")] || [];
      var svg = container.getAttribute("data-kind") === "line" ? lineChart(container, items) : barChart(container, items);
      container.textContent = "";
      container.appendChild(svg);
      container.classList.add("drawn");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
