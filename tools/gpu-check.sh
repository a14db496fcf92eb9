#!/usr/bin/env bash
# On a GPU machine: build for its architecture, run every test (GPU tests included), every operator benchmark and the
# end-to-end benchmark and profile of the shipped model, and write the results to OUT_DIR (default ./gpu-results):
# ctest.log, bench_<op>.json, benchmarks.md (the operator table for docs/benchmarks.md), e2e_b<B>.{txt,json},
# profile.{txt,json}. TAR=1 packs OUT_DIR into OUT_DIR.tgz (for the device tool, which returns at most 8 files).
# On the H200 through the device tool: run with carry [".device-deps"] and
#   source .device-deps/env.sh; TAR=1 tools/gpu-check.sh $OUT/gpu 90 Usage: tools/gpu-check.sh [OUT_DIR] [ARCH]   (ARCH default: 90 = H100/H200)
set -uo pipefail
out=${1:-gpu-results}
arch=${2:-90}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
nvcc --version | tail -1 >> "$out/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DPOINTRT_WERROR=${WERROR:-ON} \
  > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|FAILED" -A5 "$out/build.log" | head -60; exit 1; }
ctest --test-dir build-gpu --output-on-failure -j4 > "$out/ctest.log" 2>&1
rc=$?
grep -E "tests passed|tests failed|Failed|\*\*\*|Skipped|Not Run" "$out/ctest.log" | head -40
for b in build-gpu/bench/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  "$b" --benchmark_out="$out/$name.json" --benchmark_out_format=json ${BENCH_FILTER:+--benchmark_filter=$BENCH_FILTER} \
    > "$out/$name.txt" 2>&1 || { echo "$name failed:"; tail -20 "$out/$name.txt"; }
done
python3 bench/report.py "$out"/bench_*.json > "$out/benchmarks.md" 2>/dev/null && cat "$out/benchmarks.md"
# End to end: the shipped model on the sample frame (points on the device -> boxes on the device), and its profile.
model="--config models/iassd_hvcsx2_kitti.json --weights models/iassd_hvcsx2_kitti_random.safetensors --device cuda"
for b in 1 8 32; do
  build-gpu/bin/pointrt bench $model --max-batch $b --batch $b --iterations 500 --warmup 50 \
    --json "$out/e2e_b$b.json" data/sample/kitti_000003.bin > "$out/e2e_b$b.txt" 2>&1
done
build-gpu/bin/pointrt bench $model --no-graph --iterations 500 --warmup 50 --json "$out/e2e_b1_nograph.json" \
  data/sample/kitti_000003.bin > "$out/e2e_b1_nograph.txt" 2>&1
build-gpu/bin/pointrt profile $model --iterations 200 --warmup 20 --json "$out/profile.json" \
  data/sample/kitti_000003.bin > "$out/profile.txt" 2>&1
cat "$out"/e2e_b*.txt "$out/profile.txt"
# The device tool brings back at most 8 files: with TAR=1 everything goes into one archive beside OUT_DIR.
if [ -n "${TAR:-}" ]; then tar czf "$out.tgz" -C "$(dirname "$out")" "$(basename "$out")" && rm -rf "$out"; fi
exit $rc
