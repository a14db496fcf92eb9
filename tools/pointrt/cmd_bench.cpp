// pointrt bench: latency percentiles, throughput and memory of a plan (flags in trtexec's spirit).
// pointrt profile: per-layer times, grouped as the TensorRT deployment's profile, plus the per-layer JSON.
#include <fmt/core.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "core/gpu.h"
#include "core/parallel.h"
#include "core/random.h"

namespace pointrt::cli {

namespace {

struct BenchArgs {
  ModelArgs model;
  std::string input;
  int iterations = 200;
  int warmup = 20;
  int batch = 1;
  bool no_graph = false;
  std::string json;
};

// [batch, N, 3+C] host points: the input frame preprocessed (repeated over the batch), or uniform random points in
// the model's range when no frame is given.
Tensor bench_points(const Plan& plan, const std::string& input, int batch, std::string* source) {
  const ModelInfo& m = plan.model();
  const std::int64_t n = m.num_points, c = 3 + static_cast<std::int64_t>(m.features.size());
  Tensor points = Tensor::empty({batch, n, c}, DType::F32);
  float* dst = points.data_as<float>();
  if (!input.empty()) {
    const auto files = expand_inputs({input});
    PreprocessOptions pre;
    for (int i = 0; i < 6; ++i) pre.range[i] = m.point_cloud_range[static_cast<std::size_t>(i)];
    pre.crop_z = m.crop_z;
    pre.num_points = static_cast<std::size_t>(n);
    for (int b = 0; b < batch; ++b) {
      const std::string& f = files[static_cast<std::size_t>(b) % files.size()];
      const PreparedPoints p = preprocess(select_fields(read_point_cloud(f), m.features), pre);
      std::memcpy(dst + b * n * c, p.values.data(), p.values.size() * sizeof(float));
    }
    *source = files.size() == 1 ? files[0] : fmt::format("{} frames from {}", files.size(), input);
    return points;
  }
  core::Random rng(1234);
  for (std::int64_t i = 0; i < batch * n; ++i) {
    for (std::int64_t k = 0; k < c; ++k) {
      const std::size_t a = static_cast<std::size_t>(k < 3 ? k : 2);
      const float lo = k < 3 ? m.point_cloud_range[a] : 0.f, hi = k < 3 ? m.point_cloud_range[a + 3] : 1.f;
      dst[i * c + k] = lo + (hi - lo) * static_cast<float>(rng.below(1u << 24)) / static_cast<float>(1u << 24);
    }
  }
  *source = "uniform random points in the model's range (give a frame for realistic numbers)";
  return points;
}

std::string device_text(const Plan& plan) {
  return plan.target() == Target::CUDA ? core::cuda_device_summary()
                                       : fmt::format("CPU, {} threads", core::cpu_threads());
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure latency (p50/p90/p99), throughput and memory of a plan");
  add_model_options(cmd, args->model);
  cmd->add_option("input", args->input, "A frame (or directory/glob) to run on; default: random points in range");
  cmd->add_option("--iterations", args->iterations, "Timed iterations")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Untimed iterations first")->check(CLI::Range(0, 1000000))->capture_default_str();
  cmd->add_option("--batch", args->batch, "Frames per run")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_flag("--no-graph", args->no_graph, "CUDA: launch layer by layer instead of replaying a CUDA graph");
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  return [args]() {
    ModelArgs margs = args->model;
    margs.max_batch = std::max(margs.max_batch, args->batch);
    const Plan plan = load_model(margs);
    EngineOptions eo;
    eo.use_graph = !args->no_graph;
    Engine engine(plan, eo);
    std::string source;
    const Tensor host_points = bench_points(plan, args->input, args->batch, &source);
    const bool cuda = plan.target() == Target::CUDA;
    const Device dev = cuda ? Device::CUDA : Device::Host;
    const std::int64_t p = plan.model().max_boxes;
    const Tensor points = host_points.to(dev);
    Tensor boxes = Tensor::empty({args->batch, p, 8}, DType::F32, dev);
    Tensor scores = Tensor::empty({args->batch, p}, DType::F32, dev);
    Tensor nums = Tensor::empty({args->batch}, DType::I32, dev);
    void* stream = cuda ? core::cuda_stream_create() : nullptr;
    struct StreamGuard {
      void* s;
      ~StreamGuard() { core::cuda_stream_destroy(s); }
    } guard{stream};
    auto sync = [&]() {
      if (cuda) core::cuda_stream_synchronize(stream);
      engine.synchronize();
    };
    for (int i = 0; i < args->warmup; ++i) {
      engine.enqueue(points, boxes, scores, nums, stream);
      sync();
    }
    std::vector<double> wall, gpu;
    std::unique_ptr<core::DeviceTimer> timer;
    if (cuda) timer = std::make_unique<core::DeviceTimer>();
    for (int i = 0; i < args->iterations; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (timer) timer->start(stream);
      engine.enqueue(points, boxes, scores, nums, stream);
      if (timer) timer->stop(stream);
      sync();
      wall.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (timer) gpu.push_back(timer->elapsed_ms());
    }
    // throughput: runs queued back to back, one synchronisation at the end
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < args->iterations; ++i) engine.enqueue(points, boxes, scores, nums, stream);
    sync();
    const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double fps = static_cast<double>(args->iterations) * args->batch / total_s;
    const MemoryInfo mem = engine.memory();

    auto stats = [](const std::vector<double>& v) {
      return nlohmann::json{{"p50_ms", median_of(v)}, {"p90_ms", percentile_of(v, 90)}, {"p99_ms", percentile_of(v, 99)},
                            {"min_ms", percentile_of(v, 0)}, {"max_ms", percentile_of(v, 100)}};
    };
    fmt::print("device      {}\n", device_text(plan));
    fmt::print("input       {} (batch {})\n", source, args->batch);
    fmt::print("mode        {}, {} warm-up + {} timed iterations\n",
               cuda ? (args->no_graph ? "CUDA, layer by layer" : "CUDA graph replay") : "CPU", args->warmup,
               args->iterations);
    auto line = [](const char* what, const std::vector<double>& v) {
      fmt::print("{:<11} p50 {:.4f} ms, p90 {:.4f} ms, p99 {:.4f} ms, min {:.4f} ms, max {:.4f} ms\n", what,
                 median_of(v), percentile_of(v, 90), percentile_of(v, 99), percentile_of(v, 0), percentile_of(v, 100));
    };
    if (cuda) line("GPU time", gpu);
    line("latency", wall);
    fmt::print("throughput  {:.1f} frames/s\n", fps);
    fmt::print("memory      {:.2f} MiB = activations {:.2f} + workspace {:.2f} + weights {:.2f} + other {:.2f}\n",
               static_cast<double>(mem.total()) / (1 << 20), static_cast<double>(mem.arena_bytes) / (1 << 20),
               static_cast<double>(mem.workspace_bytes) / (1 << 20), static_cast<double>(mem.weight_bytes) / (1 << 20),
               static_cast<double>(mem.other_bytes) / (1 << 20));
    if (!args->json.empty()) {
      nlohmann::json j{{"device", device_text(plan)}, {"input", source}, {"batch", args->batch},
                       {"graph", cuda && !args->no_graph}, {"iterations", args->iterations}, {"warmup", args->warmup},
                       {"latency", stats(wall)}, {"frames_per_s", fps},
                       {"memory", {{"total_bytes", mem.total()}, {"arena_bytes", mem.arena_bytes},
                                   {"workspace_bytes", mem.workspace_bytes}, {"weight_bytes", mem.weight_bytes},
                                   {"other_bytes", mem.other_bytes}}}};
      if (cuda) j["gpu_time"] = stats(gpu);
      std::ofstream f(args->json, std::ios::trunc);
      if (!f) fail(args->json, "cannot open for writing");
      f << j.dump(1) << "\n";
    }
    return 0;
  };
}

Command add_profile_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  args->iterations = 50;
  args->warmup = 5;
  args->json = "profile.json";
  CLI::App* cmd = app.add_subcommand("profile", "Per-layer times: the grouped table and a per-layer JSON file");
  add_model_options(cmd, args->model);
  cmd->add_option("input", args->input, "A frame (or directory/glob) to run on; default: random points in range");
  cmd->add_option("--iterations", args->iterations, "Profiled iterations")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Unprofiled iterations first")->check(CLI::Range(0, 100000))->capture_default_str();
  cmd->add_option("--batch", args->batch, "Frames per run")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--json", args->json, "Per-layer JSON output file")->capture_default_str();
  return [args]() {
    ModelArgs margs = args->model;
    margs.max_batch = std::max(margs.max_batch, args->batch);
    const Plan plan = load_model(margs);
    Engine engine(plan);
    std::string source;
    const Tensor points = bench_points(plan, args->input, args->batch, &source);
    const Profile prof = engine.profile(points, args->iterations, args->warmup);
    fmt::print("device: {}; input: {} (batch {}); {} iterations after {} warm-up; layer by layer with {}\n\n",
               prof.device, source, args->batch, args->iterations, args->warmup,
               plan.target() == Target::CUDA ? "CUDA events (no graph)" : "the host clock");
    fmt::print("{}", prof.table());
    std::ofstream f(args->json, std::ios::trunc);
    if (!f) fail(args->json, "cannot open for writing");
    f << prof.json() << "\n";
    fmt::print("\nper-layer times: {}\n", args->json);
    return 0;
  };
}

}  // namespace pointrt::cli
