#!/usr/bin/env bash
# Score detector weights on validation studies made by `liverview synth-inserted` with seeds never used in
# training (the data weights are chosen on, never the real test data): detect as shipped (liver filter, cap),
# then eval-detect with the hosts' ignore masks left out (--skip-ignored: possible real, unlabelled lesions).
# Usage: scripts/eval_detector_validation.sh WEIGHTS OUT_DIR STUDIES_DIR [STUDIES_DIR ...]
set -euo pipefail
cd "$(dirname "$0")/.."
weights=$1; out=$2; shift 2
lv=.venv/bin/liverview
for data in "$@"; do
  name=$(basename "$data")
  for s in "$data"/*/; do
    p="$out/$name/$(basename "$s")/proposals.json"
    [ -f "$p" ] || $lv detect "$s" --weights "$weights" --out "$p" > /dev/null
  done
  for protocol in strict deeplesion; do
    $lv eval-detect --pred "$out/$name" --gt "$data"/*/ --protocol $protocol --criterion both --skip-ignored \
      --json "$out/${name}_$protocol.json" > "$out/${name}_$protocol.txt"
  done
done
grep -h -B1 -A2 "^protocol" "$out"/*.txt
