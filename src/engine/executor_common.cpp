#include "engine/executor.h"

namespace pointrt::engine {
namespace {

float attr_f(const Layer& L, const char* key) { return L.attrs.at(key).get<float>(); }
int attr_i(const Layer& L, const char* key) { return L.attrs.at(key).get<int>(); }

}  // namespace

std::vector<BoundLayer> bind_layers(const Network& net) {
  std::vector<BoundLayer> out;
  for (const Layer& L : net.layers) {
    BoundLayer b;
    b.layer = &L;
    try {
      switch (L.kind) {
        case LayerKind::Havs: {
          b.havs.sample_num = attr_i(L, "sample_num");
          for (int a = 0; a < 3; ++a) b.havs.voxel[a] = L.attrs.at("voxel").at(static_cast<std::size_t>(a)).get<float>();
          b.havs.tolerance = attr_f(L, "tolerance");
          b.havs.max_iter = attr_i(L, "max_iter");
          break;
        }
        case LayerKind::Fps: b.fps.num_samples = attr_i(L, "num_samples"); break;
        case LayerKind::TopK: b.topk.num_samples = attr_i(L, "num_samples"); break;
        case LayerKind::BallQuery:
          b.ball.radius = attr_f(L, "radius");
          b.ball.nsample = attr_i(L, "nsample");
          break;
        case LayerKind::GridBallQuery:
          b.grid.radius = attr_f(L, "radius");
          b.grid.nsample = attr_i(L, "nsample");
          break;
        case LayerKind::SaMlp:
          b.sa.mask_empty = L.attrs.at("mask_empty").get<bool>();
          b.sa.channel_offset = attr_i(L, "channel_offset");
          b.sa.math = L.attrs.value("math", std::string("fp32")) == "tf32x3" ? ops::SaMlpMath::Tf32x3 : ops::SaMlpMath::Fp32;
          break;
        case LayerKind::Vote:
          for (std::size_t a = 0; a < 3; ++a) b.vote.max_translation[a] = L.attrs.at("max_translation").at(a).get<float>();
          break;
        case LayerKind::BoxDecode: {
          b.decode.num_heading_bins = attr_i(L, "num_heading_bins");
          const std::string coder = L.attrs.at("coder").get<std::string>();
          if (coder == "bin_residual") b.decode.coder = ops::HeadingCoder::BinResidual;
          else if (coder == "bin_ori") b.decode.coder = ops::HeadingCoder::BinOri;
          else fail(net.name + ": layer '" + L.name + "'", "unknown heading coder '" + coder + "'");
          for (const auto& m : L.attrs.at("mean_size")) b.decode.mean_size.push_back({m.at(0).get<float>(), m.at(1).get<float>(), m.at(2).get<float>()});
          break;
        }
        case LayerKind::Nms:
          b.nms.score_threshold = attr_f(L, "score_threshold");
          b.nms.iou_threshold = attr_f(L, "iou_threshold");
          b.nms.max_out = attr_i(L, "max_out");
          b.nms.pre_max = attr_i(L, "pre_max");
          break;
        default: break;
      }
    } catch (const nlohmann::json::exception& e) {
      fail(net.name + ": layer '" + L.name + "'", std::string("bad attributes: ") + e.what());
    }
    out.push_back(std::move(b));
  }
  return out;
}

void Executor::set_override(const std::string& name, const Tensor& values) {
  if (override_plan_ == nullptr) fail("override", "this executor does not support overrides");
  const int id = override_plan_->net.tensor_id(name);
  if (id < 0) fail(override_plan_->net.name, "no tensor named '" + name + "'");
  for (auto it = overrides_.begin(); it != overrides_.end(); ++it) {
    if (it->first == id) {
      overrides_.erase(it);
      break;
    }
  }
  if (!values.defined() || values.numel() == 0) return;  // removal
  const TensorInfo& info = override_plan_->net.tensors[static_cast<std::size_t>(id)];
  if (values.dtype() != info.dtype || values.device() != Device::Host || values.rank() != static_cast<int>(info.shape.size()) + 1 ||
      Shape(values.shape().begin() + 1, values.shape().end()) != info.shape) {
    fail("override '" + name + "'", "expected a host " + std::string(dtype_name(info.dtype)) + " tensor [B] + " +
                                        shape_string(info.shape) + ", got " + values.describe());
  }
  overrides_.emplace_back(id, values);
}

Tensor arena_view(const PlanData& plan, void* arena, Device device, int id, int batch) {
  const TensorInfo& t = plan.net.tensors.at(static_cast<std::size_t>(id));
  Shape shape{batch};
  shape.insert(shape.end(), t.shape.begin(), t.shape.end());
  return Tensor::view(static_cast<char*>(arena) + plan.memory.offsets.at(static_cast<std::size_t>(id)), shape, t.dtype,
                      device);
}

void check_io(const PlanData& plan, int batch, const Tensor& points, const Tensor& boxes, const Tensor& scores,
              const Tensor& nums, Device device) {
  if (batch < 1 || batch > plan.max_batch) {
    fail(plan.net.name, "batch " + std::to_string(batch) + " is outside the plan's 1.." + std::to_string(plan.max_batch) +
                            " (rebuild with a larger --max-batch)");
  }
  auto expect = [&](const Tensor& t, const char* what, int id) {
    const TensorInfo& info = plan.net.tensors.at(static_cast<std::size_t>(id));
    Shape shape{batch};
    shape.insert(shape.end(), info.shape.begin(), info.shape.end());
    if (t.dtype() != info.dtype || t.shape() != shape || t.device() != device || !t.defined()) {
      fail(std::string(what), "expected " + std::string(dtype_name(info.dtype)) + shape_string(shape) + "@" +
                                  device_name(device) + ", got " + t.describe());
    }
  };
  expect(points, "points", plan.net.input);
  expect(boxes, "boxes", plan.net.outputs[0]);
  expect(scores, "scores", plan.net.outputs[1]);
  expect(nums, "nums", plan.net.outputs[2]);
}

}  // namespace pointrt::engine
