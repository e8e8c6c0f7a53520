#!/usr/bin/env bash
# The main job on the shipped specs and sample records: check the specs, then render every
# sample record as a calibrated printout (PNG + geometry sidecar), clean and through the
# `scanned` preset, and contact sheets of the shipped layouts, papers and distortion presets.
set -euo pipefail
bin=${1:-.venv/bin}
out=${2:-out}
cd "$(dirname "$0")/.."
mkdir -p "$out/pages" "$out/scanned"
echo "== ecgspec check specs/"
"$bin/ecgspec" check specs/
echo "== ecgspec fmt --check specs/"
"$bin/ecgspec" fmt --check specs/
echo "== ecgspec explain specs/layouts.ecg 4x3"
"$bin/ecgspec" explain specs/layouts.ecg 4x3
echo "== ecgspec render: every sample record, 4x3 on the 'muse' printout style"
for hea in data/samples/*/*.hea data/samples/ptbxl/records100/*.hea; do
    rec=${hea%.hea}
    "$bin/ecgspec" render "$rec" --layout 4x3 --paper muse -o "$out/pages/$(basename "$rec").png"
    "$bin/ecgspec" render "$rec" --layout 4x3 --paper muse --distort scanned -o "$out/scanned/$(basename "$rec").png"
done
echo "== ecgspec preview: every shipped layout, paper and distortion preset"
"$bin/ecgspec" preview specs/layouts.ecg -o "$out/layouts.png"
"$bin/ecgspec" preview specs/papers.ecg -o "$out/papers.png"
"$bin/ecgspec" preview specs/distortions.ecg -o "$out/distortions.png"
echo "done: $(ls "$out/pages"/*.png | wc -l) pages in $out/pages/, contact sheets in $out/"
