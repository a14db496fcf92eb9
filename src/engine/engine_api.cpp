// pointrt::Plan (except Plan::build, which lives with the model front ends) and pointrt::Engine.
#include <algorithm>
#include <cstring>

#include <fmt/core.h>

#include "core/gpu.h"
#include "core/parallel.h"
#include "engine/executor.h"
#include "engine/plan_impl.h"

namespace pointrt {

const char* target_name(Target target) {
  switch (target) {
    case Target::CPU: return "cpu";
    case Target::CUDA: return "cuda";
    default: return "auto";
  }
}

Target parse_target(const std::string& name) {
  if (name == "auto") return Target::Auto;
  if (name == "cpu") return Target::CPU;
  if (name == "cuda") return Target::CUDA;
  fail("device", "unknown device '" + name + "' (expected auto, cpu or cuda)");
}

const char* precision_name(Precision precision) { return precision == Precision::TF32x3 ? "tf32x3" : "fp32"; }

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::FP32;
  if (name == "tf32x3") return Precision::TF32x3;
  fail("precision", "unknown precision '" + name + "' (expected fp32 or tf32x3)");
}

namespace engine {

Plan make_plan(PlanData data) {
  auto impl = std::make_shared<Plan::Impl>();
  const auto& m = data.net.model;
  ModelInfo& info = impl->model;
  try {
    info.name = m.value("name", data.net.name);
    info.classes = m.value("classes", std::vector<std::string>{});
    info.num_points = m.value("num_points", 0);
    info.features = m.value("features", std::vector<std::string>{});
    if (m.contains("point_cloud_range")) info.point_cloud_range = m.at("point_cloud_range").get<std::array<float, 6>>();
    info.crop_z = m.value("crop_z", false);
    info.max_boxes = m.value("max_boxes", 0);
  } catch (const nlohmann::json::exception& e) {
    fail(data.net.name, std::string("bad model facts in the plan: ") + e.what());
  }
  const auto& input = data.net.tensors.at(static_cast<std::size_t>(data.net.input));
  if (info.num_points != input.shape.at(0) ||
      static_cast<std::int64_t>(info.features.size()) + 3 != input.shape.at(1)) {
    fail(data.net.name, "model facts do not match the network input " + shape_string(input.shape));
  }
  impl->data = std::move(data);
  return Plan(std::move(impl));
}

}  // namespace engine

// ---- Plan ---------------------------------------------------------------------------------------------------

Plan Plan::load(const std::string& path) { return engine::make_plan(engine::read_plan(path)); }
void Plan::save(const std::string& path) const { engine::write_plan(path, impl_->data); }
Target Plan::target() const { return impl_->data.target == engine::PlanTarget::CUDA ? Target::CUDA : Target::CPU; }
std::string Plan::arch() const { return impl_->data.arch; }
int Plan::max_batch() const { return impl_->data.max_batch; }
const ModelInfo& Plan::model() const { return impl_->model; }
std::int64_t Plan::arena_bytes() const { return impl_->data.memory.arena_bytes; }
std::int64_t Plan::weight_bytes() const {
  std::int64_t n = 0;
  for (const auto& w : impl_->data.net.weights) n += static_cast<std::int64_t>(w.value.nbytes());
  return n;
}

std::string Plan::describe_json() const {
  const auto& d = impl_->data;
  nlohmann::json j;
  j["pointrt_version"] = d.pointrt_version;
  j["target"] = engine::plan_target_name(d.target);
  j["arch"] = d.arch;
  j["device_name"] = d.device_name;
  j["max_batch"] = d.max_batch;
  j["keep_intermediates"] = d.keep_intermediates;
  j["arena_bytes"] = d.memory.arena_bytes;
  j["unshared_bytes"] = d.memory.unshared_bytes;
  j["weight_bytes"] = weight_bytes();
  j["network"] = engine::network_to_json(d.net);
  return j.dump(1);
}

