// Executors: run a plan's layers over an arena on one device. Internal; the public face is pointrt::Engine.
//
// An executor owns the arena (activations at max batch), the weights on its device and, for CUDA, the workspace,
// the error slots of the gathering kernels and one CUDA graph per batch size. run() reads points [B, N, 3+C] and
// writes boxes [B, P, 8], scores [B, P], nums i32 [B], all on the executor's device; on CUDA it is asynchronous on
// the given stream, allocation-free and (outside profiling mode) replays a graph captured at the first run of each
// batch size.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/plan.h"
#include "ops/ball_query/ball_query.h"
#include "ops/box_decode/box_decode.h"
#include "ops/fps/fps.h"
#include "ops/grid_ball_query/grid_ball_query.h"
#include "ops/havs/havs.h"
#include "ops/nms_bev/nms_bev.h"
#include "ops/sa_mlp/sa_mlp.h"
#include "ops/topk_sample/topk_sample.h"
#include "ops/vote/vote.h"

namespace pointrt::engine {

struct ExecutorOptions {
  bool use_graph = true;  // CUDA: capture each batch size once into a graph and replay it
  bool profile = false;   // record per-layer times (CUDA events / host clock) and NVTX ranges; no graph
};

struct MemoryStats {
  std::int64_t arena_bytes = 0;      // activations (the memory plan's peak)
  std::int64_t workspace_bytes = 0;  // operator scratch (largest layer)
  std::int64_t weight_bytes = 0;
  std::int64_t io_bytes = 0;         // engine-owned staging for inputs/outputs (CUDA graph bindings)
  std::int64_t total() const { return arena_bytes + workspace_bytes + weight_bytes + io_bytes; }
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual void run(int batch, const Tensor& points, Tensor& boxes, Tensor& scores, Tensor& nums, void* stream) = 0;
  // Waits for the executor's work (CUDA: its stream) and, in profiling mode, returns the last run's layer times in
  // milliseconds, one per plan layer; otherwise an empty vector.
  virtual std::vector<double> finish() = 0;
  // Host copy of tensor `name` as left by the last run of `batch` items (meaningful for every tensor only in plans
  // built with keep_intermediates; otherwise for tensors whose arena range has not been reused since).
  virtual Tensor read_tensor(const std::string& name, int batch) = 0;
  virtual MemoryStats memory() const = 0;
  virtual Device device() const = 0;
  // Debugging aid ("teacher forcing"): after the layer that last writes tensor `name` runs, its contents are
  // replaced by `values` (a host tensor of the tensor's shape at that batch). Runs with overrides are not captured
  // into graphs. An empty `values` removes the override.
  void set_override(const std::string& name, const Tensor& values);

 protected:
  // (tensor id, host values) pairs, applied by the executors after each layer.
  std::vector<std::pair<int, Tensor>> overrides_;
  const PlanData* override_plan_ = nullptr;
};

std::unique_ptr<Executor> make_cpu_executor(const PlanData& plan, const ExecutorOptions& options);
// Throws Error in a build without CUDA, without a usable GPU, or when the plan was built for another architecture.
std::unique_ptr<Executor> make_cuda_executor(const PlanData& plan, const ExecutorOptions& options);

// ---- shared by both executors -------------------------------------------------------------------------------

// A layer with its attributes parsed into operator parameters (errors name the layer).
struct BoundLayer {
  const Layer* layer = nullptr;
  ops::HavsParams havs;
  ops::FpsParams fps;
  ops::TopkSampleParams topk;
  ops::BallQueryParams ball;
  ops::GridBallQueryParams grid;
  ops::SaMlpParams sa;
  ops::VoteParams vote;
  ops::BoxDecodeParams decode;
  ops::NmsBevParams nms;
  std::vector<ops::DenseLayer> dense;  // the layer's dense chain on the executor's device (set by the executor)
};
std::vector<BoundLayer> bind_layers(const Network& net);

// View of tensor `id` in `arena` for `batch` items.
Tensor arena_view(const PlanData& plan, void* arena, Device device, int id, int batch);

// Checks points/boxes/scores/nums against the plan for `batch` items on `device`; errors name the tensor.
void check_io(const PlanData& plan, int batch, const Tensor& points, const Tensor& boxes, const Tensor& scores,
              const Tensor& nums, Device device);

}  // namespace pointrt::engine

namespace pointrt::engine {
// "sm_90" of the current GPU (and its name); throws Error without CUDA.
std::string cuda_device_arch(std::string* name);
}  // namespace pointrt::engine
