#!/usr/bin/env bash
# macOS: build photoclip.app with PyInstaller and put it in a disk image, dist/photoclip-VERSION.dmg,
# with the usual drag-to-Applications link.
# UNTESTED: written from PyInstaller's and hdiutil's documentation; no Mac was available to run
# it. See installer/README.md.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
[ "$(uname -s)" = Darwin ] || { echo "build-dmg.sh runs on macOS" >&2; exit 1; }

# On macOS, PyPI's torch is the right build (CPU + Apple GPU through MPS), so no extra index.
TORCH_INDEX_URL="${TORCH_INDEX_URL-}" bash "$repo/installer/pyinstaller/build.sh"

version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/photoclip/__init__.py")"
app="$repo/dist/photoclip.app"
[ -d "$app" ] || { echo "no $app: the PyInstaller build did not make the bundle" >&2; exit 1; }
# PyInstaller signs ad hoc, enough to run on this Mac (Apple Silicon requires a signature). To
# hand it to others: codesign with a Developer ID (--options runtime), then notarize; without
# that, Gatekeeper makes users right-click > Open the first time.

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
dmg="$repo/dist/photoclip-$version.dmg"
rm -f "$dmg"
hdiutil create -volname photoclip -srcfolder "$staging" -fs HFS+ -format UDZO "$dmg"
echo "==> $(du -sh "$dmg" | cut -f1) $dmg"
