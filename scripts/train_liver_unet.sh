#!/usr/bin/env bash
# One command for the liver U-Net weights (models/liver_unet/liver_unet.pt): make the training data and train,
# seed 0, on CPU by default (--device auto picks CUDA when present). About 30 min on a 2-core VM.
# Data: the detector recipe's 36 phantoms (lesion model v1, every phase), 12 phantoms with lesion model v2 (5-100 mm
# lesions, often at the liver's edge) and the recipe's 32 real host studies with inserted lesions, whose liver labels
# are the classical liver_mask's (pinned with --liver-segmenter), and the two host scans whole (heart above the dome,
# bowel below the tip), labelled by liver_mask too. Each of the three folders, and the two whole scans together, are
# sampled equally often.
# Resumable: a rerun skips data already written and resumes training from OUT/unet/last.pt.
# Usage: scripts/train_liver_unet.sh OUT_DIR   (needs ../shared/data for the two host scans)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/train_liver_unet.sh OUT_DIR}
lv=.venv/bin/liverview
data=../shared/data
mkdir -p "$out"
for s in $(seq 1000 1035); do
  [ -f "$out/phantoms/s$s/study.json" ] || $lv synth-ct "$out/phantoms/s$s" --seed $s --lesions 7 --force > /dev/null
done
for s in $(seq 1100 1111); do
  [ -f "$out/phantoms_v2/s$s/study.json" ] || $lv synth-ct "$out/phantoms_v2/s$s" --seed $s --lesions 7 \
    --lesion-model v2 --force > /dev/null
done
[ -f "$out/inserted/hcc048_s16/study.json" ] || $lv synth-inserted "$data/hcc048-pv-dicom/dicom" --name hcc048 \
  --out "$out/inserted" --seeds 1-16 --lesions 6 --max-extent 57.5 --liver-segmenter liver_mask
[ -f "$out/inserted/lits0_s16/study.json" ] || $lv synth-inserted "$data/lits-volume0-dicom/ScalarVolume_0" --name lits0 \
  --out "$out/inserted" --seeds 1-16 --lesions 6 --max-extent 57.5 --liver-segmenter liver_mask
.venv/bin/python -m liverview_plugins.liver_unet.training --data "$out/phantoms" --data "$out/phantoms_v2" \
  --data "$out/inserted" --host "$data/hcc048-pv-dicom/dicom" --host "$data/lits-volume0-dicom/ScalarVolume_0" \
  --out "$out/unet" --seed 0 --threads 2
