// pointrt — plans and engines: from a model to boxes.
//
//   Plan plan = Plan::build("models/iassd_hvcsx2_kitti.json", "weights.safetensors", {Target::CUDA, 8});
//   plan.save("iassd.ptplan");                 // later: Plan::load("iassd.ptplan")
//   Engine engine(plan);
//   auto dets = engine.detect({preprocess(read_point_cloud("000000.bin"), engine.preprocess_options())});
//
// A Plan is a validated network with BatchNorm folded into its dense layers, its weights and a memory plan (one
// arena, sized for the plan's maximum batch), built for one target: the CPU or the CUDA GPU it was built on. An
// Engine runs a plan: on CUDA, enqueue() is asynchronous, allocates nothing and replays one CUDA graph per batch
// size (captured at the first run of that size). Nothing here includes a CUDA header; streams are passed as void*.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pointrt/detection.h"
#include "pointrt/pointcloud.h"
#include "pointrt/profiler.h"
#include "pointrt/tensor.h"

namespace pointrt {

enum class Target {
  Auto,  // CUDA when this build has it and a GPU is usable, else the CPU
  CPU,
  CUDA,
};
const char* target_name(Target target);      // "auto", "cpu", "cuda"
Target parse_target(const std::string& name);  // throws Error listing the accepted names

// Arithmetic of a plan. Inputs, outputs and activations are float32 either way.
enum class Precision {
  FP32,    // float32 everywhere (the reference arithmetic; what the parity tests hold to FP32 tolerances)
  TF32x3,  // the fused grouper MLPs on tensor cores with 3xTF32 error compensation (CUDA, sm_80+): faster, with about
           // 10x the float32 rounding error in those layers; everything else as FP32. CPU plans compute FP32.
};
const char* precision_name(Precision precision);         // "fp32", "tf32x3"
Precision parse_precision(const std::string& name);      // throws Error listing the accepted names

struct BuildOptions {
  Target target = Target::Auto;
  Precision precision = Precision::FP32;
  int max_batch = 1;                // 1..1024
  bool keep_intermediates = false;  // no activation memory reuse: every layer's output stays readable (debugging)
};

// What a plan says about its model (from the model config).
struct ModelInfo {
  std::string name;
  std::vector<std::string> classes;       // label ids 1..N in this order
  int num_points = 0;                     // points per frame the network takes
  std::vector<std::string> features;      // channels after x, y, z
  std::array<float, 6> point_cloud_range{};
  bool crop_z = false;
  int max_boxes = 0;                      // rows of the box outputs per frame
};

class Plan {
 public:
  // Builds a plan from a model config (JSON) and its safetensors weights. Errors name the file and the reason.
  static Plan build(const std::string& config_path, const std::string& weights_path, const BuildOptions& options = {});
  // Reads a .ptplan file; refuses a corrupt, truncated, foreign or newer file, or one from another pointrt version.
  static Plan load(const std::string& path);
  void save(const std::string& path) const;

  Target target() const;           // CPU or CUDA
  std::string arch() const;        // "sm_90" for CUDA plans, "" for CPU plans
  int max_batch() const;
  const ModelInfo& model() const;
  std::int64_t arena_bytes() const;   // activation memory at max batch (the memory plan's peak)
  std::int64_t weight_bytes() const;
  // Human-readable summary for `pointrt inspect`: header, memory, one line per layer (kind, group, shapes).
  std::string describe() const;
  // The same as JSON text.
  std::string describe_json() const;

  // Internal: the engine's view of the plan (Impl is not part of the public API).
  struct Impl;
  explicit Plan(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<const Impl>& impl() const { return impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

struct EngineOptions {
  bool use_graph = true;  // CUDA: capture each batch size into a CUDA graph once and replay it
};

struct MemoryInfo {
  std::int64_t arena_bytes = 0;
  std::int64_t workspace_bytes = 0;
  std::int64_t weight_bytes = 0;
  std::int64_t other_bytes = 0;
  std::int64_t total() const { return arena_bytes + workspace_bytes + weight_bytes + other_bytes; }
};

class Engine {
 public:
  explicit Engine(const Plan& plan, const EngineOptions& options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  const Plan& plan() const;
  Target target() const;
  // Preprocessing that matches the model (range, crop_z, number of points).
  PreprocessOptions preprocess_options() const;

  // Host frames (each num_points x (3 + features) values) -> detections per frame (score-sorted, labels 1-based).
  // Any number of frames; they run in batches of at most max_batch. Synchronous.
  std::vector<std::vector<Detection>> detect(const std::vector<PreparedPoints>& frames);

  // Tensor level: points f32 [B, N, 3+C] -> boxes f32 [B, P, 8] (x, y, z, dx, dy, dz, heading, label), scores
  // f32 [B, P], nums i32 [B] (valid rows per frame; the rest are zero). All on the engine's device (host memory
  // for the CPU target). CUDA: asynchronous on `stream` (a cudaStream_t; nullptr = the engine's own stream).
  void enqueue(const Tensor& points, Tensor& boxes, Tensor& scores, Tensor& nums, void* stream = nullptr);
  // Waits for the engine's work to finish; reports device-side errors (e.g. an out-of-range index) as Error.
  void synchronize();

  // Host copy of an intermediate tensor (by name, e.g. "sa1.features") of the last run of `batch` frames. Every
  // tensor is valid only for plans built with keep_intermediates.
  Tensor intermediate(const std::string& name, int batch);

  // Debugging aid ("teacher forcing", used by the parity tests): from the next run on, the intermediate `name` is
  // replaced by `values` (host tensor, [B] + the tensor's shape) right after the layer that writes it, so later
  // layers see the given values. Such runs are not captured into CUDA graphs and synchronise after each override.
  // An empty tensor removes the override.
  void override_intermediate(const std::string& name, const Tensor& values);

  MemoryInfo memory() const;

  // Runs `warmup` then `iterations` profiled passes on `points` (on the engine's device or the host) and returns
  // every layer's time per iteration.
  Profile profile(const Tensor& points, int iterations, int warmup = 3);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pointrt
