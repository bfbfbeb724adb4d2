// modelreg dashboard: enhancements only (every page reads without JavaScript).
// Charts from <script type="application/json"> islands with uPlot; sortable tables; keyboard: "/" focuses search.
(function () {
  "use strict";
  const palette = ["#1f5fbf", "#c0362c", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bf3989", "#57606a"];
  const css = getComputedStyle(document.documentElement);
  const axisColor = () => css.getPropertyValue("--muted").trim() || "#888";

  function island(figure) {
    const node = figure.querySelector('script[type="application/json"]');
    return node ? JSON.parse(node.textContent) : null;
  }

  function axes() {
    const stroke = axisColor();
    return [{ stroke, grid: { stroke: "rgba(128,128,128,0.15)" } }, { stroke, grid: { stroke: "rgba(128,128,128,0.15)" } }];
  }

  function plot(figure, xs, series, prefix) {
    const width = Math.min(figure.clientWidth || 800, 1100);
    const ax = axes();
    ax[0].values = (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? (prefix || "") + t : ""));
    const opts = { width, height: 280, scales: { x: { time: false } }, axes: ax,
      series: [{ label: "x" }].concat(series.map((s, i) => ({ label: s.label, stroke: palette[i % palette.length],
        width: 2, spanGaps: true, points: { show: xs.length < 40 } }))) };
    const data = [xs].concat(series.map((s) => s.values));
    new uPlot(opts, data, figure);
  }

  function versionsChart(figure, data) {
    const names = Object.keys(data.series);
    plot(figure, data.x, names.map((n) => ({ label: n, values: data.series[n] })), "v");
  }

  // {metric: [[epoch, value], ...]} or, for the overlay, {ref: {metric: [[epoch, value], ...]}}
  function curvesChart(figure, curves, prefix) {
    const epochs = new Set();
    const flat = [];
    for (const [name, points] of Object.entries(curves)) {
      flat.push({ label: (prefix ? prefix + " " : "") + name, points });
      points.forEach((p) => epochs.add(p[0]));
    }
    return { epochs, flat };
  }

  function drawCurves(figure, groups) {
    const epochs = new Set();
    const flat = [];
    for (const g of groups) { g.epochs.forEach((e) => epochs.add(e)); flat.push(...g.flat); }
    const xs = Array.from(epochs).sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    plot(figure, xs, flat.map((s) => {
      const values = new Array(xs.length).fill(null);
      s.points.forEach((p) => { values[index.get(p[0])] = p[1]; });
      return { label: s.label, values };
    }));
  }

  function charts() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("figure.chart").forEach((figure) => {
      const data = island(figure);
      if (!data) return;
      const kind = figure.dataset.chart;
      if (kind === "versions") versionsChart(figure, data);
      else if (kind === "curves") drawCurves(figure, [curvesChart(figure, data, "")]);
      else if (kind === "overlay") drawCurves(figure, Object.entries(data).map(([ref, c]) => curvesChart(figure, c, ref)));
    });
  }

  function sortable() {
    document.querySelectorAll("table.sortable").forEach((table) => {
      table.querySelectorAll("thead th").forEach((th, column) => {
        const button = th.querySelector("button.sort");
        if (!button) return;
        button.addEventListener("click", () => {
          const ascending = th.getAttribute("aria-sort") !== "ascending";
          table.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
          th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          const body = table.tBodies[0];
          const rows = Array.from(body.rows);
          const key = (row) => {
            const cell = row.cells[column];
            const v = cell.dataset.value;
            return v !== undefined ? (v === "" ? -Infinity : parseFloat(v)) : cell.textContent.trim().toLowerCase();
          };
          rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
          rows.forEach((r) => body.appendChild(r));
        });
      });
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
      const box = document.getElementById("q") || document.getElementById("jump");
      if (box) { event.preventDefault(); box.focus(); }
    }
  });

  document.addEventListener("DOMContentLoaded", () => { charts(); sortable(); });
})();
