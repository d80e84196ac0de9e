#!/usr/bin/env bash
# Render ko2en's HTML report the way readers see it: headless Chromium screenshots at a desktop
# and a phone width, of a report made from the fixtures with the built-in mock (no key, no
# network).
#
#   1. `ko2en translate fixtures/ --mock -o report.html` (a fixed date, so the bytes repeat);
#   2. Chromium (Debian's `chromium` package) prints it to PNG at 1280 px and at 390 px wide,
#      and to PDF (A4, to see one article a page);
#   3. with README=1, also the small PNG the README shows (docs/report.png: one article, 1000 px
#      wide, quantised with pngquant when it is installed).
#
# Environment (all optional):
#   KO2EN_BIN   ko2en binary   [default: <repo>/target/release/ko2en]
#   OUT         where the PNGs and the PDF go [default: ./report-shots]
#   README=1    also write docs/report.png
#
# Usage: scripts/report-screenshots.sh   (needs chromium: apt-get install chromium fonts-noto-cjk)

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KO2EN_BIN=${KO2EN_BIN:-$REPO_ROOT/target/release/ko2en}
OUT=${OUT:-$PWD/report-shots}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

[[ -x $KO2EN_BIN ]] || { echo "ko2en binary not found: $KO2EN_BIN (cargo build --release, or set KO2EN_BIN)" >&2; exit 2; }
[[ -n $CHROMIUM ]] || { echo "chromium is required: apt-get install chromium fonts-noto-cjk" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ko2en-shots.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# A cache and config of its own: nothing of the user's is read or written.
export XDG_CACHE_HOME=$WORK XDG_CONFIG_HOME=$WORK SOURCE_DATE_EPOCH=1796342400
"$KO2EN_BIN" translate "$REPO_ROOT/fixtures" --mock --quiet -o "$OUT/report.html"
echo "report: $OUT/report.html ($(wc -c <"$OUT/report.html") bytes)"

shot() { # shot WIDTH HEIGHT FILE [HTML]
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$WORK/chromium" \
        --window-size="$1,$2" --screenshot="$3" "file://${4:-$OUT/report.html}" 2>/dev/null
    echo "screenshot: $3 ($1 x $2)"
}
shot 1280 1600 "$OUT/desktop.png"
shot 390 1400 "$OUT/phone.png"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chromium" \
    --no-pdf-header-footer --print-to-pdf="$OUT/report.pdf" "file://$OUT/report.html" 2>/dev/null
echo "print: $OUT/report.pdf"

if [[ ${README:-0} == 1 ]]; then
    mkdir -p "$REPO_ROOT/docs"
    # One article's report: its headlines, summaries and translation, side by side.
    "$KO2EN_BIN" translate "$REPO_ROOT/fixtures/k-it-smart-city-exports.txt" --mock --quiet \
        --format html -o "$WORK/one.html"
    shot 1000 900 "$WORK/readme.png" "$WORK/one.html"
    if command -v pngquant >/dev/null; then
        pngquant --force --quality 60-85 --output "$REPO_ROOT/docs/report.png" "$WORK/readme.png"
    else
        cp "$WORK/readme.png" "$REPO_ROOT/docs/report.png"
    fi
    echo "README screenshot: docs/report.png ($(wc -c <"$REPO_ROOT/docs/report.png") bytes)"
fi
