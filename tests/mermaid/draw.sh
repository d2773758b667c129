#!/usr/bin/env bash
# Draws the CA's path of one facts file as a PNG, the way a Markdown viewer draws the
# report's Mermaid block: the report's first flowchart, rendered by the installed mermaid
# package in Debian's headless chromium (no browser download).
#   tests/mermaid/draw.sh tests/fixtures/seed-host.json docs/path-seed-host.png
# Needs `npm ci` here, `apt-get install chromium`, and a built acme-doctor (target/debug).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
facts=$1 out=$2
bin=${ACME_DOCTOR:-$here/../../target/debug/acme-doctor}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Exit 1 (a blocker) and 3 (incomplete) still print the report.
"$bin" --report --from-facts "$facts" > "$work/report.md" || [ $? -ne 2 ]
awk '/^```mermaid$/ {on=1; next} on && /^```$/ {exit} on {print}' "$work/report.md" > "$work/path.mmd"
[ -s "$work/path.mmd" ] || { echo "no mermaid block in the report of $facts" >&2; exit 1; }
cp "$here/node_modules/mermaid/dist/mermaid.min.js" "$work/"
{
  echo '<!doctype html><html><head><meta charset="utf-8"><script src="mermaid.min.js"></script>'
  echo '<style>body{margin:16px;background:#fff;font-family:sans-serif}</style></head><body>'
  echo '<pre class="mermaid">'
  # The diagram as the page's text: the few characters HTML would read as markup escaped.
  sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' "$work/path.mmd"
  echo '</pre><script>mermaid.initialize({startOnLoad:true,securityLevel:"strict"});</script>'
  echo '</body></html>'
} > "$work/page.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --allow-file-access-from-files \
  --window-size="${WIDTH:-1500},${HEIGHT:-260}" --virtual-time-budget=10000 \
  --screenshot="$work/shot.png" "file://$work/page.html" >/dev/null 2>&1
cp "$work/shot.png" "$out"
echo "drew $out"
