#!/usr/bin/env bash
# The CT training data shared by the detector and liver U-Net recipes, written under OUT_DIR and skipped where it
# exists (so a rerun continues):
#   phantoms/s1000..s1035   synth-ct, lesion model v1, 7 lesions each, all four phases
#   inserted/{hcc048,lits0}_s1..s16   synth-inserted into the two real host scans, 6 lesions each. The hosts' livers
#       come from the classical liver_mask (pinned: the shipped models' data were made with it); --max-extent 57.5
#       is the bound these studies were drawn with (a bug halved it until 2026-12-02; no lesion > ~55 mm)
#   phantoms_v2/s1100..s1111   only with --with-v2: synth-ct with lesion model v2 (5-100 mm lesions)
# Usage: scripts/make_ct_training_data.sh OUT_DIR [--with-v2]   (needs ../shared/data for the two host scans)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/make_ct_training_data.sh OUT_DIR [--with-v2]}
with_v2=${2:-}
case "$with_v2" in ""|--with-v2) ;; *) echo "unknown option: $with_v2" >&2; exit 2;; esac
lv=.venv/bin/liverview
data=../shared/data
mkdir -p "$out"
for s in $(seq 1000 1035); do
  [ -f "$out/phantoms/s$s/study.json" ] || $lv synth-ct "$out/phantoms/s$s" --seed $s --lesions 7 --force > /dev/null
done
if [ "$with_v2" = --with-v2 ]; then
  for s in $(seq 1100 1111); do
    [ -f "$out/phantoms_v2/s$s/study.json" ] || $lv synth-ct "$out/phantoms_v2/s$s" --seed $s --lesions 7 \
      --lesion-model v2 --force > /dev/null
  done
fi
[ -f "$out/inserted/hcc048_s16/study.json" ] || $lv synth-inserted "$data/hcc048-pv-dicom/dicom" --name hcc048 \
  --out "$out/inserted" --seeds 1-16 --lesions 6 --max-extent 57.5 --liver-segmenter liver_mask
[ -f "$out/inserted/lits0_s16/study.json" ] || $lv synth-inserted "$data/lits-volume0-dicom/ScalarVolume_0" \
  --name lits0 --out "$out/inserted" --seeds 1-16 --lesions 6 --max-extent 57.5 --liver-segmenter liver_mask
