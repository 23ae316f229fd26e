// The bottlenecks page: draws the procedure's diagram(s) with the bpmn-js viewer (served from
// /static/vendor/bpmn-js, no CDN) and colours each user task by its average or 90th-percentile
// working time against its budget (green / amber / red), with an overlay of the figures.
// Data: GET /bottlenecks/<process_id>/data.json -> {views: [{xml, analysis: {steps, waits}}], ...}.
// Overlays are built with DOM APIs and textContent only. Without scripts the table stays the content.
(function () {
  "use strict";
  const root = document.getElementById("bn-root");
  if (!root) return;
  const errorBox = document.getElementById("bn-error");
  const legend = document.getElementById("bn-legend");
  const labels = root.dataset;
  const locale = document.documentElement.lang === "vi" ? "vi-VN" : "en-GB";
  const LEVELS = ["ok", "warn", "bad"];
  const RANK = { none: 0, ok: 1, warn: 2, bad: 3 };
  const drawn = []; // {viewer, groups}
  let measure = (document.querySelector("#bn-measure input:checked") || {}).value || "avg";

  function number(value, digits) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString(locale, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function fail(err) {
    document.querySelectorAll(".bn-diagram").forEach(function (el) { el.hidden = true; });
    if (legend) legend.hidden = true;
    if (errorBox) {
      errorBox.textContent = labels.error || "The diagram cannot be shown.";
      errorBox.hidden = false;
    }
    if (window.console && err) console.warn("bottlenecks:", err);
  }

  // steps and waits of one analysis, grouped by the diagram element that draws them
  function group(analysis) {
    const groups = new Map();
    function at(id) {
      if (!groups.has(id)) groups.set(id, { steps: [], waits: [] });
      return groups.get(id);
    }
    (analysis.steps || []).forEach(function (s) { if (s.diagram_element) at(s.diagram_element).steps.push(s); });
    (analysis.waits || []).forEach(function (w) { if (w.diagram_element) at(w.diagram_element).waits.push(w); });
    return groups;
  }

  function line(parent, text, className) {
    const div = document.createElement("div");
    if (className) div.className = className;
    div.textContent = text;
    parent.appendChild(div);
    return div;
  }

  function badge(entry, level) {
    const box = document.createElement("div");
    box.className = "bn-badge " + (entry.steps.length ? "bn-" + level : "bn-wait");
    entry.steps.forEach(function (s) {
      if (entry.steps.length > 1) line(box, s.name, "bn-step-name");
      line(box, labels.labelAvg + " " + number(s.avg_hours, 1) + " · " + labels.labelP90 + " " +
        number(s.p90_hours, 1) + " " + labels.labelHours);
      const share = s.late_share === null ? "—" : number(s.late_share * 100, 1) + " %";
      line(box, labels.labelLate + " " + share + " · " + labels.labelDone + " " + number(s.completed, 0));
      if (s.open) line(box, labels.labelWaiting + " " + number(s.open, 0), "bn-waiting");
    });
    entry.waits.forEach(function (w) {
      line(box, labels.labelWait + ": " + number(w.instances, 0), "bn-waiting");
    });
    return box;
  }

  function paint(item) {
    const canvas = item.viewer.get("canvas");
    const registry = item.viewer.get("elementRegistry");
    const overlays = item.viewer.get("overlays");
    overlays.remove({ type: "bottleneck" });
    item.groups.forEach(function (entry, id) {
      const element = registry.get(id);
      if (!element) return;
      LEVELS.forEach(function (l) { canvas.removeMarker(id, "bn-" + l); });
      let level = "none";
      entry.steps.forEach(function (s) {
        const l = (s.level || {})[measure] || "none";
        if (RANK[l] > RANK[level]) level = l;
      });
      if (level !== "none") canvas.addMarker(id, "bn-" + level);
      overlays.add(id, "bottleneck", {
        position: { bottom: -4, right: element.width || 100 },
        html: badge(entry, level),
      });
    });
  }

  async function draw() {
    if (typeof window.BpmnJS !== "function") throw new Error("bpmn-js viewer not loaded");
    const response = await fetch(root.dataset.url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    for (let i = 0; i < data.views.length; i++) {
      const container = document.getElementById("bn-diagram-" + i);
      if (!container) continue;
      container.hidden = false; // the viewer needs a laid-out container to fit the zoom
      const viewer = new window.BpmnJS({ container: container });
      await viewer.importXML(data.views[i].xml);
      viewer.get("canvas").zoom("fit-viewport", "auto");
      const item = { viewer: viewer, groups: group(data.views[i].analysis) };
      drawn.push(item);
      paint(item);
    }
    if (legend) legend.hidden = false;
  }

  document.querySelectorAll("#bn-measure input[name=measure]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (!input.checked) return;
      measure = input.value === "p90" ? "p90" : "avg";
      drawn.forEach(paint);
      const field = document.getElementById("bn-measure-field");
      if (field) field.value = measure;
      const url = new URL(window.location.href);
      url.searchParams.set("measure", measure);
      window.history.replaceState(null, "", url.toString());
    });
  });

  draw().catch(fail);
})();
