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
rm -rf build/vit-gui dist/vit-gui
.venv/bin/pyinstaller --noconfirm --log-level WARN build.spec
echo "package: dist/vit-gui is $(du -sh dist/vit-gui | cut -f1)" >&2

# The self-test loads the default model; with none bundled (no pretrained weights can be
# had where CI runs), it tests an untrained stand-in instead, and says so.
model_args=()
if ! ls model_data/*.safetensors model_data/*.pth model_data/*.pt model_data/*.bin >/dev/null 2>&1; then
    stand_in=$(.venv/bin/python scripts/make_test_model.py build/self-test-model)
    echo "package: no default model in model_data/: self-testing with $stand_in" >&2
    model_args=(--model "$stand_in")
fi
VIT_GUI_DATA_DIR="$PWD/build/self-test-data" QT_QPA_PLATFORM=offscreen dist/vit-gui/vit-gui --self-test "${model_args[@]}"
