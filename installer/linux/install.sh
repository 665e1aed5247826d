#!/usr/bin/env bash
# Install photoclip for the current user, into ~/.local, so it appears in the application menu:
#   ~/.local/lib/photoclip/venv          a Python environment with torch and photoclip
#   ~/.local/bin/photoclip{,-gui}        launchers
#   ~/.local/share/icons/hicolor/...     the icon, every size
#   ~/.local/share/applications/photoclip.desktop, ~/.local/share/metainfo/...
# Run it again to update (it reuses what is there); installer/linux/uninstall.sh removes it.
# Your library (catalog, thumbnails; ~/.local/share/photoclip) is never touched.
#
# Settings, as environment variables:
#   PYTHON             Python 3.11+ to build the environment with (default: python3)
#   TORCH_SPEC         the torch requirement, installed first (default: torch==2.13.0)
#   PHOTOCLIP_TORCH    which torch build: auto (default: CUDA with an NVIDIA GPU, else the
#                      CPU-only build, so no multi-GB CUDA download), cpu, cuda or default.
#                      The rule is installer/torch_choice.py, shared with the Makefile.
#   TORCH_INDEX_URL    where torch comes from, instead of that rule; set but empty: your own
#                      pip configuration alone.
#   PHOTOCLIP_SOURCE   what to install: default this checkout; or a wheel, or a requirement
#   PHOTOCLIP_MODEL_DIR  a CLIP model folder (save_pretrained) to install beside the app, so the
#                      first launch needs no download (installer/README.md, "offline")
#   PHOTOCLIP_DEPS_ENV an existing Python environment that already has photoclip's dependencies
#                      (torch, transformers, PySide6 ...): they are used from there instead of
#                      downloaded. For offline re-installs and the installer's own tests.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# The desktop entry and metainfo templates are source assets (resources/README.md).
assets="$repo/resources/linux"

PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
PHOTOCLIP_SOURCE="${PHOTOCLIP_SOURCE:-$repo}"
PHOTOCLIP_MODEL_DIR="${PHOTOCLIP_MODEL_DIR:-}"
PHOTOCLIP_DEPS_ENV="${PHOTOCLIP_DEPS_ENV:-}"

app_dir="$HOME/.local/lib/photoclip"
venv="$app_dir/venv"
bin_dir="$HOME/.local/bin"
data_dir="${XDG_DATA_HOME:-$HOME/.local/share}"
app_id="io.github.photoclip.photoclip"  # AppStream id (the metainfo file's)

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# Single-quote a string for /bin/sh.
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# The desktop entry names the launcher by its full path; checked before anything is installed.
gui="$bin_dir/photoclip-gui"
case "$gui" in
  # Desktops differ in how they unescape these (GLib does not undo %%): refuse, plainly.
  *[\"\`\$\\%]*) die "cannot write a desktop entry for a path with \", \`, \$, \\ or % in it: $gui" ;;
  *[!A-Za-z0-9/._+-]*) exec_gui="\"$gui\"" ;;  # the desktop entry spec's quoting
  *) exec_gui="$gui" ;;
esac

# --- Python and the environment ----------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.11 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); photoclip needs Python 3.11 or newer"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$PYTHON cannot create virtual environments (Debian/Ubuntu: apt install python3-venv)"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pip' 2>/dev/null; then
  say "updating the environment in $venv"
else
  say "creating the environment in $venv"
  rm -rf "$venv"
  mkdir -p "$app_dir"
  "$PYTHON" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

if [ -n "$PHOTOCLIP_DEPS_ENV" ]; then
  deps_python="$PHOTOCLIP_DEPS_ENV/bin/python"
  [ -x "$deps_python" ] || die "PHOTOCLIP_DEPS_ENV=$PHOTOCLIP_DEPS_ENV has no bin/python"
  version='import sys; print("%d.%d" % sys.version_info[:2])'
  [ "$("$deps_python" -c "$version")" = "$("$venv/bin/python" -c "$version")" ] \
    || die "PHOTOCLIP_DEPS_ENV has another Python version than $PYTHON (its packages won't load)"
  deps_site="$("$deps_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # A .pth line appends that environment's packages after this one's, so photoclip itself
  # always comes from here.
  printf '%s\n' "$deps_site" > "$site/photoclip-deps.pth"
  say "using the dependencies in $PHOTOCLIP_DEPS_ENV"
  source_arg="$PHOTOCLIP_SOURCE"
  if [ -d "$PHOTOCLIP_SOURCE" ]; then
    # Built by that environment's setuptools (the new one's bundled copy may be too old), so
    # nothing is downloaded.
    wheels="$(mktemp -d)"
    trap 'rm -rf "$wheels"' EXIT
    "$deps_python" -m pip wheel -q --no-deps --no-build-isolation -w "$wheels" "$PHOTOCLIP_SOURCE"
    source_arg="$(echo "$wheels"/photoclip-*.whl)"
  fi
  "${pip[@]}" install -q --no-deps "$source_arg"
