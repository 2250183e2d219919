#!/usr/bin/env bash
# Makes what `make setup` needs on a server without internet, on a machine that has it
# (same Debian release, Python 3.11, x86_64 as the server). See docs/operations.md,
# "Installing on a server without internet".
#   scripts/offline-bundle.sh python   -> dist/wheelhouse/  (wheels of requirements.lock,
#                                          infra/local/requirements-stac.txt, setuptools)
#   scripts/offline-bundle.sh npm      -> dist/npm-cache/   (npm cache of the review page's
#                                          package-lock.json)
#   scripts/offline-bundle.sh debs     -> dist/debs/        (the Debian packages of
#                                          scripts/install-system-deps.sh with every
#                                          dependency, as a flat apt repository)
# The folder is TIANDI_OFFLINE (default dist). pip reads its usual configuration: the CPU
# build of torch in requirements.lock (torch==...+cpu) is on PyTorch's index, so without a
# local copy run with PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${TIANDI_OFFLINE:-dist}"
PY="${PY:-python3.11}"
# Builds tiandi itself (pyproject's build-system) with no index: pinned here.
BUILD_REQS=(setuptools==84.2.1)

python_wheels() {
  local wh="$OUT/wheelhouse"
  mkdir -p "$wh"
  # pip wheel, not pip download: a package published only as a source archive is built
  # here, so the server installs wheels only (no compiler, no build dependencies there).
  # The lock files pin every package: --no-deps.
  for req in requirements.lock infra/local/requirements-stac.txt; do
    echo "wheels of $req -> $wh"
    "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$wh" -r "$req"
  done
  "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$wh" "${BUILD_REQS[@]}"
  "$PY" scripts/check_wheelhouse.py "$wh" requirements.lock infra/local/requirements-stac.txt
  echo "$(find "$wh" -name '*.whl' | wc -l) wheels, $(du -sh "$wh" | cut -f1) in $wh"
}

npm_cache() {
  local cache tmp
  cache="$(realpath -m "$OUT/npm-cache")"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  cp tiandi/service/web/package.json tiandi/service/web/package-lock.json "$tmp/"
  # npm ci fills the cache with every tarball of the lock file; `npm ci --offline
  # --cache DIR` installs from it on the server.
  (cd "$tmp" && npm ci --cache "$cache" --no-audit --no-fund --loglevel=error)
  echo "npm cache: $(du -sh "$cache" | cut -f1) in $cache"
}

debs() {
  local dir pkgs closure
  dir="$OUT/debs"
  mkdir -p "$dir"
  mapfile -t pkgs < <(bash scripts/install-system-deps.sh --list)
  # Every dependency (not only what this machine lacks: the server may have less), without
  # recommends, as apt-get install --no-install-recommends does.
  mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances "${pkgs[@]}" \
    | grep '^[a-z0-9]' | sort -u)
  # Virtual packages have no file of their own (apt-cache depends lists their providers
  # too): keep the names apt-cache show knows, in one call.
  local real=()
  mapfile -t real < <(apt-cache show --no-all-versions "${closure[@]}" 2>/dev/null \
    | sed -n 's/^Package: //p' | sort -u)
  echo "downloading ${#real[@]} Debian packages -> $dir"
  # A package installed here from a source apt no longer lists (e.g. NodeSource's nodejs)
  # cannot be downloaded: it is left out, named in $dir/NOT-DOWNLOADED, and the rest is
  # fetched. Make the bundle on a plain Debian machine to have none.
  local skipped=() err
  for _ in 1 2 3 4 5; do
    if err=$(cd "$dir" && apt-get download -qq "${real[@]}" 2>&1); then break; fi
    mapfile -t bad < <(sed -n "s/^E: Can't find a source to download version '.*' of '\([^:']*\).*/\1/p" <<<"$err")
    [ ${#bad[@]} -gt 0 ] || { echo "$err" >&2; return 1; }
    skipped+=("${bad[@]}")
    mapfile -t real < <(printf '%s\n' "${real[@]}" | grep -vxF -f <(printf '%s\n' "${bad[@]}"))
  done
  printf '%s\n' "${skipped[@]}" > "$dir/NOT-DOWNLOADED"
  [ ${#skipped[@]} -eq 0 ] || echo "not downloadable from this machine's apt sources: ${skipped[*]} (see $dir/NOT-DOWNLOADED)" >&2
  printf '%s\n' "${pkgs[@]}" > "$dir/PACKAGES"
  # The folder is an apt repository (flat: Packages beside the files): the closure holds
  # every alternative of "a | b" dependencies, some of which conflict, so the server
  # installs the listed packages from it and apt picks what it needs.
  command -v dpkg-scanpackages >/dev/null || { echo "dpkg-scanpackages is missing: apt-get install dpkg-dev" >&2; return 1; }
  (cd "$dir" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages)
  echo "$(find "$dir" -name '*.deb' | wc -l) packages, $(du -sh "$dir" | cut -f1) in $dir"
}

case "${1:-}" in
  python) python_wheels ;;
  npm) npm_cache ;;
  debs) debs ;;
  *) echo "usage: $0 python|npm|debs (into \${TIANDI_OFFLINE:-dist})" >&2; exit 2 ;;
esac
