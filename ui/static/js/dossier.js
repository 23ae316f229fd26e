// The dossier page: draws the procedure's diagram with the bpmn-js viewer (served from
// /static/vendor/bpmn-js, no CDN) and marks where the dossier is. The data comes from
// GET /dossiers/<code>/diagram.json: {xml, active, completed, overdue} (element ids).
// Without scripts, or when the diagram cannot be drawn, the text list of steps stays open.
(function () {
  "use strict";
  const container = document.getElementById("diagram");
  if (!container) return;
  const legend = document.getElementById("diagram-legend");
  const errorBox = document.getElementById("diagram-error");
  const steps = document.getElementById("diagram-steps");

  function fail(err) {
    container.hidden = true;
    if (legend) legend.hidden = true;
    if (errorBox) {
      errorBox.textContent = container.dataset.error || "The diagram cannot be shown.";
      errorBox.hidden = false;
    }
    if (steps) steps.open = true;
    if (window.console && err) console.warn("diagram:", err);
  }

  function mark(canvas, registry, ids, marker, skip) {
    (ids || []).forEach(function (id) {
      if (skip && skip.has(id)) return;
      if (registry.get(id)) canvas.addMarker(id, marker);
    });
  }

  async function draw() {
    if (typeof window.BpmnJS !== "function") throw new Error("bpmn-js viewer not loaded");
    const response = await fetch(container.dataset.url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const state = await response.json();
    container.hidden = false; // the viewer needs a laid-out container to fit the zoom
    const viewer = new window.BpmnJS({ container: container });
    await viewer.importXML(state.xml);
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport", "auto");
    const active = new Set(state.active || []);
    // a step done earlier and open again (a loop back) shows as current
    mark(canvas, registry, state.completed, "highlight-done", active);
    mark(canvas, registry, state.active, "highlight-current");
    mark(canvas, registry, state.overdue, "highlight-overdue"); // drawn over highlight-current
    if (legend) legend.hidden = false;
    if (steps) steps.open = false;
  }

  draw().catch(fail);
})();
