#!/usr/bin/env bash
# Build dist/vit-gui/ with PyInstaller, slim it, run the frozen executable's self-test, and
# pack it: dist/vit-gui-<version>-<os>-<arch>.tar.gz (and, on Debian-like Linux with dpkg-deb,
# a .deb that is installed, self-tested and removed again: scripts/package_deb.sh).
# Usage: bash scripts/package.sh [--with-default-model] [--no-deb]
#   --with-default-model  download the default model (vit-b16, ~346 MB) first, so the
#                         build carries it (needs internet access).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip --disable-pip-version-check -q install "pyinstaller>=6.10"
# the models the app carries, staged outside the checkout's model_data/ (which stays as it was)
rm -rf build/bundled-models && mkdir -p build/bundled-models
cp -p model_data/* build/bundled-models/ 2>/dev/null || true
if [ "${1:-}" = "--with-default-model" ]; then
    VIT_GUI_DATA_DIR="$PWD/build/model-download" .venv/bin/vit-gui models get vit-b16
    cp build/model-download/models/* build/bundled-models/
fi
# the built-in real model (converted by setup into the user's models folder) travels with the app
builtin=$(.venv/bin/python scripts/builtin_model.py)
cp "$builtin" "$builtin.json" build/bundled-models/
export VIT_GUI_BUNDLED_MODELS="$PWD/build/bundled-models"
rm -rf build/vit-gui dist/vit-gui
.venv/bin/pyinstaller --noconfirm --log-level WARN build.spec
if [ "$(uname -s)" = "Linux" ] && command -v strip > /dev/null; then
    # symbol tables torch's and Python's libraries carry but never read: 415 -> 345 MB for libtorch_cpu
    # alone. Only these: libraries a wheel's repair tool rewrote (numpy's openblas) break when stripped.
    strip --strip-unneeded dist/vit-gui/_internal/torch/lib/*.so* dist/vit-gui/_internal/libpython3*.so* \
        dist/vit-gui/_internal/python3*/lib-dynload/*.so
    # scipy's and scikit-learn's compiled modules too (4.8 MB), except those the wheels' repair tool
    # rewrote to find the libraries bundled with them (they carry an RPATH or RUNPATH)
    if command -v readelf > /dev/null; then
        find dist/vit-gui/_internal/scipy dist/vit-gui/_internal/sklearn -name '*.so' | while read -r module; do
            case "$(readelf -d "$module")" in  # no pipe into grep -q: with pipefail, its early exit reads as "no"
                *RPATH*|*RUNPATH*) ;;
                *) strip --strip-unneeded "$module" ;;
            esac
        done
    fi
fi
echo "package: dist/vit-gui is $(du -sh dist/vit-gui | cut -f1), by part:" >&2
.venv/bin/python scripts/package_report.py dist/vit-gui >&2

# the self-test loads the default model: the bundled real backbone
VIT_GUI_DATA_DIR="$PWD/build/self-test-data" QT_QPA_PLATFORM=offscreen dist/vit-gui/vit-gui --self-test

version=$(.venv/bin/python -c "import vit_gui; print(vit_gui.__version__)")
os_name=$(uname -s | tr '[:upper:]' '[:lower:]')
archive="dist/vit-gui-$version-$os_name-$(uname -m).tar.gz"
tar -czf "$archive" -C dist vit-gui
echo "package: $archive is $(du -h "$archive" | cut -f1)" >&2
if [ "${1:-}" != "--no-deb" ] && [ "$os_name" = "linux" ] && command -v dpkg-deb > /dev/null; then
    bash scripts/package_deb.sh "$version"
fi
