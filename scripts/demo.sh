#!/usr/bin/env bash
# The main job on the shipped specs and sample records, end to end: check the specs, build the
# ECGInstruct demo corpus (images, prompts, LLaVA manifest, build report), compile the sample
# benchmark suite into an evaluation plan, export the corpus as Parquet, train the tiny LLaVA
# on the manifest (CPU, no download) and evaluate it on the plan.
set -euo pipefail
bin=${1:-.venv/bin}
out=${2:-out}
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$(date +%s)
echo "== ecgspec check specs/"
"$bin/ecgspec" check specs/
echo "== ecgspec build specs/ecginstruct.ecg -o $out/ecginstruct"
"$bin/ecgspec" build specs/ecginstruct.ecg -o "$out/ecginstruct"
echo "== ecgspec build specs/ecgbench_samples.ecg -o $out/bench"
"$bin/ecgspec" build specs/ecgbench_samples.ecg -o "$out/bench"
echo "== ecgspec export $out/ecginstruct ecginstruct"
"$bin/ecgspec" export "$out/ecginstruct" ecginstruct
echo "== ecgspec train (tiny LLaVA, CPU)"
"$bin/ecgspec" train "$out/ecginstruct/manifests/ecginstruct.json" --model tiny -o "$out/tiny" --max-steps 20
echo "== ecgspec eval (the tiny model on the sample suite)"
"$bin/ecgspec" eval "$out/bench/plans/ecgbench_samples.json" --backend transformers --model "$out/tiny" \
    -o "$out/eval" --max-tokens 24
echo "== ecgspec preview: contact sheets of the shipped layouts, papers and distortion presets"
"$bin/ecgspec" preview specs/layouts.ecg -o "$out/layouts.png"
"$bin/ecgspec" preview specs/distortions.ecg -o "$out/distortions.png"
echo "done in $(( $(date +%s) - start )) s: corpus in $out/ecginstruct/, plan in $out/bench/plans/,"
echo "  checkpoint in $out/tiny/, scores in $out/eval/ (report.md), contact sheets in $out/"
