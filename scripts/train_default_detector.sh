#!/usr/bin/env bash
# One command for the shipped detector weights (models/mscn_detector/mscn_detector.pt): make the training data,
# train stage 1 (phantoms), stage 2 (phantoms + real livers with inserted lesions) and stage 3 (the same data at
# 1.0 mm working pixels instead of 1.6, 128 px crops, with stage 2's hard negatives), seed 0, on CPU by default
# (--device auto in train-detector picks CUDA when present). About 110 min on a 2-core VM (stage 3: 32 min,
# mining its hard negatives: about 10).
# Resumable: a rerun skips data already written and resumes each stage from its last.pt.
# Usage: scripts/train_default_detector.sh OUT_DIR   (needs ../shared/data for the two host scans)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/train_default_detector.sh OUT_DIR}
lv=.venv/bin/liverview
data=../shared/data
mkdir -p "$out"
scripts/make_ct_training_data.sh "$out"
# stage 1: as the phantom-only weights were made (6 epochs, then resumed to 9: a warm restart of the schedule)
[ -f "$out/stage1/mscn_detector.pt" ] && [ "$(python3 -c "import json;print(json.load(open('$out/stage1/train_log.json'))['history'][-1]['step'])" 2>/dev/null)" = 1350 ] || {
  $lv train-detector --data "$out/phantoms" --out "$out/stage1" --epochs 6 --seed 0 --threads 2
  $lv train-detector --data "$out/phantoms" --out "$out/stage1" --epochs 9 --seed 0 --threads 2
}
# stage 2: phantoms + inserted lesions, from the stage-1 weights
$lv train-detector --data "$out/phantoms" --data "$out/inserted" --out "$out/stage2" --epochs 20 \
  --steps-per-epoch 200 --seed 0 --threads 2 --init-weights "$out/stage1/mscn_detector.pt"
# hard negatives for stage 3: the stage-2 weights' confident false positives on the training studies (written
# as hard_negatives.json beside each study; train-detector then applies HNSL). The shipped v3 weights were
# trained with them; about 10 min on the 2 cores.
[ -f "$out/.hard_negatives_mined" ] || {
  $lv mine-negatives "$out/phantoms" --weights "$out/stage2/mscn_detector.pt" --threads 2 --quiet
  $lv mine-negatives "$out/inserted" --weights "$out/stage2/mscn_detector.pt" --threads 2 --quiet
  touch "$out/.hard_negatives_mined"
}
# stage 3: finer working pixels (small lesions were 1-2 cells of the stride-4 maps at 1.6 mm), from stage 2;
# cross-phase attention kept to 128 px tiles, the crop it trains on (global attention over a 1 mm slice is slow)
$lv train-detector --data "$out/phantoms" --data "$out/inserted" --out "$out/stage3" --epochs 12 \
  --steps-per-epoch 200 --seed 0 --threads 2 --init-weights "$out/stage2/mscn_detector.pt" \
  --set pixel_mm=1.0 --set crop_px=128 --set learning_rate=0.001 --set attention_window_px=128
echo "weights: $out/stage3/mscn_detector.pt (evaluate with scripts/eval_detector.sh)"
