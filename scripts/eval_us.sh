#!/usr/bin/env bash
# The held-out figures of an ultrasound click model's card: the BUSI test part (never used in training or
# tuning) in two-click mode with GrabCut, the inscribed ellipse, the filled box and NoC@85/90 side by side,
# with boxes drawn to the lesions' edges (the default reader; masks fitted to the box), then with loosely drawn
# boxes (fitted, and as the net drew them), then one-click; and the click latency. Liver figures come from
# cross-validation (scripts/train_us_liver.sh steps 4 and 4b), since the shipped liver model trains on all 16
# liver images.
# Usage: scripts/eval_us.sh WEIGHTS OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
weights=${1:?usage: scripts/eval_us.sh WEIGHTS OUT_DIR}
out=${2:?usage: scripts/eval_us.sh WEIGHTS OUT_DIR}
lv=.venv/bin/liverview
busi=../shared/data/busi-subset
mkdir -p "$out"
$lv eval-us --data "$busi" --split test --mode two-click --grabcut --noc --weights "$weights" --quiet \
  --reliability "$out/busi_test_reliability.png" --json "$out/eval_busi_test_two_click.json"
loose=(--box-margin 0.02 0.10 --box-jitter 0.03)
$lv eval-us --data "$busi" --split test --mode two-click --grabcut --weights "$weights" --quiet "${loose[@]}" \
  --json "$out/eval_busi_test_two_click_loose.json"
$lv eval-us --data "$busi" --split test --mode two-click --weights "$weights" --quiet "${loose[@]}" --no-box-fit \
  --json "$out/eval_busi_test_two_click_loose_nofit.json"
$lv eval-us --data "$busi" --split test --mode one-click --weights "$weights" --quiet \
  --json "$out/eval_busi_test_one_click.json"
.venv/bin/python benchmarks/bench_us.py --weights "$weights" --threads 2
