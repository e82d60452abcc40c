// Empire's dashboard charts: the app's last hour, minute by minute, as small SVG line charts.
// No library: a chart is a polyline per series over a shared time axis, drawn with DOM calls
// (never innerHTML), with a text summary for screen readers.
"use strict";

(function () {
  const root = document.getElementById("app");
  const box = document.getElementById("metrics");
  if (!root || !box) return;
  const base = "/ui/apps/" + encodeURIComponent(root.dataset.app);
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 320, HEIGHT = 120, PAD = 28;
  const COLORS = ["#3b4cca", "#c2185b", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f"];

  function el(name, attrs) {
    const node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }

  function format(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "bytes") {
      if (value >= 1 << 30) return (value / (1 << 30)).toFixed(1) + " GB";
      if (value >= 1 << 20) return (value / (1 << 20)).toFixed(1) + " MB";
      return (value / 1024).toFixed(0) + " KB";
    }
    if (unit === "%") return value.toFixed(1) + " %";
    if (unit === "ms") return value.toFixed(0) + " ms";
    return String(Math.round(value * 10) / 10);
  }

  // series: [{name, values: [number|null, ...]}], all of one length (oldest first).
  function draw(figure, series, unit) {
    const svg = figure.querySelector("svg");
    const summary = figure.querySelector(".summary");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const values = [].concat.apply([], series.map(function (s) { return s.values; }))
      .filter(function (v) { return v !== null && v !== undefined; });
    const top = Math.max(1e-9, values.length ? Math.max.apply(null, values) : 1);
    const length = Math.max(1, series.length ? series[0].values.length - 1 : 1);
    svg.appendChild(el("line", { x1: PAD, y1: HEIGHT - PAD / 2, x2: WIDTH, y2: HEIGHT - PAD / 2, class: "axis" }));
    const label = el("text", { x: 2, y: 10, class: "tick" });
    label.textContent = format(top, unit);
    svg.appendChild(label);
    const texts = [];
    series.forEach(function (s, i) {
      let points = [];
      const segments = [];
      s.values.forEach(function (v, x) {
        if (v === null || v === undefined) {
          if (points.length) segments.push(points);
          points = [];
          return;
        }
        const px = PAD + (x / length) * (WIDTH - PAD);
        const py = (HEIGHT - PAD / 2) - (v / top) * (HEIGHT - PAD);
        points.push(px.toFixed(1) + "," + py.toFixed(1));
      });
      if (points.length) segments.push(points);
      segments.forEach(function (segment) {
        if (segment.length === 1) {  // a lone minute: a dot, or it would not show
          const xy = segment[0].split(",");
          svg.appendChild(el("circle", { cx: xy[0], cy: xy[1], r: 2.5, fill: COLORS[i % COLORS.length] }));
        }
        svg.appendChild(el("polyline", {
          points: segment.join(" "), fill: "none", stroke: COLORS[i % COLORS.length],
          "stroke-width": 2, "data-series": s.name,
        }));
      });
      const last = s.values.filter(function (v) { return v !== null && v !== undefined; }).pop();
      texts.push(s.name + ": " + format(last, unit));
    });
    summary.textContent = texts.length ? "now: " + texts.join(", ") : "no data yet";
  }

  async function refresh() {
    const response = await fetch(base + "/metrics", { headers: { Accept: "application/json" } });
    if (!response.ok) {
      box.querySelector(".note").textContent = response.status === 501
        ? "Metrics are off on this server." : "Metrics are not available.";
      return;
    }
    const data = await response.json();
    const processes = data.series.processes;
    const types = Object.keys(processes);
    const router = data.series.router;
    draw(document.getElementById("chart-cpu"), types.map(function (t) {
      return { name: t, values: processes[t].cpu_percent };
    }), "%");
    draw(document.getElementById("chart-memory"), types.map(function (t) {
      return { name: t, values: processes[t].memory_bytes };
    }), "bytes");
    draw(document.getElementById("chart-requests"), [
      { name: "requests/min", values: router.requests },
      { name: "5xx/min", values: router.errors_5xx },
    ], "");
    draw(document.getElementById("chart-latency"), [
      { name: "p50", values: router.p50_ms },
      { name: "p95", values: router.p95_ms },
    ], "ms");
  }

  refresh();
  setInterval(refresh, 30000);
})();