std::string Plan::describe() const {
  const auto& d = impl_->data;
  const auto& m = impl_->model;
  std::string s;
  s += fmt::format("model       {} ({} classes: ", m.name, m.classes.size());
  for (std::size_t i = 0; i < m.classes.size(); ++i) s += (i ? ", " : "") + m.classes[i];
  s += ")\n";
  s += fmt::format("target      {}{}\n", engine::plan_target_name(d.target),
                   d.arch.empty() ? std::string() : " " + d.arch + " (" + d.device_name + ")");
  s += fmt::format("pointrt     {}\n", d.pointrt_version);
  s += fmt::format("max batch   {}\n", d.max_batch);
  s += fmt::format("input       points [B, {}, {}] f32\n", m.num_points, 3 + m.features.size());
  s += fmt::format("output      boxes [B, {}, 8] f32, scores [B, {}] f32, nums [B] i32\n", m.max_boxes, m.max_boxes);
  std::int64_t params = 0;
  for (const auto& w : d.net.weights) params += w.value.numel();
  s += fmt::format("weights     {} tensors, {} parameters (BatchNorm folded), {:.2f} MiB\n", d.net.weights.size(), params,
                   static_cast<double>(weight_bytes()) / (1 << 20));
  s += fmt::format("activations {:.2f} MiB arena at batch {} ({:.2f} MiB without reuse{})\n",
                   static_cast<double>(d.memory.arena_bytes) / (1 << 20), d.max_batch,
                   static_cast<double>(d.memory.unshared_bytes) / (1 << 20),
                   d.keep_intermediates ? "; reuse off: keep_intermediates" : "");
  s += fmt::format("layers      {}\n", d.net.layers.size());
  for (const auto& L : d.net.layers) {
    std::string outs;
    for (int id : L.outputs) {
      const auto& t = d.net.tensors[static_cast<std::size_t>(id)];
      outs += (outs.empty() ? "" : ", ") + t.name + " " + shape_string(t.shape);
    }
    std::string widths;
    if (L.attrs.contains("math") && L.attrs["math"] != "fp32") widths += " [" + L.attrs["math"].get<std::string>() + "]";
    if (!L.dense.empty()) {
      widths += " mlp " + std::to_string(d.net.weights[static_cast<std::size_t>(L.dense[0].weight)].value.dim(1));
      for (const auto& dr : L.dense) widths += "->" + std::to_string(d.net.weights[static_cast<std::size_t>(dr.weight)].value.dim(0));
    }
    s += fmt::format("  {:<24} {:<15} {:<13} -> {}{}\n", L.name, engine::layer_kind_name(L.kind), L.group, outs, widths);
  }
  return s;
}

// ---- Engine -------------------------------------------------------------------------------------------------

struct Engine::State {
  Plan plan;
  std::unique_ptr<engine::Executor> exec;
  std::unique_ptr<engine::Executor> profiler;  // created on first profile()
  EngineOptions options;
  Device device = Device::Host;
  // staging for detect() on CUDA (max batch)
  Tensor d_points, d_boxes, d_scores, d_nums;
};

