// The visual diff (/designer/<process_id>/diff?from=&to=): the old version on the left with the
// removed elements in red, the new version on the right with the added elements in green;
// changed elements amber on both. The lists of ids come from the server's diff in data-*
// attributes of #diff-root (JSON), the XML of each version from its download URL.

function ids(root, name) {
  try { return JSON.parse(root.dataset[name] || "[]"); } catch (err) { return []; }
}

async function draw(api, container, url, marks) {
  const viewer = api.createViewer(container);
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(String(response.status));
  await viewer.importXML(await response.text());
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  canvas.zoom("fit-viewport");
  marks.forEach(function (pair) {
    pair[0].forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, pair[1]); });
  });
  return viewer;
}

export async function initDiffPage(root, api) {
  const added = ids(root, "added");
  const removed = ids(root, "removed");
  const changed = ids(root, "changed");
  const errorBox = document.getElementById("diff-error");
  try {
    await Promise.all([
      draw(api, document.getElementById("diff-old"), root.dataset.fromUrl, [[removed, "diff-removed"], [changed, "diff-changed"]]),
      draw(api, document.getElementById("diff-new"), root.dataset.toUrl, [[added, "diff-added"], [changed, "diff-changed"]]),
    ]);
    root.dataset.ready = "1";
  } catch (err) {
    if (errorBox) { errorBox.textContent = root.dataset.labelError; errorBox.hidden = false; }
  }
}
