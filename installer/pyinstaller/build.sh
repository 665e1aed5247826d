#!/usr/bin/env bash
# Build the packaged app with PyInstaller: dist/photoclip/ (one folder) with `photoclip-gui`
# and `photoclip` in it; copy or archive that folder to install it anywhere. Runs on Linux,
# Windows (Git Bash) and macOS, each building for itself; see installer/README.md.
#
# It uses a build environment of its own, never the project's .venv (PyInstaller and a
# non-editable photoclip go in there). Settings, as environment variables:
#   PYTHON          Python 3.11+ for the build environment (default: python3)
#   BUILD_VENV      the build environment (default: build/pyinstaller-venv)
#   TORCH_SPEC      default torch==2.13.0
#   TORCH_INDEX_URL default PyTorch's CPU-only index (a CUDA torch makes a ~5 GB app); set it
#                   empty to use your pip configuration
#   PHOTOCLIP_BUNDLE_MODEL  a CLIP model folder (save_pretrained) to ship inside the app for
#                   offline installs; installer/fetch_model.py saves one
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-python3}"
BUILD_VENV="${BUILD_VENV:-$repo/build/pyinstaller-venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"

py="$BUILD_VENV/bin/python"
[ -x "$py" ] || py="$BUILD_VENV/Scripts/python.exe"  # Windows layout
if [ ! -x "$py" ]; then
  echo "==> creating the build environment $BUILD_VENV"
  "$PYTHON" -m venv "$BUILD_VENV"
  py="$BUILD_VENV/bin/python"
  [ -x "$py" ] || py="$BUILD_VENV/Scripts/python.exe"
fi
pip=("$py" -m pip --disable-pip-version-check)
"${pip[@]}" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"
# Not editable: PyInstaller then collects the package data exactly as a wheel installs it.
"${pip[@]}" install -q "$repo" "pyinstaller>=6.10"

echo "==> building dist/photoclip${PHOTOCLIP_BUNDLE_MODEL:+ with the model $PHOTOCLIP_BUNDLE_MODEL}"
"$py" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$repo/dist" --workpath "$repo/build/pyinstaller" \
  "$repo/installer/pyinstaller/photoclip.spec"

app="$repo/dist/photoclip"
cli="$app/photoclip"
[ -x "$cli" ] || cli="$app/photoclip.exe"
if [ -x "$cli" ]; then
  "$cli" --version
fi
echo "==> $(du -sh "$app" | cut -f1) in $app"
