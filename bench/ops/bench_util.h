// Shared by the operator benchmarks: CUDA-event timing of one call per iteration, with warm-up, and the median,
// p90 and mean in microseconds reported as counters (Google Benchmark's own time is the mean, manual time).
// Each timed call is queued behind a short spin kernel, so the events measure the device time of the call, not
// the host's launch latency (which CUDA graphs remove in the engine).
//
//   BENCHMARK(BM_x)->UseManualTime()->Iterations(pointrt::bench::kIterations)->Unit(benchmark::kMicrosecond);
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/cuda_utils.h"
#include "core/gpu.h"
#include "pointrt/pointcloud.h"
#include "pointrt/tensor.h"

namespace pointrt::bench {

constexpr int kIterations = 500;
constexpr int kWarmup = 30;
constexpr int kQueueAheadUs = 200;  // spin time queued before each timed call (longer than launching the call)

// Keeps the GPU busy for about `microseconds` on `stream`.
void gpu_delay(cudaStream_t stream, int microseconds);

// Runs `call(stream)` kWarmup times, then once per benchmark iteration between two CUDA events.
template <typename Call>
void time_cuda(benchmark::State& state, cudaStream_t stream, Call&& call) {
  for (int i = 0; i < kWarmup; ++i) call(stream);
  POINTRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  core::Event start, stop;
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    gpu_delay(stream, kQueueAheadUs);
    start.record(stream);
    call(stream);
    stop.record(stream);
    stop.synchronize();
    const double ms = stop.elapsed_ms_since(start);
    us.push_back(ms * 1e3);
    state.SetIterationTime(ms * 1e-3);
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * static_cast<double>(us.size() - 1) + 0.5)]; };
  double mean = 0;
  for (double v : us) mean += v;
  mean /= static_cast<double>(us.size());
  state.counters["p50_us"] = pct(0.5);
  state.counters["p90_us"] = pct(0.9);
  state.counters["mean_us"] = mean;
  state.SetLabel(core::cuda_device_summary());
}

// ../shared/data beside the repository (the build's POINTRT_SHARED_DATA), or $POINTRT_SHARED_DATA.
std::string shared_data_dir();

// Real input for the benchmarks: KITTI frames 0..batch-1 (velodyne_reduced, wrapping after 6) of ../shared/data,
// preprocessed to n points, as [B, n, 4] f32 on the host. Throws when the shared data is missing.
Tensor kitti_points(int batch, std::size_t n = 16384);

}  // namespace pointrt::bench
