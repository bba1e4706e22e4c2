#!/bin/sh
# Builds luobo's Debian package from the committed tree (git archive of
# HEAD, or of the commit given), in a fresh folder outside the work tree,
# with Debian's tools: nothing of a developer's build or uncommitted edits
# goes in.
#   scripts/package.sh [OUT_DIR] [COMMIT]     (default: build-package/, HEAD)
# Prints the path of the .deb.  Needs dpkg-dev, debhelper and the build
# dependencies of debian/control (scripts/setup.sh installs them).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-package}
commit=${2:-HEAD}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/src.XXXXXX")
trap 'rm -rf "$work"' EXIT
git -C "$top" archive --format=tar --prefix=luobo/ "$commit" | tar -x -C "$work"
cd "$work/luobo"
# hls.js comes from npm at build time; with no npm the UI falls back to
# the browser's native HLS (webui/fetch-hlsjs.sh)
jobs=$(nproc 2>/dev/null || echo 2)
DEB_BUILD_OPTIONS="parallel=$jobs nocheck" dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "package: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
}
rm -f "$out"/luobo_*.deb "$out"/luobo-dbgsym_*.deb "$out"/luobo_*.buildinfo "$out"/luobo_*.changes
mv "$work"/luobo_*.deb "$work"/luobo_*.buildinfo "$work"/luobo_*.changes "$out"/
mv "$work"/luobo-dbgsym_*.deb "$out"/ 2>/dev/null || true
ls "$out"/luobo_*.deb
