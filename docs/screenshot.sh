#!/usr/bin/env bash
# Look at the built site as a reader does: serve docs/_build/html on 127.0.0.1 and take
# screenshots of a few pages with headless Chromium.
#
#   docs/screenshot.sh [OUTDIR]        (default OUTDIR: docs/_build/screenshots)
#
# Build the site first (sphinx-build -W --keep-going docs docs/_build/html). Needs Debian's
# chromium (installed by this script when run as root; it runs with --no-sandbox). The site loads
# MathJax from a CDN; when Debian's libjs-mathjax is installed, the screenshots use that local
# MathJax instead (on a copy of the site), so that the math renders without network access.
set -euo pipefail
cd "$(dirname "$0")/.."
html=docs/_build/html
out=${1:-docs/_build/screenshots}
[ -f "$html/index.html" ] || { echo "no built site in $html: run sphinx-build first" >&2; exit 1; }
if ! command -v chromium >/dev/null; then
  # Debian's packages; installed here only when running as root (as CI and the sessions do).
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libjs-mathjax >/dev/null
  else
    echo "chromium not found: apt-get install -y chromium libjs-mathjax" >&2
    exit 1
  fi
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

site=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$site"
}
trap cleanup EXIT
cp -r "$html"/. "$site"/
if [ -f /usr/share/javascript/mathjax/MathJax.js ]; then
  ln -s /usr/share/javascript/mathjax "$site/_mathjax"
  python3 - "$site" <<'EOF'
import pathlib, re, sys

root = pathlib.Path(sys.argv[1])
local = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["\\\\(", "\\\\)"]], '
    'displayMath: [["\\\\[", "\\\\]"]], processEscapes: true, ignoreClass: "tex2jax_ignore|mathjax_ignore", '
    'processClass: "tex2jax_process|mathjax_process|math|output_area"}});</script>\n'
    '<script src="/_mathjax/MathJax.js?config=TeX-AMS_CHTML"></script>'
)
for page in root.rglob("*.html"):
    text = page.read_text(encoding="utf-8")
    # A function as the replacement: re.sub would read the backslashes of a replacement string.
    new = re.sub(r'<script>window\.MathJax = .*?</script>\s*<script[^>]*mathjax[^>]*></script>', lambda m: local,
                 text, flags=re.S)
    if new != text:
        page.write_text(new, encoding="utf-8")
EOF
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.html')" 2>/dev/null && break
  sleep 0.1
done

shoot() {  # shoot NAME PATH [HEIGHT]
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=30000 \
    --window-size="1280,${3:-1600}" --screenshot="$out/$1.png" "http://127.0.0.1:$port/$2" >/dev/null 2>&1
  echo "$out/$1.png"
}
shoot landing index.html 1800
shoot guide-estimators guide/estimators.html 2200
shoot guide-losses guide/losses.html 1400
shoot explanation-evidence explanations/evidence.html 1800
shoot gallery auto_examples/index.html 1600
shoot example-band auto_examples/plot_02_regression_band.html 2000
shoot example-classifier auto_examples/plot_04_classifier_regions.html 2200
shoot performance performance.html 2200
shoot generalisation generalisation.html 1800
shoot api-sklearn api/generated/quasinet.sklearn.html 2000
shoot cli api/generated/cli.html 1600
shoot reliability reliability.html 1400
shoot api-quasinet api/generated/quasinet.html 1600
shoot getting-started getting-started.html 2000
shoot float64-profile float64-profile.html 1400
