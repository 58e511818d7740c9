#!/usr/bin/env bash
# Build dist/vit-gui/ with PyInstaller and run the frozen executable's self-test.
# Usage: bash scripts/package.sh [--with-default-model]
#   --with-default-model  download the default model (vit-b16, ~346 MB) into model_data/
#                         first, so the build carries it (needs internet access).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip --disable-pip-version-check -q install "pyinstaller>=6.10"
if [ "${1:-}" = "--with-default-model" ]; then
    VIT_GUI_DATA_DIR="$PWD/build/model-download" .venv/bin/vit-gui models get vit-b16
    cp build/model-download/models/* model_data/
fi
# the built-in real model (converted by setup into the user's models folder) travels with the app
builtin=$(.venv/bin/python scripts/builtin_model.py)
cp "$builtin" "$builtin.json" model_data/
rm -rf build/vit-gui dist/vit-gui
.venv/bin/pyinstaller --noconfirm --log-level WARN build.spec
echo "package: dist/vit-gui is $(du -sh dist/vit-gui | cut -f1)" >&2

# the self-test loads the default model: the bundled real backbone
VIT_GUI_DATA_DIR="$PWD/build/self-test-data" QT_QPA_PLATFORM=offscreen dist/vit-gui/vit-gui --self-test
