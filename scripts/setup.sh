#!/usr/bin/env bash
# Create .venv and install vit-gui into it. Usage: bash scripts/setup.sh [--test]
#
# torch goes in first, pinned to the CPU build (torch==2.13.0), so pip never resolves a
# multi-gigabyte CUDA build for the unpinned `torch` in pyproject.toml. A torch that is
# already in .venv (e.g. a CUDA build you installed yourself) is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${VIT_GUI_TORCH:-torch==2.13.0}"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "setup: installing $TORCH_SPEC" >&2
    pip install "$TORCH_SPEC"
fi
echo "setup: installing vit-gui$extras" >&2
pip install -e ".$extras"
.venv/bin/python -c "import torch, vit_gui; print(f'setup: ready (torch {torch.__version__}, vit-gui {vit_gui.__version__})')" >&2
