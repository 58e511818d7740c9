#!/usr/bin/env bash
# dist/vit-gui_<version>_<arch>.deb from dist/vit-gui/: the app in /opt/vit-gui, `vit-gui` on
# the PATH, its desktop entry and icon; then, where this runs as root, install it, run the
# installed app's self-test under a virtual display if there is one (else offscreen), and
# remove it again, leaving nothing behind.
# Usage: bash scripts/package_deb.sh VERSION   (after scripts/package.sh built dist/vit-gui)
set -euo pipefail
cd "$(dirname "$0")/.."
version="$1"
arch=$(dpkg --print-architecture)
root="build/deb/vit-gui_${version}_$arch"
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
         "$root/usr/share/icons/hicolor/512x512/apps"
cp -a dist/vit-gui "$root/opt/vit-gui"
ln -s /opt/vit-gui/vit-gui "$root/usr/bin/vit-gui"
cp resources/vit-gui.desktop "$root/usr/share/applications/"
cp resources/vit-gui.png "$root/usr/share/icons/hicolor/512x512/apps/"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: vit-gui
Version: $version
Architecture: $arch
Maintainer: vit-gui developers <vit-gui@invalid>
Installed-Size: $size
Depends: libxkbcommon-x11-0, libxcb-cursor0, libegl1, libgl1, libfontconfig1
Section: graphics
Priority: optional
Description: classify photos with a Vision Transformer and see where it looked
 A desktop app: drop photos, see the classes and a map of where the model looked,
 check whether a map can be trusted, teach it new classes. Runs on the CPU.
CONTROL
deb="dist/vit-gui_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zgzip -b "$root" "$deb" > /dev/null
echo "package: $deb is $(du -h "$deb" | cut -f1)" >&2
if [ "$(id -u)" != 0 ]; then
    echo "package: not root, so the .deb was built but not installed and tested" >&2
    exit 0
fi
dpkg -i "$deb" > /dev/null 2>&1 || (apt-get install -f -y -q > /dev/null && dpkg -i "$deb" > /dev/null)
data=$(mktemp -d)
if command -v xvfb-run > /dev/null; then
    VIT_GUI_DATA_DIR="$data" xvfb-run -a -s "-screen 0 1280x800x24" vit-gui --self-test
else
    VIT_GUI_DATA_DIR="$data" QT_QPA_PLATFORM=offscreen vit-gui --self-test
fi
rm -rf "$data"
dpkg -r vit-gui > /dev/null
test ! -e /opt/vit-gui && test ! -e /usr/bin/vit-gui
echo "package: the .deb installed, passed its self-test from /usr/bin/vit-gui, and was removed" >&2
