#!/usr/bin/env bash
# One resumable training leg on the GPU machine, sized for the device tool (a command runs at most 10 minutes, files
# come back at most 16 MiB each and at most 8 of them, the working tree travels with at most 64 MiB).
#
#   tools/device-train.sh RUN_DIR OUT_DIR MINUTES [TRAIN_ARGS...]
#
# 1. Generates the simulated training set (python/pointrt_sim, deterministic: SIM_SCENES scenes from SIM_SEED) into
#    /tmp/pointrt-sim unless it is there already.
# 2. If RUN_DIR holds checkpoint parts (checkpoint.pt.part-*), joins them into RUN_DIR/checkpoint.pt and resumes.
# 3. Trains for MINUTES (python -m pointrt_train.train --max-minutes), then splits the checkpoint into 15 MiB parts
#    and copies them, the log and the args into OUT_DIR/run (bring them back, then carry RUN_DIR=that folder next time).
# With the device tool: carry ["train-run"] (an ignored folder holding the parts) and run
#   tools/device-train.sh train-run $OUT 8 --device cuda --batch-size 8 --steps 20000
# or, to fit the schedule to the device time there is (first leg; later legs --resume with the checkpoint's length):
#   tools/device-train.sh train-run $OUT 8 --device cuda --batch-size 16 --budget-minutes 16
set -euo pipefail
run=${1:?usage: device-train.sh RUN_DIR OUT_DIR MINUTES [TRAIN_ARGS...]}
out=${2:?}
minutes=${3:?}
shift 3
scenes=${SIM_SCENES:-2000}
seed=${SIM_SEED:-1}
data=${SIM_DIR:-/tmp/pointrt-sim}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$run" "$out/run"
if [ ! -f "$data/.done-$scenes-$seed" ]; then
  (cd "$repo/python" && "$py" -m pointrt_sim.generate --out "$data" --scenes "$scenes" --seed "$seed" --quiet \
    --jobs "$(nproc)")
  touch "$data/.done-$scenes-$seed"
fi
resume=()
if ls "$run"/checkpoint.pt.part-* >/dev/null 2>&1; then
  cat "$run"/checkpoint.pt.part-* > "$run/checkpoint.pt"
  resume=(--resume)
fi
(cd "$repo/python" && "$py" -m pointrt_train.train --data "$data" --config "$repo/models/iassd_hvcsx2_kitti.json" \
  --out "$(cd "$repo" && realpath "$run")" --max-minutes "$minutes" "${resume[@]}" "$@")
rm -f "$out/run"/checkpoint.pt.part-*
split -b 15M -d -a 2 "$run/checkpoint.pt" "$out/run/checkpoint.pt.part-"
for f in log.jsonl args.json; do [ -f "$run/$f" ] && cp "$run/$f" "$out/run/"; done
ls -la "$out/run"
