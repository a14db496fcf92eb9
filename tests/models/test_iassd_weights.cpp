// IA-SSD weight loading (models/iassd/weights.h): a complete random weight set for the shipped config, built from
// expected_weights and written as safetensors, loads with every block present and BatchNorm folded; then one test per
// kind of bad file, each checking that the message names the file and the tensor.
#include "models/iassd/weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "models/iassd/config.h"
#include "pointrt/error.h"
#include "support/test_data.h"

namespace pointrt::models::iassd {
namespace {

using pointrt::testing::expect_error;

const std::string kFile = "w.safetensors";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const IassdConfig& shipped_config() {
  static const IassdConfig config = load_config(pointrt::testing::source_path("models/iassd_hvcsx2_kitti.json"));
  return config;
}

std::map<std::string, std::string> good_metadata() {
  return {{"format", "pointrt-iassd"}, {"config_name", "iassd_hvcsx2_kitti"}};
}

// A complete, valid random weight set for the shipped config (seeded; running_var in [0.1, 2]).
const std::map<std::string, Tensor>& random_weights() {
  static const std::map<std::string, Tensor> tensors = [] {
    std::mt19937 rng(20240611);
    std::uniform_real_distribution<float> signed_dist(-0.5f, 0.5f);
    std::uniform_real_distribution<float> positive_dist(0.1f, 2.0f);
    std::map<std::string, Tensor> out;
    for (const WeightSpec& spec : expected_weights(shipped_config())) {
      Tensor t = Tensor::empty(spec.shape, DType::F32);
      const bool positive = ends_with(spec.name, ".running_var") || ends_with(spec.name, ".bn.weight");
      float* p = t.data_as<float>();
      for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = positive ? positive_dist(rng) : signed_dist(rng);
      out.emplace(spec.name, t);
    }
    return out;
  }();
  return tensors;
}

// A weight file holding copies of the random set (so a test may change values).
engine::WeightFile good_file() {
  engine::WeightFile file;
  file.metadata = good_metadata();
  for (const auto& entry : random_weights()) file.tensors.emplace(entry.first, entry.second.to(Device::Host));
  return file;
}

IassdWeights load(const engine::WeightFile& file) { return load_weights(shipped_config(), file, kFile); }

void expect_load_error(const engine::WeightFile& file, std::vector<std::string> parts) {
  parts.insert(parts.begin(), kFile + ": ");
  expect_error([&] { load(file); }, parts);
}

// ---- success ----------------------------------------------------------------------------------------------------

TEST(IassdWeights, LoadsACompleteWeightFile) {
  const std::string dir = pointrt::testing::make_temp_dir("iassd_weights");
  const std::string path = dir + "/weights.safetensors";
  engine::write_safetensors(path, random_weights(), good_metadata());
  const IassdWeights weights = load_weights(shipped_config(), path);

  const std::vector<WeightSpec> specs = expected_weights(shipped_config());
  std::map<std::string, Shape> shapes;
  for (const WeightSpec& spec : specs) shapes[spec.name] = spec.shape;
  std::size_t conv_blocks = 0;
  std::size_t linears = 0;
  for (const WeightSpec& spec : specs) {
    std::string prefix;
    if (ends_with(spec.name, ".bn.weight")) {
      prefix = spec.name.substr(0, spec.name.size() - 10);
      ++conv_blocks;
    } else if (ends_with(spec.name, ".bias") && !ends_with(spec.name, ".bn.bias")) {
      prefix = spec.name.substr(0, spec.name.size() - 5);
      ++linears;
    } else {
      continue;
    }
    SCOPED_TRACE(prefix);
    const Shape& w_shape = shapes.at(prefix + ".weight");
    const engine::FoldedLinear& layer = weights.at(prefix);
    EXPECT_EQ(layer.weight.shape(), w_shape);
    EXPECT_EQ(layer.bias.shape(), (Shape{w_shape[0]}));
    EXPECT_EQ(layer.weight.dtype(), DType::F32);
    EXPECT_EQ(layer.bias.dtype(), DType::F32);
  }
  EXPECT_EQ(weights.layers.size(), conv_blocks + linears);
  EXPECT_GT(conv_blocks, 20u);
  EXPECT_EQ(linears, 3u + (shipped_config().vote.sampler.type == SamplerType::CtrTopk ? 1u : 0u) +
                         [] {
                           std::size_t n = 0;
                           for (const SaLayerConfig& l : shipped_config().sa_layers) {
                             if (l.sampler.type == SamplerType::CtrTopk) ++n;
                           }
                           return n;
                         }());
  EXPECT_EQ(weights.at("sa2.grouper1.mlp0").weight.shape(), shapes.at("sa2.grouper1.mlp0.weight"));

  // One conv block, numerically: W' = W * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
  const std::string p = "sa1.grouper0.mlp0";
  const auto& src = random_weights();
  const Tensor w = src.at(p + ".weight");
  const float* g = src.at(p + ".bn.weight").data_as<float>();
  const float* b = src.at(p + ".bn.bias").data_as<float>();
  const float* m = src.at(p + ".bn.running_mean").data_as<float>();
  const float* v = src.at(p + ".bn.running_var").data_as<float>();
  const engine::FoldedLinear& folded = weights.at(p);
  const std::int64_t out = w.dim(0);
  const std::int64_t in = w.dim(1);
  const double eps = shipped_config().batchnorm_eps;
  for (std::int64_t o = 0; o < out; ++o) {
    const double scale = g[o] / std::sqrt(static_cast<double>(v[o]) + eps);
    for (std::int64_t i = 0; i < in; ++i) {
      ASSERT_NEAR(folded.weight.data_as<float>()[o * in + i], w.data_as<float>()[o * in + i] * scale,
                  1e-6 * std::abs(w.data_as<float>()[o * in + i] * scale) + 1e-12);
    }
    ASSERT_NEAR(folded.bias.data_as<float>()[o], b[o] - m[o] * scale, 1e-6 * (std::abs(b[o]) + std::abs(m[o] * scale)));
  }

  // A final linear keeps its weight and bias as stored.
  const engine::FoldedLinear& cls = weights.at("head.cls.out");
  const Tensor cls_w = src.at("head.cls.out.weight");
  const Tensor cls_b = src.at("head.cls.out.bias");
  for (std::int64_t i = 0; i < cls_w.numel(); ++i) EXPECT_EQ(cls.weight.data_as<float>()[i], cls_w.data_as<float>()[i]);
  for (std::int64_t i = 0; i < cls_b.numel(); ++i) EXPECT_EQ(cls.bias.data_as<float>()[i], cls_b.data_as<float>()[i]);
}

TEST(IassdWeights, MetadataIsOptional) {
  engine::WeightFile file = good_file();
  file.metadata.clear();
  EXPECT_NO_THROW(load(file));
}

TEST(IassdWeights, UnknownLayerNamesThePrefix) {
  const IassdWeights weights = load(good_file());
  expect_error([&] { weights.at("sa9.grouper0.mlp0"); }, {"'sa9.grouper0.mlp0'"});
  expect_error([&] { weights.at("sa1.grouper0.mlp0.bn"); }, {"'sa1.grouper0.mlp0.bn'"});
}

// ---- failures ---------------------------------------------------------------------------------------------------

TEST(IassdWeights, MissingTensor) {
  engine::WeightFile file = good_file();
  file.tensors.erase("sa2.grouper1.mlp0.weight");
  expect_load_error(file, {"missing tensor 'sa2.grouper1.mlp0.weight'"});
}

TEST(IassdWeights, ExtraTensors) {
  engine::WeightFile file = good_file();
  file.tensors.emplace("zz_extra", Tensor::zeros({2}, DType::F32));
  expect_load_error(file, {"unexpected tensors not used by config 'iassd_hvcsx2_kitti': zz_extra"});
  for (int i = 0; i < 8; ++i) file.tensors.emplace("extra" + std::to_string(i), Tensor::zeros({1}, DType::F32));
  expect_load_error(file, {"unexpected tensors not used by config 'iassd_hvcsx2_kitti': extra0, extra1, extra2, "
                           "extra3, extra4 (and 4 more)"});
}

TEST(IassdWeights, MisShapedTensor) {
  engine::WeightFile file = good_file();
  const Shape good = file.tensors.at("sa2.grouper1.mlp0.weight").shape();
  const Shape bad{good[0], good[1] - 1};
  file.tensors["sa2.grouper1.mlp0.weight"] = Tensor::zeros(bad, DType::F32);
  expect_load_error(file, {"tensor 'sa2.grouper1.mlp0.weight': expected f32" + shape_string(good) + ", got f32" +
                               shape_string(bad)});
  file = good_file();
  file.tensors["head.reg.out.bias"] = Tensor::zeros({1, 1}, DType::F32);
  expect_load_error(file, {"tensor 'head.reg.out.bias': expected f32[", "got f32[1, 1]"});
}

TEST(IassdWeights, I32TensorWhereF32IsExpected) {
  std::map<std::string, Tensor> tensors = random_weights();
  const Shape shape = tensors.at("vote.offset.out.bias").shape();
  tensors["vote.offset.out.bias"] = Tensor::zeros(shape, DType::I32);
  // Through a real file, so the path is the subject of the error.
  const std::string path = pointrt::testing::make_temp_dir("iassd_weights_i32") + "/bad.safetensors";
  engine::write_safetensors(path, tensors, good_metadata());
  expect_error([&] { load_weights(shipped_config(), path); },
               {path + ": tensor 'vote.offset.out.bias': expected f32" + shape_string(shape) + ", got i32" +
                    shape_string(shape)});
}

TEST(IassdWeights, NaNValue) {
  engine::WeightFile file = good_file();
  file.tensors.at("sa3.grouper0.mlp1.bn.bias").data_as<float>()[7] = std::numeric_limits<float>::quiet_NaN();
  expect_load_error(file, {"tensor 'sa3.grouper0.mlp1.bn.bias'", "element 7", "nan", "finite"});
  file = good_file();
  file.tensors.at("head.cls.out.weight").data_as<float>()[0] = -std::numeric_limits<float>::infinity();
  expect_load_error(file, {"tensor 'head.cls.out.weight'", "element 0", "inf", "finite"});
}

TEST(IassdWeights, NegativeRunningVar) {
  engine::WeightFile file = good_file();
  file.tensors.at("vote_sa.grouper1.mlp2.bn.running_var").data_as<float>()[3] = -0.25f;
  expect_load_error(file, {"tensor 'vote_sa.grouper1.mlp2.bn.running_var'", "element 3", "-0.25", "must be > 0"});
}

TEST(IassdWeights, WrongMetadataFormat) {
  engine::WeightFile file = good_file();
  file.metadata["format"] = "pt";
  expect_load_error(file, {"metadata format 'pt' is not 'pointrt-iassd'"});
  file.metadata.erase("format");
  expect_load_error(file, {"metadata has no \"format\"", "pointrt-iassd"});
}

}  // namespace
}  // namespace pointrt::models::iassd
