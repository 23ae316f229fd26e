// The modeler page (/designer/<process_id>): loads the latest deployed XML (or a new procedure's
// template), validates as you edit (debounced on commandStack.changed: the server's lint, the
// same lines as the CLI, listed and marked on the canvas), deploys with a change note and the
// base version (a 409 says someone deployed meanwhile), downloads the current XML.
// All text comes from data-* attributes of #designer-root, rendered by the server in the
// page's language; messages are built with textContent only.

const DEBOUNCE_MS = 700;

function csrfHeaders(root) {
  return { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": root.dataset.csrf };
}

async function postJson(root, url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", headers: csrfHeaders(root), body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (err) { data = {}; }
  return { status: response.status, ok: response.ok, data };
}

export function problemLine(p) {
  return (p.file || "?") + ":" + (p.line || 0) + ": " + (p.element || "-") + ": " + p.message;
}

export function initModelerPage(root, api) {
  const labels = root.dataset;
  const modeler = api.createModeler(document.getElementById("designer-canvas"), document.getElementById("designer-panel"));
  const list = document.getElementById("lint-list");
  const summary = document.getElementById("lint-summary");
  const status = document.getElementById("designer-status");
  const dialog = document.getElementById("deploy-dialog");
  const noteField = document.getElementById("deploy-note");
  const deployResult = document.getElementById("deploy-result");
  let baseVersion = labels.baseVersion ? Number(labels.baseVersion) : null;
  let marked = [];
  let timer = null;
  let seq = 0;
  let dirty = false;

  function say(text, kind) {
    status.textContent = text;
    status.className = "designer-status " + (kind || "");
  }

  function clearMarkers() {
    const canvas = modeler.get("canvas");
    marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    marked = [];
  }

  function focus(id) {
    const registry = modeler.get("elementRegistry");
    const element = registry.get(id);
    if (!element) return;
    modeler.get("canvas").scrollToElement(element, { top: 120, bottom: 120, left: 200, right: 200 });
    modeler.get("selection").select(element);
  }

  function showProblems(problems) {
    clearMarkers();
    list.replaceChildren();
    const canvas = modeler.get("canvas");
    const registry = modeler.get("elementRegistry");
    let errors = 0;
    let warnings = 0;
    problems.forEach(function (p) {
      const severity = p.severity === "warning" ? "warning" : "error";
      if (severity === "error") errors += 1; else warnings += 1;
      const item = document.createElement("li");
      item.className = "lint-" + severity;
      item.dataset.element = p.element || "";
      const badge = document.createElement("span");
      badge.className = "lint-badge";
      badge.textContent = severity === "error" ? labels.labelError : labels.labelWarning;
      item.appendChild(badge);
      const text = document.createElement(p.element && registry.get(p.element) ? "button" : "span");
      text.className = "lint-text" + (text.tagName === "BUTTON" ? " link" : "");
      text.textContent = problemLine(p);
      if (text.tagName === "BUTTON") {
        text.type = "button";
        text.addEventListener("click", function () { focus(p.element); });
      }
      item.appendChild(text);
      list.appendChild(item);
      if (p.element && registry.get(p.element)) {
        const marker = "lint-marker-" + severity;
        // an error wins over a warning on the same element
        if (severity === "error" || !canvas.hasMarker(p.element, "lint-marker-error")) {
          canvas.addMarker(p.element, marker);
          marked.push([p.element, marker]);
        }
      }
    });
    summary.textContent = problems.length === 0 ? labels.labelClean
      : labels.labelCount.replace("%e", String(errors)).replace("%w", String(warnings));
    summary.className = "lint-summary " + (errors ? "has-errors" : warnings ? "has-warnings" : "clean");
    root.dataset.lintErrors = String(errors);
    root.dataset.lintWarnings = String(warnings);
  }

  async function validate() {
    const mine = ++seq;
    let xml;
    try {
      xml = (await modeler.saveXML({ format: true })).xml;
    } catch (err) {
      say(labels.labelSaveFailed + " " + err.message, "error");
      return;
    }
    summary.textContent = labels.labelChecking;
    root.dataset.linting = "1";
    try {
      const r = await postJson(root, labels.lintUrl, { xml, filename: labels.filename });
      if (mine !== seq) return; // a newer edit is being checked
      if (!r.ok) {
        say(r.data.error || labels.labelServerError, "error");
        return;
      }
      showProblems(r.data.problems || []);
    } catch (err) {
      if (mine === seq) say(labels.labelServerError, "error");
    } finally {
      if (mine === seq) delete root.dataset.linting;
    }
  }

  function scheduleValidate() {
    clearTimeout(timer);
    timer = setTimeout(validate, DEBOUNCE_MS);
  }

  async function deploy(event) {
    event.preventDefault();
    const note = noteField.value.trim();
    if (!note) {
      noteField.setAttribute("aria-invalid", "true");
      deployResult.textContent = labels.labelNoteRequired;
      deployResult.className = "deploy-result error";
      noteField.focus();
      return;
    }
    const xml = (await modeler.saveXML({ format: true })).xml;
    deployResult.textContent = labels.labelDeploying;
    deployResult.className = "deploy-result";
    const r = await postJson(root, labels.deployUrl, {
      xml, filename: labels.filename, note, base_version: baseVersion,
    });
    if (r.status === 201 || r.status === 200) {
      dialog.close();
      noteField.value = "";
      dirty = false;
      baseVersion = r.data.version;
      root.dataset.baseVersion = String(baseVersion);
      say(r.data.message, "success");
      const link = document.getElementById("designer-versions-link");
      if (link) link.hidden = false;
      document.querySelectorAll("[data-current-version]").forEach(function (el) { el.textContent = String(baseVersion); });
      return;
    }
    deployResult.className = "deploy-result error";
    if (r.status === 422 && r.data.problems) {
      showProblems(r.data.problems);
      deployResult.textContent = r.data.error;
      return;
    }
    deployResult.textContent = (r.data.error || labels.labelServerError) + (r.data.detail ? " (" + r.data.detail + ")" : "");
  }

  async function download() {
    const xml = (await modeler.saveXML({ format: true })).xml;
    const blob = new Blob([xml], { type: "application/xml" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = labels.filename;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  async function load() {
    try {
      const response = await fetch(labels.xmlUrl, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const { warnings } = await modeler.importXML(await response.text());
      if (warnings && warnings.length) say(labels.labelImportWarnings + " " + warnings.length, "warning");
      modeler.get("canvas").zoom("fit-viewport");
      root.dataset.ready = "1";
      validate();
    } catch (err) {
      say(labels.labelLoadFailed + " " + err.message, "error");
    }
  }

  modeler.on("commandStack.changed", function () {
    dirty = true;
    scheduleValidate();
  });
  document.getElementById("btn-validate").addEventListener("click", function () { clearTimeout(timer); validate(); });
  document.getElementById("btn-download").addEventListener("click", download);
  document.getElementById("btn-deploy").addEventListener("click", function () {
    deployResult.textContent = "";
    noteField.removeAttribute("aria-invalid");
    dialog.showModal();
    noteField.focus();
  });
  document.getElementById("deploy-cancel").addEventListener("click", function () { dialog.close(); });
  document.getElementById("deploy-form").addEventListener("submit", deploy);
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
  load();
  return modeler;
}
