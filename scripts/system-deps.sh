#!/usr/bin/env bash
# Debian packages the platform needs beyond Python: Pango/HarfBuzz and fonts with
# Vietnamese glyphs for WeasyPrint (PDF slips). Installs only what is missing.
set -euo pipefail
need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib "libpango-1.0.so" || need+=(libpango-1.0-0)
have_lib "libpangoft2-1.0.so" || need+=(libpangoft2-1.0-0)
have_lib "libharfbuzz-subset.so" || need+=(libharfbuzz-subset0)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || need+=(fonts-dejavu-core)
if [ "${WITH_BROWSER:-0}" = "1" ] && ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
# pg_dump/pg_restore for `flask db backup|restore` on PostgreSQL (and its test)
case "${DATABASE_URL:-}${TEST_DATABASE_URL:-}" in *postgresql*) command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client);; esac
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
