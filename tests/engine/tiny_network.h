// A small valid network for the engine's own tests: points [N, 4] -> split -> dense heads on the intensity ->
// box decode around the points -> NMS. It exercises the IR, the memory planner, plans and both executors in
// milliseconds, without a model config.
#pragma once

#include "core/random.h"
#include "engine/network.h"

namespace pointrt::testing {

inline Tensor random_tensor(const Shape& shape, std::uint64_t seed, float scale) {
  Tensor t = Tensor::empty(shape, DType::F32);
  core::Random rng(seed);
  float* p = t.data_as<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    p[i] = scale * (static_cast<float>(rng.below(1u << 20)) / static_cast<float>(1u << 19) - 1.0f);
  }
  return t;
}

inline engine::Network tiny_network(std::int64_t n = 64, int max_out = 16) {
  using engine::LayerKind;
  engine::Network net;
  net.name = "tiny";
  net.input = net.add_tensor("input.points", DType::F32, {n, 4});
  const int xyz = net.add_tensor("input.xyz", DType::F32, {n, 3});
  const int feat = net.add_tensor("input.features", DType::F32, {n, 1});
  const int hidden_cls = net.add_tensor("cls", DType::F32, {n, 2});
  const int reg = net.add_tensor("reg", DType::F32, {n, 8});
  const int boxes = net.add_tensor("decode.boxes", DType::F32, {n, 8});
  const int scores = net.add_tensor("decode.scores", DType::F32, {n});
  const int ob = net.add_tensor("out.boxes", DType::F32, {max_out, 8});
  const int os = net.add_tensor("out.scores", DType::F32, {max_out});
  const int on = net.add_tensor("out.nums", DType::I32, {});
  auto dense = [&](const std::string& name, std::int64_t in, std::int64_t out, bool relu, std::uint64_t seed) {
    return engine::DenseRef{net.add_weight(name + ".weight", random_tensor({out, in}, seed, 1.0f)),
                            net.add_weight(name + ".bias", random_tensor({out}, seed + 1, 0.1f)), relu};
  };
  auto layer = [&](const std::string& name, LayerKind kind, const char* group, std::vector<int> in, std::vector<int> out,
                   nlohmann::json attrs, std::vector<engine::DenseRef> d) {
    net.layers.push_back(
        engine::Layer{name, kind, group, std::move(in), std::move(out), std::move(attrs), std::move(d)});
  };
  layer("split", LayerKind::Split, "Others", {net.input}, {xyz, feat}, nlohmann::json::object(), {});
  layer("cls", LayerKind::Mlp, "Head", {feat}, {hidden_cls}, nlohmann::json::object(),
        {dense("cls0", 1, 8, true, 10), dense("cls1", 8, 2, false, 20)});
  layer("reg", LayerKind::Mlp, "Head", {feat}, {reg}, nlohmann::json::object(), {dense("reg0", 1, 8, false, 30)});
  layer("decode", LayerKind::BoxDecode, "Head", {hidden_cls, reg, xyz}, {boxes, scores},
        {{"num_heading_bins", 1}, {"coder", "bin_residual"}, {"mean_size", {{3.9, 1.6, 1.56}, {0.8, 0.6, 1.73}}}}, {});
  layer("nms", LayerKind::Nms, "NMSBEV", {boxes, scores}, {ob, os, on},
        {{"score_threshold", 0.1}, {"iou_threshold", 0.01}, {"max_out", max_out}, {"pre_max", 0}}, {});
  net.outputs = {ob, os, on};
  net.model = {{"name", "tiny"}, {"classes", {"A", "B"}}, {"num_points", n}, {"features", {"intensity"}},
               {"point_cloud_range", {0, -40, -3, 70.4, 40, 1}}, {"crop_z", false}, {"max_boxes", max_out}};
  return net;
}

}  // namespace pointrt::testing
