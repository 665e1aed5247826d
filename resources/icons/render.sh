#!/usr/bin/env bash
# Render the application icon's PNG sizes from its SVG (the one source of the design).
# Needs rsvg-convert (Debian/Ubuntu: apt-get install librsvg2-bin). The PNGs are committed, so
# only whoever changes photoclip.svg runs this; tests/installer checks the PNGs still match it.
set -euo pipefail
icons="$(cd "$(dirname "$0")" && pwd)"
command -v rsvg-convert >/dev/null || { echo "rsvg-convert not found: install librsvg2-bin" >&2; exit 1; }
# The hicolor theme's usual sizes, up to the 512 px that software centres show.
for size in 16 24 32 48 64 128 256 512; do
  rsvg-convert --width "$size" --height "$size" "$icons/photoclip.svg" -o "$icons/photoclip-$size.png"
done
echo "rendered $(ls "$icons"/photoclip-*.png | wc -l) PNGs into $icons"
