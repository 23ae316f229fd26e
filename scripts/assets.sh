#!/usr/bin/env bash
# Browser assets from npm, served by the app itself (no CDN at run time): the bpmn-js
# viewer of the dossier page, Chart.js for the 766 indicators dashboard, and the designer
# studio's bundle (bpmn-js Modeler + properties panel + Camunda extensions, built from
# ui/static_src/ with esbuild into ui/static/vendor/designer/). Installs
# node_modules from package-lock.json only when it is missing or the lock file changed,
# then copies the prebuilt dist files into ui/static/vendor/ (git-ignored). Idempotent;
# a no-op when everything is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=ui/static/vendor/bpmn-js
DIST=node_modules/bpmn-js/dist
STAMP=node_modules/.motcua-package-lock.sha256
CHART_VENDOR=ui/static/vendor/chart.js
CHART_DIST=node_modules/chart.js/dist

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "scripts/assets.sh: npm (Node.js 18 or newer) is needed to install the diagram viewer and modeler (bpmn-js) and Chart.js." >&2
  echo "  Debian/Ubuntu: sudo apt-get install nodejs npm   ·   or see https://nodejs.org/" >&2
  exit 1
fi

lock_hash() {
  node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha256").update(f.readFileSync("package-lock.json")).digest("hex"))'
}

wanted=$(lock_hash)
if [ ! -f "$DIST/bpmn-navigated-viewer.production.min.js" ] || [ ! -f "$CHART_DIST/chart.umd.js" ] \
    || [ ! -x node_modules/.bin/esbuild ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$wanted" ]; then
  echo "scripts/assets.sh: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  printf '%s' "$wanted" > "$STAMP"
fi

# source (under $DIST)                        destination (under $VENDOR)
FILES=(
  "bpmn-navigated-viewer.production.min.js"
  "assets/diagram-js.css"
  "assets/bpmn-js.css"
  "assets/bpmn-font/css/bpmn.css"
  "assets/bpmn-font/font/bpmn.eot"
  "assets/bpmn-font/font/bpmn.svg"
  "assets/bpmn-font/font/bpmn.ttf"
  "assets/bpmn-font/font/bpmn.woff"
  "assets/bpmn-font/font/bpmn.woff2"
)
copied=0
copy() {  # copy only what differs, so a second run changes nothing
  local src=$1 dest=$2
  if [ ! -f "$src" ]; then
    echo "scripts/assets.sh: $src is missing from the installed npm packages" >&2
    exit 1
  fi
  if ! cmp -s "$src" "$dest"; then
    mkdir -p "$(dirname "$dest")"
    cp "$src" "$dest.tmp.$$" && mv -f "$dest.tmp.$$" "$dest"
    copied=$((copied + 1))
  fi
}
for file in "${FILES[@]}"; do
  copy "$DIST/$file" "$VENDOR/$file"
done
copy node_modules/bpmn-js/LICENSE "$VENDOR/LICENSE"
# Chart.js: the UMD build (one self-contained file, defines window.Chart)
copy "$CHART_DIST/chart.umd.js" "$CHART_VENDOR/chart.umd.js"
copy node_modules/chart.js/LICENSE.md "$CHART_VENDOR/LICENSE.md"
if [ "$copied" -gt 0 ]; then
  echo "scripts/assets.sh: $copied file(s) copied into $VENDOR and $CHART_VENDOR"
fi

# The designer studio: one bundle built by esbuild (its platform binary is an npm optional
# dependency, found without install scripts). Rebuilt only when ui/static_src/ or the lock
# file changed (a hash of both is stamped next to the bundle).
DESIGNER=ui/static/vendor/designer
designer_hash() {
  node -e '
    const c = require("crypto"), f = require("fs"), p = require("path");
    const h = c.createHash("sha256").update(f.readFileSync("package-lock.json"));
    for (const name of f.readdirSync("ui/static_src").sort()) {
      h.update(name).update(f.readFileSync(p.join("ui/static_src", name)));
    }
    process.stdout.write(h.digest("hex"));'
}
designer_wanted=$(designer_hash)
if [ ! -f "$DESIGNER/designer.bundle.js" ] || [ ! -f "$DESIGNER/.build.sha256" ] \
    || [ "$(cat "$DESIGNER/.build.sha256")" != "$designer_wanted" ]; then
  echo "scripts/assets.sh: building the designer bundle (esbuild)"
  mkdir -p "$DESIGNER"
  build="$DESIGNER/.build.$$"  # built aside, then moved in: a half-written bundle is never served
  rm -rf "$build"
  node_modules/.bin/esbuild ui/static_src/designer.js --bundle --minify --format=iife --target=es2020 \
    --legal-comments=linked --log-level=warning --outfile="$build/designer.bundle.js"
  for file in "$build"/*; do mv -f "$file" "$DESIGNER/"; done
  rmdir "$build"
  printf '%s' "$designer_wanted" > "$DESIGNER/.build.sha256"
fi
copied=0
copy node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css "$DESIGNER/properties-panel.css"
copy node_modules/bpmn-js-properties-panel/LICENSE "$DESIGNER/LICENSE.bpmn-js-properties-panel"
if [ "$copied" -gt 0 ]; then
  echo "scripts/assets.sh: $copied file(s) copied into $DESIGNER"
fi
