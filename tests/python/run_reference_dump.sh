#!/usr/bin/env bash
# CTest fixture: the PyTorch reference's dump of every intermediate of IA-SSD (shipped config, seeded random
# weights) on KITTI frames 000000 and 000001 (batched), into OUT_DIR/reference.safetensors; test_iassd_parity reads
# it. Exits 77 (skip) when python3 with torch is missing or the shared data is absent (unless
# POINTRT_REQUIRE_SHARED_DATA is set). Reuses an existing dump made from the same inputs.
set -eu
repo=${1:?usage: run_reference_dump.sh REPO OUT_DIR SHARED_DATA}
out=${2:?}
shared=${3:?}
source "$(dirname "$0")/../support/find_python.sh"
find_python torch,numpy python3-torch
frames=("$shared/kitti/training/velodyne_reduced/000000.bin" "$shared/kitti/training/velodyne_reduced/000001.bin")
for f in "${frames[@]}"; do
  if [ ! -f "$f" ]; then
    if [ -n "${POINTRT_REQUIRE_SHARED_DATA:-}" ]; then echo "error: $f is missing"; exit 1; fi
    echo "skipped: $f is missing (shared data)"; exit 77
  fi
done
config="$repo/models/iassd_hvcsx2_kitti.json"
weights="$repo/models/iassd_hvcsx2_kitti_random.safetensors"
stamp=$(cat "$config" "$weights" "${frames[@]}" "$repo"/python/pointrt_ref/*.py | sha256sum | cut -d' ' -f1)
if [ -f "$out/reference.safetensors" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "reference dump up to date: $out/reference.safetensors"
  exit 0
fi
mkdir -p "$out"
rm -f "$out/stamp"
cd "$repo/python"
"$py" -m pointrt_ref.dump_reference --config "$config" --weights "$weights" --frames "${frames[@]}" --out "$out"
echo "$stamp" > "$out/stamp"
