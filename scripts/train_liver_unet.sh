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
scripts/make_ct_training_data.sh "$out" --with-v2
.venv/bin/python -m liverview_plugins.liver_unet.training --data "$out/phantoms" --data "$out/phantoms_v2" \
  --data "$out/inserted" --host "$data/hcc048-pv-dicom/dicom" --host "$data/lits-volume0-dicom/ScalarVolume_0" \
  --out "$out/unet" --seed 0 --threads 2
