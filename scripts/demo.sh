#!/usr/bin/env bash
# The main job on the shipped specs and sample records.
set -euo pipefail
bin=${1:-.venv/bin}
out=${2:-out}
cd "$(dirname "$0")/.."
mkdir -p "$out"
echo "== ecgspec check specs/"
"$bin/ecgspec" check specs/
echo "== ecgspec fmt --check specs/"
"$bin/ecgspec" fmt --check specs/
echo "== ecgspec explain specs/papers.ecg (every declaration, with its content hash)"
"$bin/ecgspec" explain specs/papers.ecg
echo "== ecgspec explain specs/layouts.ecg 4x3"
"$bin/ecgspec" explain specs/layouts.ecg 4x3
