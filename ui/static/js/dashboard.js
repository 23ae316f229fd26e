// The 766 indicators dashboard: draws three charts with Chart.js (served from
// /static/vendor/chart.js, no CDN) from the JSON the page embeds in
// <script type="application/json" id="dashboard-data"> (data, never executed):
//   onTime   {title, labels, values}       bar chart, on-time rate (%) per department
//   channels {title, labels, values}       doughnut, dossiers received per channel
//   points   {title, labels, values, max, scored, maximum}   bars, points per group against the maximum
// Every figure is also in the page's tables: without scripts, or if Chart.js is missing,
// the charts simply stay hidden.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || typeof window.Chart !== "function") return;
  let data;
  try {
    data = JSON.parse(source.textContent);
  } catch (err) {
    if (window.console) console.warn("dashboard data:", err);
    return;
  }
  if (!data) return;

  const BLUE = "#0b4f8a";
  const GREEN = "#1b6e3a";
  const RED = "#b3261e";
  const AMBER = "#c98a00";
  const GREY = "#c5ced6";
  const lang = document.documentElement.lang || "vi";
  const number = new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: 2 });

  function show(name, canvasId, config) {
    const figure = document.querySelector('[data-chart="' + name + '"]');
    const canvas = document.getElementById(canvasId);
    if (!figure || !canvas) return;
    figure.hidden = false;
    try {
      new window.Chart(canvas, config);
    } catch (err) {
      figure.hidden = true;
      if (window.console) console.warn("chart " + name + ":", err);
    }
  }

  const onTime = data.onTime;
  if (onTime && onTime.labels.length) {
    show("onTime", "chart-on-time", {
      type: "bar",
      data: {
        labels: onTime.labels,
        datasets: [{
          label: onTime.title,
          data: onTime.values,
          backgroundColor: onTime.values.map(function (v) {
            return v === null ? GREY : v >= 95 ? GREEN : v >= 80 ? AMBER : RED;
          }),
        }],
      },
      options: {
        maintainAspectRatio: false,
        scales: { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (c) { return c.raw === null ? "—" : number.format(c.raw) + " %"; } } },
        },
      },
    });
  }

  const channels = data.channels;
  if (channels && channels.values.some(function (v) { return v > 0; })) {
    show("channels", "chart-channels", {
      type: "doughnut",
      data: {
        labels: channels.labels,
        datasets: [{ data: channels.values, backgroundColor: [BLUE, GREEN, AMBER] }],
      },
      options: { maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } },
    });
  }

  const points = data.points;
  if (points) {
    show("points", "chart-points", {
      type: "bar",
      data: {
        labels: points.labels,
        datasets: [
          { label: points.scored, data: points.values, backgroundColor: BLUE },
          { label: points.maximum, data: points.max, backgroundColor: GREY },
        ],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        scales: { x: { min: 0, max: 22 } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + number.format(c.raw); } } },
        },
      },
    });
  }
})();
