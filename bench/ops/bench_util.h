// Shared by the operator benchmarks: CUDA-event timing of one call per iteration, with warm-up, and the median,
// p90 and mean in microseconds reported as counters (Google Benchmark's own time is the mean, manual time).
// The call is captured once into a CUDA graph and the graph is replayed, as the engine will run it; each replay
// is queued behind a short spin kernel, so the events measure device time, not the host's launch latency. The
// counter `nodes` is the number of graph nodes (kernels, memsets) of one call.
//
//   BENCHMARK(BM_x)->Apply(pointrt::bench::device_timed)->Arg(1)->Arg(8);
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

// Registration policy of every operator benchmark (time_cuda reports the time itself): manual time, kIterations
// iterations, microseconds. Use as BENCHMARK(BM_x)->Apply(pointrt::bench::device_timed).
inline void device_timed(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMicrosecond);
}

// device_timed at the batch sizes the engine is measured at (argument "batch": 1 and 8).
inline void device_timed_batch_1_8(benchmark::internal::Benchmark* b) {
  device_timed(b);
  b->ArgNames({"batch"})->Arg(1)->Arg(8);
}

// Keeps the GPU busy for about `microseconds` on `stream`.
void gpu_delay(cudaStream_t stream, int microseconds);

// One call of an operator captured as a CUDA graph (throws if the call is not capturable).
class CapturedCall {
 public:
  template <typename Call>
  CapturedCall(cudaStream_t stream, Call&& call) {
    POINTRT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    call(stream);
    POINTRT_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
    POINTRT_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
    POINTRT_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &nodes_));
  }
  ~CapturedCall() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
  }
  CapturedCall(const CapturedCall&) = delete;
  CapturedCall& operator=(const CapturedCall&) = delete;
  void launch(cudaStream_t stream) const { POINTRT_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }
  std::size_t nodes() const { return nodes_; }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  std::size_t nodes_ = 0;
};

// Runs `call(stream)` kWarmup times directly (first-call set-up), captures it into a graph, then replays the graph
// once per benchmark iteration between two CUDA events.
template <typename Call>
void time_cuda(benchmark::State& state, cudaStream_t stream, Call&& call) {
  for (int i = 0; i < kWarmup; ++i) call(stream);
  POINTRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  const CapturedCall graph(stream, call);
  for (int i = 0; i < kWarmup; ++i) graph.launch(stream);
  POINTRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  core::Event start, stop;
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    gpu_delay(stream, kQueueAheadUs);
    start.record(stream);
    graph.launch(stream);
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
  state.counters["nodes"] = static_cast<double>(graph.nodes());
  state.SetLabel(core::cuda_device_summary());
}

// ../shared/data beside the repository (the build's POINTRT_SHARED_DATA), or $POINTRT_SHARED_DATA.
std::string shared_data_dir();

// Real input for the benchmarks: KITTI frames 0..batch-1 (velodyne_reduced, wrapping after 6) of ../shared/data,
// preprocessed to n points, as [B, n, 4] f32 on the host. Throws when the shared data is missing.
Tensor kitti_points(int batch, std::size_t n = 16384);

}  // namespace pointrt::bench