else
  # One rule for the build (CPU-only unless there is an NVIDIA GPU); it says what it chose.
  torch_out="$("$PYTHON" "$repo/installer/torch_choice.py")" || die "installer/torch_choice.py failed"
  torch_args=()
  [ -z "$torch_out" ] || mapfile -t torch_args <<< "$torch_out"
  say "installing $TORCH_SPEC (the largest download)"
  "${pip[@]}" install -q "${torch_args[@]}" "$TORCH_SPEC"
  say "installing photoclip from $PHOTOCLIP_SOURCE"
  # torch is already satisfied, so the build chosen above stays. pip reinstalls a local
  # checkout or wheel even at the same version, so re-running picks up changes.
  "${pip[@]}" install -q "$PHOTOCLIP_SOURCE"
fi
# -I: the installed photoclip, never one in the current folder (a checkout's own photoclip/
# has no resources: they are installed from resources/).
"$venv/bin/python" -I -c 'import photoclip.cli' || die "photoclip does not import in $venv"

# --- an offline model ---------------------------------------------------------------------------
if [ -n "$PHOTOCLIP_MODEL_DIR" ]; then
  [ -f "$PHOTOCLIP_MODEL_DIR/config.json" ] \
    || die "PHOTOCLIP_MODEL_DIR=$PHOTOCLIP_MODEL_DIR is not a saved model (no config.json)"
  name="$(basename "$(cd "$PHOTOCLIP_MODEL_DIR" && pwd)")"
  say "installing the model $name for offline use"
  mkdir -p "$app_dir/models"
  rm -rf "$app_dir/models/$name.tmp"
  cp -R "$PHOTOCLIP_MODEL_DIR" "$app_dir/models/$name.tmp"
  rm -rf "$app_dir/models/$name"
  mv "$app_dir/models/$name.tmp" "$app_dir/models/$name"
fi

# --- launchers ----------------------------------------------------------------------------------
mkdir -p "$bin_dir"
for cmd in photoclip photoclip-gui; do
  tmp="$bin_dir/.$cmd.tmp"
  {
    echo '#!/bin/sh'
    echo "# Written by photoclip's installer/linux/install.sh; uninstall.sh removes it."
    echo "models=$(shquote "$app_dir/models")"
    # A model folder installed beside the app is what a new library starts with.
    echo 'if [ -z "${PHOTOCLIP_MODELS_DIR:-}" ] && [ -d "$models" ]; then'
    echo '  PHOTOCLIP_MODELS_DIR="$models"; export PHOTOCLIP_MODELS_DIR'
    echo 'fi'
    echo "exec $(shquote "$venv/bin/$cmd") \"\$@\""
  } > "$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$bin_dir/$cmd"
done

# --- icon, desktop entry, metainfo ---------------------------------------------------------------
icons="$("$venv/bin/python" -I -c \
  'from importlib.resources import files; print(files("photoclip.resources") / "icons")')"
[ -f "$icons/photoclip.svg" ] || die "the installed package has no icons in $icons"
hicolor="$data_dir/icons/hicolor"
for png in "$icons"/photoclip-*.png; do
  size="${png##*-}"; size="${size%.png}"
  install -D -m 644 "$png" "$hicolor/${size}x${size}/apps/photoclip.png"
done
install -D -m 644 "$icons/photoclip.svg" "$hicolor/scalable/apps/photoclip.svg"

sed_escape() { printf '%s' "$1" | sed -e 's/[|&]/\\&/g'; }
mkdir -p "$data_dir/applications"
# Full paths: a desktop session does not always have ~/.local/bin on its PATH.
sed -e "s|^TryExec=.*|TryExec=$(sed_escape "$gui")|" \
    -e "s|^Exec=photoclip-gui |Exec=$(sed_escape "$exec_gui") |" \
  "$assets/photoclip.desktop" > "$data_dir/applications/.photoclip.desktop.tmp"
mv -f "$data_dir/applications/.photoclip.desktop.tmp" "$data_dir/applications/photoclip.desktop"
install -D -m 644 "$assets/$app_id.metainfo.xml" "$data_dir/metainfo/$app_id.metainfo.xml"

# Menus and "Open with" pick the entry up by themselves; these refresh caches where they exist.
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$data_dir/applications" || true
fi
if [ -f "$hicolor/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f "$hicolor" || true
else
  touch "$hicolor"  # GTK rescans a theme folder newer than its cache
fi

say "installed: photoclip is in your application menu"
case ":$PATH:" in
  *":$bin_dir:"*) say "from a terminal: photoclip --help" ;;
  *) say "from a terminal: $bin_dir/photoclip --help ($bin_dir is not on your PATH)" ;;
esac
