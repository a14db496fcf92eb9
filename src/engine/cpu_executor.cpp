// CPU executor: the operators' host references over a host arena, layer by layer. Multi-threading comes from the
// operators (dense layers, fused groupers) and from splitting ball queries over query rows here; results do not
// depend on the thread count.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/parallel.h"
#include "engine/executor.h"
#include "ops/group/group.h"
#include "ops/mlp/mlp.h"
#include "ops/split/split.h"

namespace pointrt::engine {
namespace {

class CpuExecutor final : public Executor {
 public:
  CpuExecutor(const PlanData& plan, const ExecutorOptions& options)
      : plan_(plan), options_(options), layers_(bind_layers(plan.net)) {
    arena_ = Tensor::empty({plan.memory.arena_bytes}, DType::I8, Device::Host);
    override_plan_ = &plan;
    for (const auto& w : plan.net.weights) weights_.push_back(w.value);
    for (const auto& w : weights_) weight_bytes_ += static_cast<std::int64_t>(w.nbytes());
    for (auto& b : layers_) b.dense = dense_layers(*b.layer, weights_);  // no per-run host allocation
  }

  void run(int batch, const Tensor& points, Tensor& boxes, Tensor& scores, Tensor& nums, void*) override {
    check_io(plan_, batch, points, boxes, scores, nums, Device::Host);
    Tensor in = view(plan_.net.input, batch);
    std::memcpy(in.data(), points.data(), points.nbytes());
    times_.assign(layers_.size(), 0.0);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const auto t0 = std::chrono::steady_clock::now();
      run_layer(layers_[l], batch);
      apply_overrides(l, batch);
      if (options_.profile) {
        times_[l] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
    }
    boxes.copy_from(view(plan_.net.outputs[0], batch));
    scores.copy_from(view(plan_.net.outputs[1], batch));
    nums.copy_from(view(plan_.net.outputs[2], batch));
  }

  std::vector<double> finish() override { return options_.profile ? times_ : std::vector<double>{}; }

  Tensor read_tensor(const std::string& name, int batch) override {
    const int id = plan_.net.tensor_id(name);
    if (id < 0) fail(plan_.net.name, "no tensor named '" + name + "'");
    return view(id, batch).to(Device::Host);
  }

  MemoryStats memory() const override {
    MemoryStats m;
    m.arena_bytes = plan_.memory.arena_bytes;
    m.weight_bytes = weight_bytes_;
    return m;
  }
  Device device() const override { return Device::Host; }

 private:
  Tensor view(int id, int batch) { return arena_view(plan_, arena_.data(), Device::Host, id, batch); }
  Tensor in(const BoundLayer& b, std::size_t i, int batch) { return view(b.layer->inputs[i], batch); }
  Tensor out(const BoundLayer& b, std::size_t i, int batch) { return view(b.layer->outputs[i], batch); }

  void apply_overrides(std::size_t l, int batch) {
    for (const auto& [id, values] : overrides_) {
      for (int out : layers_[l].layer->outputs) {
        if (out == id && values.dim(0) == batch) view(id, batch).copy_from(values);
      }
    }
  }

