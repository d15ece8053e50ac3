#!/usr/bin/env bash
# Evaluate a CT detector the way the model card reports it, beside the classical baseline, on data it never
# trained or tuned on: IRCADb 17 (real, 2 tumours), the 24 DeepLesion key slices (real, 2D), and fresh
# phantoms (synthetic). Usage: scripts/eval_detector.sh WEIGHTS OUT_DIR [PHANTOM_DIR]
# PHANTOM_DIR holds synth-ct studies from seeds never used in training (default: 5 made here, seeds 9100-9104).
set -euo pipefail
cd "$(dirname "$0")/.."
weights=$1; out=$2; phantoms=${3:-$out/phantoms}
lv=.venv/bin/liverview
data=../shared/data
mkdir -p "$out"
if [ ! -d "$phantoms" ]; then
  for s in 9100 9101 9102 9103 9104; do $lv synth-ct "$phantoms/s$s" --seed $s --lesions 7 > /dev/null; done
fi
for model in mscn_detector hypodense_blobs; do
  w=(); [ "$model" = mscn_detector ] && w=(--weights "$weights")
  if [ -d "$data/ircadb-liver17" ]; then
    $lv detect "$data/ircadb-liver17/ct.nii.gz" --model $model "${w[@]}" --out "$out/$model/ircad17/proposals.json" > /dev/null
    for p in strict deeplesion manual1k; do
      $lv eval-detect --pred "$out/$model/ircad17/proposals.json" --gt "$data/ircadb-liver17/tumor_instances.nii.gz" \
        --protocol $p --criterion both --json "$out/$model/ircad17_$p.json" > "$out/$model/ircad17_$p.txt"
    done
  fi
  for s in "$phantoms"/*/; do
    $lv detect "$s" --model $model "${w[@]}" --out "$out/$model/phantoms/$(basename "$s")/proposals.json" > /dev/null
  done
  for p in strict deeplesion manual1k; do
    $lv eval-detect --pred "$out/$model/phantoms" --gt "$phantoms"/*/ --protocol $p --criterion both \
      --json "$out/$model/phantoms_$p.json" > "$out/$model/phantoms_$p.txt"
  done
done
if [ -d "$data/deeplesion-liver-keyslices" ]; then
  # DL_info records the pixel spacing of key slices the manifest gives none (else they are read at 0.8 mm)
  dl=(); for f in "$data"/deeplesion-dlinfo/DL_info_niftiID_test.csv "$data"/deeplesion-dlinfo/DeepLesion_Liver_test_set.csv; do
    [ -f "$f" ] && dl+=(--dl-info "$f"); done
  for pad in 5 0; do  # 5: DeepLesion's boxes pad the RECIST extent by 5 px (the default); 0: boxes as predicted
    $lv eval-keyslices "$data/deeplesion-liver-keyslices/manifest.csv" --weights "$weights" --pad-pred $pad "${dl[@]}" \
      --json "$out/mscn_detector/keyslices_pad$pad.json" > "$out/mscn_detector/keyslices_pad$pad.txt"
    # the classical baseline on the same slices (it refuses slices showing too little liver: no detection there)
    $lv eval-keyslices "$data/deeplesion-liver-keyslices/manifest.csv" --model hypodense_blobs --pad-pred $pad "${dl[@]}" \
      --json "$out/hypodense_blobs/keyslices_pad$pad.json" > "$out/hypodense_blobs/keyslices_pad$pad.txt"
    # the same without the liver filter (as the figures were before the liver mask worked on one slice)
    $lv eval-keyslices "$data/deeplesion-liver-keyslices/manifest.csv" --weights "$weights" --pad-pred $pad "${dl[@]}" \
      --no-liver-filter --json "$out/mscn_detector/keyslices_pad${pad}_no_liver_filter.json" \
      > "$out/mscn_detector/keyslices_pad${pad}_no_liver_filter.txt"
  done
fi
grep -h -A2 "^protocol" "$out"/*/*.txt
