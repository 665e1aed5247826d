#!/usr/bin/env bash
# Remove what installer/linux/install.sh installed for the current user. Your library
# (catalog, thumbnails, settings: ~/.local/share/photoclip unless you chose another) is kept;
# delete it yourself if you want it gone.
set -euo pipefail

app_dir="$HOME/.local/lib/photoclip"
bin_dir="$HOME/.local/bin"
data_dir="${XDG_DATA_HOME:-$HOME/.local/share}"
app_id="io.github.photoclip.photoclip"

# Only launchers that install.sh wrote: a `photoclip` from elsewhere (pip --user) stays.
for cmd in photoclip photoclip-gui; do
  if [ -f "$bin_dir/$cmd" ] && grep -q "photoclip's installer/linux/install.sh" "$bin_dir/$cmd"; then
    rm -f "$bin_dir/$cmd"
  fi
done
rm -f "$data_dir/applications/photoclip.desktop" "$data_dir/metainfo/$app_id.metainfo.xml"
hicolor="$data_dir/icons/hicolor"
rm -f "$hicolor"/*/apps/photoclip.png "$hicolor/scalable/apps/photoclip.svg"
rm -rf "$app_dir"

if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$data_dir/applications" ]; then
  update-desktop-database -q "$data_dir/applications" || true
fi
if [ -f "$hicolor/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f "$hicolor" || true
elif [ -d "$hicolor" ]; then
  touch "$hicolor"
fi
echo "==> photoclip removed. Your library is kept (by default in $data_dir/photoclip)."
