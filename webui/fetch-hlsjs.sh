#!/bin/sh
# Installs hls.js 1.x from npm into webui/www/vendor/hls.min.js (git-ignored;
# never committed).  Run by the build; harmless to run again.  Without npm or
# the registry the UI still works where the browser plays HLS natively.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out="$here/www/vendor/hls.min.js"
if [ -n "${1:-}" ]; then
  work=$1
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work" "$here/www/vendor"
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-hlsjs: npm not found; /vendor/hls.min.js will be missing" >&2
  exit 0
fi
if (cd "$work" && npm install --no-save --no-audit --no-fund --silent --prefix "$work" hls.js@1 >/dev/null 2>&1) &&
   [ -f "$work/node_modules/hls.js/dist/hls.min.js" ]; then
  cp "$work/node_modules/hls.js/dist/hls.min.js" "$out.tmp" && mv "$out.tmp" "$out"
  echo "fetch-hlsjs: $(node -e "console.log(require('$work/node_modules/hls.js/package.json').version)" 2>/dev/null) -> $out"
else
  echo "fetch-hlsjs: npm install hls.js@1 failed; /vendor/hls.min.js will be missing" >&2
fi
exit 0