  void run_layer(const BoundLayer& b, int batch) {
    const Layer& L = *b.layer;
    switch (L.kind) {
      case LayerKind::Split: {
        Tensor xyz = out(b, 0, batch), features;
        if (L.outputs.size() > 1) features = out(b, 1, batch);
        ops::split_cpu(in(b, 0, batch), xyz, L.outputs.size() > 1 ? &features : nullptr);
        break;
      }
      case LayerKind::Havs: {
        Tensor i = out(b, 0, batch), v = out(b, 1, batch), n = out(b, 2, batch);
        ops::havs_cpu(in(b, 0, batch), b.havs, i, v, n);
        break;
      }
      case LayerKind::Fps: {
        Tensor i = out(b, 0, batch);
        ops::fps_cpu(in(b, 0, batch), i, b.fps);
        break;
      }
      case LayerKind::TopK: {
        Tensor i = out(b, 0, batch);
        ops::topk_sample_cpu(in(b, 0, batch), i, b.topk);
        break;
      }
      case LayerKind::Gather: {
        Tensor o = out(b, 0, batch);
        ops::gather_points_cpu(in(b, 0, batch), in(b, 1, batch), o);
        break;
      }
      case LayerKind::BallQuery: {
        // Every query is independent: split the centres into row blocks (identical results for any split).
        Tensor xyz = in(b, 0, batch), ctr = in(b, 1, batch), cnt = out(b, 0, batch), idx = out(b, 1, batch);
        const std::int64_t m = ctr.dim(1), k = idx.dim(2), n = xyz.dim(1);
        const std::int64_t block = 64;
        const std::int64_t blocks = (m + block - 1) / block;
        core::parallel_for(batch * blocks, [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t t = begin; t < end; ++t) {
            const std::int64_t bi = t / blocks, m0 = (t % blocks) * block, rows = std::min(block, m - m0);
            Tensor x1 = Tensor::view(xyz.data_as<float>() + bi * n * 3, {1, n, 3}, DType::F32);
            Tensor c1 = Tensor::view(ctr.data_as<float>() + (bi * m + m0) * 3, {1, rows, 3}, DType::F32);
            Tensor n1 = Tensor::view(cnt.data_as<std::int32_t>() + bi * m + m0, {1, rows}, DType::I32);
            Tensor i1 = Tensor::view(idx.data_as<std::int32_t>() + (bi * m + m0) * k, {1, rows, k}, DType::I32);
            ops::ball_query_cpu(x1, c1, b.ball, n1, i1);
          }
        });
        break;
      }
      case LayerKind::GridBallQuery: {
        Tensor cnt = out(b, 0, batch), idx = out(b, 1, batch);
        ops::grid_ball_query_cpu(in(b, 0, batch), in(b, 1, batch), in(b, 2, batch), b.grid, cnt, idx);
        break;
      }
      case LayerKind::SaMlp: {
        Tensor features;
        const bool has_features = L.inputs[1] >= 0;
        if (has_features) features = in(b, 1, batch);
        Tensor o = out(b, 0, batch);
        ops::sa_mlp_cpu(in(b, 0, batch), has_features ? &features : nullptr, in(b, 2, batch), in(b, 3, batch),
                        in(b, 4, batch), b.dense, o, b.sa);
        break;
      }
      case LayerKind::Mlp: {
        Tensor x = in(b, 0, batch), o = out(b, 0, batch);
        Tensor x2 = x.reshape({x.dim(0) * x.dim(1), x.dim(2)});
        Tensor o2 = o.reshape({o.dim(0) * o.dim(1), o.dim(2)});
        ops::mlp_cpu(x2, b.dense, o2);
        break;
      }
      case LayerKind::Vote: {
        Tensor o = out(b, 0, batch);
        ops::vote_cpu(in(b, 0, batch), in(b, 1, batch), o, b.vote);
        break;
      }
      case LayerKind::BoxDecode: {
        Tensor bx = out(b, 0, batch), sc = out(b, 1, batch);
        ops::box_decode_cpu(in(b, 0, batch), in(b, 1, batch), in(b, 2, batch), bx, sc, b.decode);
        break;
      }
      case LayerKind::Nms: {
        Tensor bx = out(b, 0, batch), sc = out(b, 1, batch), n = out(b, 2, batch);
        ops::nms_bev_cpu(in(b, 0, batch), in(b, 1, batch), bx, sc, n, b.nms);
        break;
      }
    }
  }

  const PlanData& plan_;
  ExecutorOptions options_;
  std::vector<BoundLayer> layers_;
  Tensor arena_;
  std::vector<Tensor> weights_;
  std::int64_t weight_bytes_ = 0;
  std::vector<double> times_;
};

}  // namespace

std::unique_ptr<Executor> make_cpu_executor(const PlanData& plan, const ExecutorOptions& options) {
  if (plan.target != PlanTarget::CPU) {
    fail(plan.net.name, std::string("this plan was built for ") + plan_target_name(plan.target) +
                            ", not the CPU; build one with `pointrt build --device cpu`");
  }
  return std::make_unique<CpuExecutor>(plan, options);
}

}  // namespace pointrt::engine
