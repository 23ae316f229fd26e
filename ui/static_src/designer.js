// The designer studio's browser bundle (built by scripts/assets.sh with esbuild into
// ui/static/vendor/designer/designer.bundle.js; no CDN). bpmn-js Modeler with the properties
// panel and the Camunda 7 (platform) provider + moddle, so camunda:formData, candidate groups,
// due dates, properties, timers, messages and conditions are edited without touching XML, and
// files from the Camunda Modeler desktop app keep their extensions on a round trip.
// Exposes window.MotcuaDesigner {createModeler, createViewer, modeler}; the pages' own logic
// (modeler page, diff page) starts from the DOM (data-* attributes), never from inline scripts,
// because the Content-Security-Policy forbids them.
import Modeler from "bpmn-js/lib/Modeler";
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaBehaviorsModule from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";

import { initModelerPage } from "./modeler_page.js";
import { initDiffPage } from "./diff_page.js";

export function createModeler(container, panel) {
  return new Modeler({
    container,
    propertiesPanel: { parent: panel },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule,
    ],
    moddleExtensions: { camunda: camundaModdle },
  });
}

export function createViewer(container) {
  return new NavigatedViewer({ container, moddleExtensions: { camunda: camundaModdle } });
}

const api = { createModeler, createViewer, modeler: null };
window.MotcuaDesigner = api;

function start() {
  const page = document.getElementById("designer-root");
  if (page) api.modeler = initModelerPage(page, api);
  const diff = document.getElementById("diff-root");
  if (diff) initDiffPage(diff, api);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
