#!/usr/bin/env bash
# Create the virtual environment with everything the project and its tests need.
# Usage: scripts/setup.sh [VENV] [PYTHON]. Safe to run again.
set -euo pipefail
venv=${1:-.venv}
py=${2:-python3}
cd "$(dirname "$0")/.."

# System libraries: cairo draws the pages, DejaVu is the default font.
need=()
ldconfig -p 2>/dev/null | grep -q 'libcairo.so.2' || need+=(libcairo2)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "setup: please install ${need[*]} (apt-get install ${need[*]})" >&2
        exit 1
    fi
fi

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# torch first, pinned: this machine has its CPU build on disk, and a bare `torch` would pull CUDA.
"$venv/bin/python" -m pip install -q 'torch==2.13.0'
# torch pinned again: lmms-eval wants torchvision, and the newest torchvision would replace torch with a CUDA build.
"$venv/bin/python" -m pip install -q -e '.[dev,train,eval,dicom,lmms]' 'torch==2.13.0'
# That torchvision (PyPI's, built for CUDA) fails to import beside the CPU torch ('operator torchvision::nms does
# not exist'), which breaks transformers' processors; nothing here uses it (docs/training.md), so it goes again.
"$venv/bin/python" -m pip uninstall -q -y torchvision
# The grammar must also load with lark 1.2.2, which vllm pins; tests use this copy to check it.
"$venv/bin/python" -m pip install -q --no-deps --target "$venv/lark-1.2.2" 'lark==1.2.2'
