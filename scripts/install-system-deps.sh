#!/usr/bin/env bash
# Installs the Debian packages tiandi needs (idempotent; quick when they are there).
#   fonts-noto-cjk: Chinese labels in the map pictures and pages.
#   postgresql-15-postgis-3: PostgreSQL + PostGIS for the patch store tests (a throwaway
#     cluster is started by tests/pg_fixtures.py; no service is enabled or started here).
#   python3-qgis: QGIS 3.22 for Debian's /usr/bin/python3; builds and checks the field
#     packages' forms (tiandi/redline/_qgis_project.py), headless.
#   chromium: the review page's browser test (Playwright drives /usr/bin/chromium) and the
#     reports' print-to-PDF.
#   poppler-utils: pdftoppm/pdftotext, to check the rendered PDF reports.
#   nodejs, npm (only when npm is not there already, e.g. from NodeSource): `make setup`
#     runs `npm ci` to install the review page's map library (OpenLayers).
# Options:
#   --list   prints the packages (nodejs and npm included), one a line, and installs nothing;
#            `scripts/offline-bundle.sh debs` downloads them with their dependencies.
# Offline: with TIANDI_OFFLINE set (`TIANDI_OFFLINE=dist make setup`), missing packages are
#   installed from $TIANDI_OFFLINE/debs (made by `make debs`: a flat apt repository) only.
set -euo pipefail
packages=(fonts-noto-cjk)
packages+=(python3-qgis)
packages+=(postgresql-15-postgis-3)
packages+=(chromium poppler-utils)
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${packages[@]}" nodejs npm
  exit 0
fi
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ -n "${TIANDI_OFFLINE:-}" ]; then
  debs="$(realpath -m "$TIANDI_OFFLINE/debs")"
  if [ ! -s "$debs/Packages" ]; then
    echo "no Debian packages in $debs: make them with \`make debs\` on a machine with internet (same Debian release) and copy the folder here" >&2
    exit 1
  fi
  # dist/debs is a flat apt repository: apt reads only it (its own lists folder, the
  # system's sources untouched) and installs the missing packages with what they need.
  lists="$(mktemp -d)"
  trap 'rm -rf "$lists"' EXIT
  echo "deb [trusted=yes] file:$debs ./" >"$lists/offline.list"
  mkdir -p "$lists/state/partial"
  apt_offline=(-o "Dir::Etc::sourcelist=$lists/offline.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$lists/state" -o DPkg::Lock::Timeout=600)
  $SUDO apt-get "${apt_offline[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${apt_offline[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