Engine::Engine(const Plan& plan, const EngineOptions& options) : state_(std::make_unique<State>(State{plan, {}, {}, options, {}, {}, {}, {}, {}})) {
  const auto& data = plan.impl()->data;
  engine::ExecutorOptions eo;
  eo.use_graph = options.use_graph;
  if (data.target == engine::PlanTarget::CUDA) {
    state_->exec = engine::make_cuda_executor(data, eo);
    state_->device = Device::CUDA;
  } else {
    state_->exec = engine::make_cpu_executor(data, eo);
  }
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

const Plan& Engine::plan() const { return state_->plan; }
Target Engine::target() const { return state_->plan.target(); }

PreprocessOptions Engine::preprocess_options() const {
  const ModelInfo& m = state_->plan.model();
  PreprocessOptions o;
  for (int i = 0; i < 6; ++i) o.range[i] = m.point_cloud_range[static_cast<std::size_t>(i)];
  o.crop_z = m.crop_z;
  o.num_points = static_cast<std::size_t>(m.num_points);
  return o;
}

void Engine::enqueue(const Tensor& points, Tensor& boxes, Tensor& scores, Tensor& nums, void* stream) {
  if (points.rank() != 3) fail("points", "expected [B, N, 3+C], got " + points.describe());
  state_->exec->run(static_cast<int>(points.dim(0)), points, boxes, scores, nums, stream);
}

void Engine::synchronize() { state_->exec->finish(); }

Tensor Engine::intermediate(const std::string& name, int batch) { return state_->exec->read_tensor(name, batch); }

void Engine::override_intermediate(const std::string& name, const Tensor& values) {
  state_->exec->set_override(name, values);
}

MemoryInfo Engine::memory() const {
  const engine::MemoryStats m = state_->exec->memory();
  MemoryInfo out;
  out.arena_bytes = m.arena_bytes;
  out.workspace_bytes = m.workspace_bytes;
  out.weight_bytes = m.weight_bytes;
  out.other_bytes = m.io_bytes;
  if (state_->d_points.defined() && state_->d_points.device() == Device::CUDA) {
    out.other_bytes += static_cast<std::int64_t>(state_->d_points.nbytes() + state_->d_boxes.nbytes() +
                                                 state_->d_scores.nbytes() + state_->d_nums.nbytes());
  }
  return out;
}

std::vector<std::vector<Detection>> Engine::detect(const std::vector<PreparedPoints>& frames) {
  const ModelInfo& m = state_->plan.model();
  const std::int64_t n = m.num_points, c = 3 + static_cast<std::int64_t>(m.features.size()), p = m.max_boxes;
  const int max_batch = state_->plan.max_batch();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (static_cast<std::int64_t>(frames[i].num_points) != n || static_cast<std::int64_t>(frames[i].num_fields) != c ||
        static_cast<std::int64_t>(frames[i].values.size()) != n * c) {
      fail("frame " + std::to_string(i), "expected " + std::to_string(n) + " points x " + std::to_string(c) +
                                             " fields as the model takes, got " + std::to_string(frames[i].num_points) +
                                             " x " + std::to_string(frames[i].num_fields));
    }
  }
  std::vector<std::vector<Detection>> out;
  out.reserve(frames.size());
  for (std::size_t start = 0; start < frames.size(); start += static_cast<std::size_t>(max_batch)) {
    const int b = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(max_batch), frames.size() - start));
    Tensor points = Tensor::empty({b, n, c}, DType::F32);
    for (int i = 0; i < b; ++i) {
      std::memcpy(points.data_as<float>() + i * n * c, frames[start + static_cast<std::size_t>(i)].values.data(),
                  static_cast<std::size_t>(n * c) * sizeof(float));
    }
    Tensor boxes = Tensor::empty({b, p, 8}, DType::F32), scores = Tensor::empty({b, p}, DType::F32),
           nums = Tensor::empty({b}, DType::I32);
    if (state_->device == Device::CUDA) {
      if (!state_->d_points.defined() || state_->d_points.numel() == 0) {
        state_->d_points = Tensor::empty({max_batch, n, c}, DType::F32, Device::CUDA);
        state_->d_boxes = Tensor::empty({max_batch, p, 8}, DType::F32, Device::CUDA);
        state_->d_scores = Tensor::empty({max_batch, p}, DType::F32, Device::CUDA);
        state_->d_nums = Tensor::empty({max_batch}, DType::I32, Device::CUDA);
      }
      auto first = [&](Tensor& t, const Shape& shape) { return Tensor::view(t.data(), shape, t.dtype(), Device::CUDA); };
      Tensor dp = first(state_->d_points, {b, n, c}), db = first(state_->d_boxes, {b, p, 8}),
             ds = first(state_->d_scores, {b, p}), dn = first(state_->d_nums, {b});
      dp.copy_from(points);
      state_->exec->run(b, dp, db, ds, dn, nullptr);
      state_->exec->finish();
      boxes.copy_from(db);
      scores.copy_from(ds);
      nums.copy_from(dn);
    } else {
      state_->exec->run(b, points, boxes, scores, nums, nullptr);
      state_->exec->finish();
    }
    for (int i = 0; i < b; ++i) {
      std::vector<Detection> dets;
      const int count = std::clamp(nums.data_as<std::int32_t>()[i], 0, static_cast<int>(p));
      for (int r = 0; r < count; ++r) {
        const float* row = boxes.data_as<float>() + (static_cast<std::int64_t>(i) * p + r) * 8;
        Detection d;
        d.box = {row[0], row[1], row[2], row[3], row[4], row[5], row[6]};
        d.label = static_cast<int>(row[7]);
        d.score = scores.data_as<float>()[static_cast<std::int64_t>(i) * p + r];
        dets.push_back(d);
      }
      out.push_back(std::move(dets));
    }
  }
  return out;
}

Profile Engine::profile(const Tensor& points, int iterations, int warmup) {
  if (iterations < 1) fail("profile", "iterations must be >= 1");
  const auto& data = state_->plan.impl()->data;
  if (!state_->profiler) {
    engine::ExecutorOptions eo;
    eo.profile = true;
    eo.use_graph = false;
    state_->profiler = state_->device == Device::CUDA ? engine::make_cuda_executor(data, eo)
                                                       : engine::make_cpu_executor(data, eo);
  }
  if (points.rank() != 3) fail("points", "expected [B, N, 3+C], got " + points.describe());
  const int b = static_cast<int>(points.dim(0));
  const std::int64_t p = state_->plan.model().max_boxes;
  Tensor in = points.device() == state_->device ? points : points.to(state_->device);
  Tensor boxes = Tensor::empty({b, p, 8}, DType::F32, state_->device), scores = Tensor::empty({b, p}, DType::F32, state_->device),
         nums = Tensor::empty({b}, DType::I32, state_->device);
  Profile prof;
  prof.device = state_->device == Device::CUDA ? core::cuda_device_summary()
                                               : fmt::format("CPU, {} threads", core::cpu_threads());
  prof.batch = b;
  prof.iterations = iterations;
  for (const auto& L : data.net.layers) prof.layers.push_back({L.name, engine::layer_kind_name(L.kind), L.group, {}});
  for (int it = 0; it < warmup + iterations; ++it) {
    state_->profiler->run(b, in, boxes, scores, nums, nullptr);
    const std::vector<double> t = state_->profiler->finish();
    if (it < warmup) continue;
    for (std::size_t l = 0; l < prof.layers.size() && l < t.size(); ++l) prof.layers[l].ms.push_back(t[l]);
  }
  return prof;
}

}  // namespace pointrt
