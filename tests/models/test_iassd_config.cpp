// IA-SSD model config: the shipped models/iassd_hvcsx2_kitti.json against the spec (shared/spec/model-iassd.md
// sections 2-6 and 8-9), the derived widths and weight shapes, and one test per validation rule (each mutates the
// shipped JSON and checks the error's file, JSON path and reason).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "models/iassd/config.h"
#include "pointrt/error.h"
#include "support/test_data.h"

namespace pointrt::models::iassd {
namespace {

using Json = nlohmann::ordered_json;
using pointrt::testing::expect_error;

const char* const kFile = "models/x.json";

std::string shipped_path() { return pointrt::testing::source_path("models/iassd_hvcsx2_kitti.json"); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Json shipped_json() { return Json::parse(read_text(shipped_path())); }

IassdConfig parse(const Json& j) { return parse_config(j.dump(), kFile); }

// Expects parse_config(j) to fail with "models/x.json: <path_and_reason>" and every extra part.
void expect_config_error(const Json& j, const std::string& path_and_reason, std::vector<std::string> more = {}) {
  more.insert(more.begin(), std::string(kFile) + ": " + path_and_reason);
  expect_error([&] { parse(j); }, more);
}

void expect_text_error(const std::string& text, const std::vector<std::string>& parts) {
  expect_error([&] { parse_config(text, kFile); }, parts);
}

std::map<std::string, std::vector<std::int64_t>> weight_map(const std::vector<WeightSpec>& weights) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const WeightSpec& w : weights) out[w.name] = w.shape;
  return out;
}

std::int64_t elements(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ------------------------------------------------------------------------------------------------------------------
// The shipped config

TEST(IassdConfig, ShippedConfigHasTheSpecNumbers) {
  const IassdConfig c = load_config(shipped_path());
  EXPECT_EQ(c.version, 1);
  EXPECT_EQ(c.name, "iassd_hvcsx2_kitti");
  EXPECT_EQ(c.classes, (std::vector<std::string>{"Car", "Pedestrian", "Cyclist"}));

  EXPECT_EQ(c.input.num_points, 16384);
  EXPECT_EQ(c.input.features, (std::vector<std::string>{"intensity"}));
  EXPECT_EQ(c.input.point_cloud_range, (std::array<float, 6>{0.0f, -40.0f, -3.0f, 70.4f, 40.0f, 1.0f}));
  EXPECT_FALSE(c.input.crop_z);

  ASSERT_EQ(c.sa_layers.size(), 3u);
  const SaLayerConfig& sa1 = c.sa_layers[0];
  EXPECT_EQ(sa1.name, "sa1");
  EXPECT_EQ(sa1.sampler.type, SamplerType::Havs);
  EXPECT_EQ(sa1.sampler.num_samples, 4096);
  EXPECT_EQ(sa1.sampler.voxel, (std::array<float, 3>{0.4f, 0.4f, 0.35f}));
  EXPECT_EQ(sa1.sampler.tolerance, 0.01f);
  EXPECT_EQ(sa1.sampler.max_iter, 20);
  ASSERT_EQ(sa1.groupers.size(), 2u);
  EXPECT_EQ(sa1.groupers[0].radius, 0.2f);
  EXPECT_EQ(sa1.groupers[0].nsample, 16);
  EXPECT_EQ(sa1.groupers[0].mlp, (std::vector<int>{16, 16, 32}));
  EXPECT_EQ(sa1.groupers[1].radius, 0.8f);
  EXPECT_EQ(sa1.groupers[1].nsample, 32);
  EXPECT_EQ(sa1.groupers[1].mlp, (std::vector<int>{32, 32, 64}));
  EXPECT_EQ(sa1.query, QueryType::Ball);
  EXPECT_EQ(sa1.aggregation, 64);

  const SaLayerConfig& sa2 = c.sa_layers[1];
  EXPECT_EQ(sa2.name, "sa2");
  EXPECT_EQ(sa2.sampler.type, SamplerType::Havs);
  EXPECT_EQ(sa2.sampler.num_samples, 1024);
  EXPECT_EQ(sa2.sampler.voxel, (std::array<float, 3>{2.0f, 2.0f, 1.75f}));
  EXPECT_EQ(sa2.groupers[0].radius, 0.8f);
  EXPECT_EQ(sa2.groupers[0].nsample, 16);
  EXPECT_EQ(sa2.groupers[0].mlp, (std::vector<int>{64, 64, 128}));
  EXPECT_EQ(sa2.groupers[1].radius, 1.6f);
  EXPECT_EQ(sa2.groupers[1].nsample, 32);
  EXPECT_EQ(sa2.groupers[1].mlp, (std::vector<int>{64, 96, 128}));
  EXPECT_EQ(sa2.aggregation, 128);

  const SaLayerConfig& sa3 = c.sa_layers[2];
  EXPECT_EQ(sa3.name, "sa3");
  EXPECT_EQ(sa3.sampler.type, SamplerType::CtrTopk);
  EXPECT_EQ(sa3.sampler.num_samples, 512);
  EXPECT_EQ(sa3.sampler.mlp, (std::vector<int>{128}));
  EXPECT_EQ(sa3.sampler.num_scores, 1);
  EXPECT_EQ(sa3.groupers[0].radius, 1.6f);
  EXPECT_EQ(sa3.groupers[0].nsample, 16);
  EXPECT_EQ(sa3.groupers[0].mlp, (std::vector<int>{128, 128, 256}));
  EXPECT_EQ(sa3.groupers[1].radius, 4.8f);
  EXPECT_EQ(sa3.groupers[1].nsample, 32);
  EXPECT_EQ(sa3.groupers[1].mlp, (std::vector<int>{128, 256, 256}));
  EXPECT_EQ(sa3.aggregation, 256);

  EXPECT_EQ(c.vote.name, "vote");
  EXPECT_EQ(c.vote.sampler.type, SamplerType::CtrTopk);
  EXPECT_EQ(c.vote.sampler.num_samples, 256);
  EXPECT_EQ(c.vote.sampler.mlp, (std::vector<int>{256}));
  EXPECT_EQ(c.vote.sampler.num_scores, 1);
  EXPECT_EQ(c.vote.offset_mlp, (std::vector<int>{128}));
  EXPECT_EQ(c.vote.max_translation, (std::array<float, 3>{3.0f, 3.0f, 2.0f}));

  EXPECT_EQ(c.vote_sa.name, "vote_sa");
  ASSERT_EQ(c.vote_sa.groupers.size(), 2u);
  EXPECT_EQ(c.vote_sa.groupers[0].radius, 4.8f);
  EXPECT_EQ(c.vote_sa.groupers[0].nsample, 16);
  EXPECT_EQ(c.vote_sa.groupers[0].mlp, (std::vector<int>{256, 256, 512}));
  EXPECT_EQ(c.vote_sa.groupers[1].radius, 6.4f);
  EXPECT_EQ(c.vote_sa.groupers[1].nsample, 32);
  EXPECT_EQ(c.vote_sa.groupers[1].mlp, (std::vector<int>{256, 512, 1024}));
  EXPECT_EQ(c.vote_sa.query, QueryType::Ball);

  EXPECT_EQ(c.head.shared_fc, (std::vector<int>{512}));
  EXPECT_EQ(c.head.cls_fc, (std::vector<int>{256, 256}));
  EXPECT_EQ(c.head.reg_fc, (std::vector<int>{256, 256}));
  EXPECT_EQ(c.head.num_heading_bins, 12);
  EXPECT_EQ(c.head.box_coder, BoxCoder::BinResidual);
  ASSERT_EQ(c.head.mean_size.size(), 3u);
  EXPECT_EQ(c.head.mean_size[0], (std::array<float, 3>{3.9f, 1.6f, 1.56f}));
  EXPECT_EQ(c.head.mean_size[1], (std::array<float, 3>{0.8f, 0.6f, 1.73f}));
  EXPECT_EQ(c.head.mean_size[2], (std::array<float, 3>{1.76f, 0.6f, 1.73f}));

  EXPECT_EQ(c.empty_ball, EmptyBall::Zero);
  EXPECT_EQ(c.post.score_threshold, 0.1f);
  EXPECT_EQ(c.post.iou_threshold, 0.01f);
  EXPECT_EQ(c.post.max_out, 256);
  EXPECT_EQ(c.post.pre_max, 4096);
  EXPECT_EQ(c.batchnorm_eps, 1e-5f);
}

TEST(IassdConfig, ShippedConfigDerivedWidths) {
  const IassdConfig c = load_config(shipped_path());
  EXPECT_EQ(num_classes(c), 3);
  EXPECT_EQ(input_feature_channels(c), 1);
  // spec 2.3: input points / C, bold first widths = 3 + C_in, concat, output
  EXPECT_EQ(sa_input_points(c, 0), 16384);
  EXPECT_EQ(sa_input_points(c, 1), 4096);
  EXPECT_EQ(sa_input_points(c, 2), 1024);
  EXPECT_EQ(sa_input_channels(c, 0), 1);
  EXPECT_EQ(sa_input_channels(c, 1), 64);
  EXPECT_EQ(sa_input_channels(c, 2), 128);
  EXPECT_EQ(sa_grouper_input_channels(c, 0), 4);
  EXPECT_EQ(sa_grouper_input_channels(c, 1), 67);
  EXPECT_EQ(sa_grouper_input_channels(c, 2), 131);
  EXPECT_EQ(sa_concat_channels(c, 0), 96);
  EXPECT_EQ(sa_concat_channels(c, 1), 256);
  EXPECT_EQ(sa_concat_channels(c, 2), 512);
  EXPECT_EQ(sa_output_channels(c, 0), 64);
  EXPECT_EQ(sa_output_channels(c, 1), 128);
  EXPECT_EQ(sa_output_channels(c, 2), 256);
  EXPECT_EQ(vote_input_channels(c), 256);
  EXPECT_EQ(vote_sa_grouper_input_channels(c), 259);
  EXPECT_EQ(head_input_channels(c), 1536);
  EXPECT_EQ(reg_code_size(c), 30);

  expect_error([&] { sa_output_channels(c, 3); }, {"SA layer index 3 out of range (3 layers)"});
  expect_error([&] { sa_input_points(c, -1); }, {"SA layer index -1 out of range"});
}

TEST(IassdConfig, EnumSpellings) {
  EXPECT_STREQ(to_string(SamplerType::Havs), "havs");
  EXPECT_STREQ(to_string(SamplerType::Dfps), "dfps");
  EXPECT_STREQ(to_string(SamplerType::CtrTopk), "ctr_topk");
  EXPECT_STREQ(to_string(QueryType::Ball), "ball");
  EXPECT_STREQ(to_string(QueryType::Grid), "grid");
  EXPECT_STREQ(to_string(EmptyBall::Zero), "zero");
  EXPECT_STREQ(to_string(EmptyBall::FirstPoint), "first_point");
  EXPECT_STREQ(to_string(BoxCoder::BinResidual), "bin_residual");
  EXPECT_STREQ(to_string(BoxCoder::BinOri), "bin_ori");
}

TEST(IassdConfig, OtherEnumValuesParse) {
  Json j = shipped_json();
  j["sa_layers"][0]["query"] = "grid";  // after a havs sampler
  j["sa_layers"][1]["sampler"] = Json::parse(R"({"type": "dfps", "num_samples": 1024})");
  j["empty_ball"] = "first_point";
  j["head"]["box_coder"] = "bin_ori";
  const IassdConfig c = parse(j);
  EXPECT_EQ(c.sa_layers[0].query, QueryType::Grid);
  EXPECT_EQ(c.sa_layers[1].sampler.type, SamplerType::Dfps);
  EXPECT_EQ(c.sa_layers[1].sampler.num_samples, 1024);
  EXPECT_EQ(c.empty_ball, EmptyBall::FirstPoint);
  EXPECT_EQ(c.head.box_coder, BoxCoder::BinOri);
}

// ------------------------------------------------------------------------------------------------------------------
// Weights

TEST(IassdConfig, ExpectedWeightsHaveTheSpecShapes) {
  const IassdConfig c = load_config(shipped_path());
  const std::vector<WeightSpec> weights = expected_weights(c);
  const auto w = weight_map(weights);
  ASSERT_EQ(w.size(), weights.size()) << "weight names must be unique";

  using Shape = std::vector<std::int64_t>;
  // spec 8.1, in the conventions' naming
  const std::map<std::string, Shape> expected = {
      {"sa1.grouper0.mlp0.weight", {16, 4}},
      {"sa1.grouper0.mlp1.weight", {16, 16}},
      {"sa1.grouper0.mlp2.weight", {32, 16}},
      {"sa1.grouper1.mlp0.weight", {32, 4}},
      {"sa1.grouper1.mlp2.weight", {64, 32}},
      {"sa1.aggregation.weight", {64, 96}},
      {"sa1.aggregation.bn.running_var", {64}},
      {"sa2.grouper0.mlp0.weight", {64, 67}},
      {"sa2.grouper1.mlp0.weight", {64, 67}},
      {"sa2.grouper1.mlp1.weight", {96, 64}},
      {"sa2.grouper1.mlp2.weight", {128, 96}},
      {"sa2.aggregation.weight", {128, 256}},
      {"sa3.sampler.mlp0.weight", {128, 128}},
      {"sa3.sampler.mlp0.bn.weight", {128}},
      {"sa3.sampler.out.weight", {1, 128}},
      {"sa3.sampler.out.bias", {1}},
      {"sa3.grouper0.mlp0.weight", {128, 131}},
      {"sa3.grouper1.mlp0.weight", {128, 131}},
      {"sa3.grouper1.mlp1.weight", {256, 128}},
      {"sa3.grouper1.mlp2.weight", {256, 256}},
      {"sa3.aggregation.weight", {256, 512}},
      {"vote.sampler.mlp0.weight", {256, 256}},
      {"vote.sampler.out.weight", {1, 256}},
      {"vote.sampler.out.bias", {1}},
      {"vote.offset.mlp0.weight", {128, 256}},
      {"vote.offset.mlp0.bn.running_mean", {128}},
      {"vote.offset.out.weight", {3, 128}},
      {"vote.offset.out.bias", {3}},
      {"vote_sa.grouper0.mlp0.weight", {256, 259}},
      {"vote_sa.grouper0.mlp2.weight", {512, 256}},
      {"vote_sa.grouper1.mlp0.weight", {256, 259}},
      {"vote_sa.grouper1.mlp1.weight", {512, 256}},
      {"vote_sa.grouper1.mlp2.weight", {1024, 512}},
      {"vote_sa.grouper1.mlp2.bn.bias", {1024}},
      {"head.shared_fc0.weight", {512, 1536}},
      {"head.shared_fc0.bn.weight", {512}},
      {"head.cls.mlp0.weight", {256, 512}},
      {"head.cls.mlp1.weight", {256, 256}},
      {"head.cls.out.weight", {3, 256}},
      {"head.cls.out.bias", {3}},
      {"head.reg.mlp0.weight", {256, 512}},
      {"head.reg.mlp1.weight", {256, 256}},
      {"head.reg.out.weight", {30, 256}},
      {"head.reg.out.bias", {30}},
  };
  for (const auto& [name, shape] : expected) {
    const auto it = w.find(name);
    ASSERT_NE(it, w.end()) << name;
    EXPECT_EQ(it->second, shape) << name;
  }
  // No biases on conv blocks; every conv block has exactly the 4 BN entries of its width.
  for (const WeightSpec& spec : weights) {
    if (ends_with(spec.name, ".bias") && !ends_with(spec.name, ".bn.bias")) {
      EXPECT_TRUE(ends_with(spec.name, ".out.bias")) << spec.name;
    }
    if (ends_with(spec.name, ".weight") && !ends_with(spec.name, ".bn.weight") &&
        spec.name.find(".out.") == std::string::npos) {
      const std::string prefix = spec.name.substr(0, spec.name.size() - std::string(".weight").size());
      for (const char* part : {".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"}) {
        const auto it = w.find(prefix + part);
        ASSERT_NE(it, w.end()) << prefix + part;
        EXPECT_EQ(it->second, Shape{spec.shape[0]}) << prefix + part;
      }
      EXPECT_EQ(w.count(prefix + ".bias"), 0u) << prefix;
    }
  }

  // Spec 8.1: 35 Linear+BN blocks and 5 biased output layers. Our list has no num_batches_tracked (not needed for
  // inference) and no global_step, so it holds 35 * 5 + 5 * 2 = 185 tensors (the spec's 220 model entries minus
  // the 35 num_batches_tracked).
  int convs = 0;
  int linears = 0;
  for (const WeightSpec& spec : weights) {
    if (ends_with(spec.name, ".bn.running_var")) ++convs;
    if (ends_with(spec.name, ".out.weight")) ++linears;
  }
  EXPECT_EQ(convs, 35);
  EXPECT_EQ(linears, 5);
  EXPECT_EQ(weights.size(), 185u);

  // Spec 9: with C_ctr = 1, 2,696,870 parameters = weights and output biases (2,682,470) + BN affine gamma/beta
  // (14,400). The running statistics are buffers, counted separately: another 14,400.
  std::int64_t trainable = 0;
  std::int64_t running = 0;
  for (const WeightSpec& spec : weights) {
    const bool stat = ends_with(spec.name, ".running_mean") || ends_with(spec.name, ".running_var");
    (stat ? running : trainable) += elements(spec.shape);
  }
  EXPECT_EQ(trainable, 2696870);
  EXPECT_EQ(running, 14400);
}

TEST(IassdConfig, ExpectedWeightsAreInNetworkOrder) {
  const std::vector<WeightSpec> weights = expected_weights(load_config(shipped_path()));
  ASSERT_FALSE(weights.empty());
  EXPECT_EQ(weights.front().name, "sa1.grouper0.mlp0.weight");
  EXPECT_EQ(weights[1].name, "sa1.grouper0.mlp0.bn.weight");
  EXPECT_EQ(weights[2].name, "sa1.grouper0.mlp0.bn.bias");
  EXPECT_EQ(weights[3].name, "sa1.grouper0.mlp0.bn.running_mean");
  EXPECT_EQ(weights[4].name, "sa1.grouper0.mlp0.bn.running_var");
  EXPECT_EQ(weights.back().name, "head.reg.out.bias");
  std::map<std::string, std::size_t> pos;
  for (std::size_t i = 0; i < weights.size(); ++i) pos[weights[i].name] = i;
  const std::vector<std::string> order = {"sa1.grouper0.mlp2.weight",
                                          "sa1.grouper1.mlp0.weight",
                                          "sa1.aggregation.weight",
                                          "sa2.grouper0.mlp0.weight",
                                          "sa2.aggregation.weight",
                                          "sa3.sampler.mlp0.weight",
                                          "sa3.sampler.out.weight",
                                          "sa3.sampler.out.bias",
                                          "sa3.grouper0.mlp0.weight",
                                          "sa3.aggregation.weight",
                                          "vote.sampler.mlp0.weight",
                                          "vote.sampler.out.bias",
                                          "vote.offset.mlp0.weight",
                                          "vote.offset.out.bias",
                                          "vote_sa.grouper0.mlp0.weight",
                                          "vote_sa.grouper1.mlp2.bn.running_var",
                                          "head.shared_fc0.weight",
                                          "head.cls.mlp0.weight",
                                          "head.cls.mlp1.weight",
                                          "head.cls.out.weight",
                                          "head.cls.out.bias",
                                          "head.reg.mlp0.weight",
                                          "head.reg.out.weight"};
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    ASSERT_TRUE(pos.count(order[i]) && pos.count(order[i + 1])) << order[i] << " / " << order[i + 1];
    EXPECT_LT(pos[order[i]], pos[order[i + 1]]) << order[i] << " before " << order[i + 1];
  }
}

TEST(IassdConfig, ThreeWideCentreHeadsMatchTheSpecsOfficialCount) {
  // Spec 9's main total (2,697,642) is for the official C_ctr = 3 heads.
  Json j = shipped_json();
  j["sa_layers"][2]["sampler"]["num_scores"] = 3;
  j["vote"]["sampler"]["num_scores"] = 3;
  const std::vector<WeightSpec> weights = expected_weights(parse(j));
  const auto w = weight_map(weights);
  EXPECT_EQ(w.at("sa3.sampler.out.weight"), (std::vector<std::int64_t>{3, 128}));
  EXPECT_EQ(w.at("vote.sampler.out.bias"), (std::vector<std::int64_t>{3}));
  std::int64_t trainable = 0;
  for (const WeightSpec& spec : weights) {
    if (!ends_with(spec.name, ".running_mean") && !ends_with(spec.name, ".running_var"))
      trainable += elements(spec.shape);
  }
  EXPECT_EQ(trainable, 2697642);
}

TEST(IassdConfig, WeightsFollowTheConfigWidths) {
  Json j = shipped_json();
  j["input"]["features"] = Json::array();                                                 // xyz only
  j["sa_layers"][0]["aggregation"] = 0;                                                   // sa1 output = concat (96)
  j["sa_layers"][2]["sampler"] = Json::parse(R"({"type": "dfps", "num_samples": 512})");  // no sampler weights
  j["head"]["num_heading_bins"] = 6;
  j["classes"] = Json::array({"Car", "Van"});
  j["head"]["mean_size"] = Json::parse("[[3.9, 1.6, 1.56], [5, 2, 2]]");
  j["sa_layers"][1]["name"] = "second";
  const IassdConfig c = parse(j);
  EXPECT_EQ(sa_grouper_input_channels(c, 0), 3);
  EXPECT_EQ(sa_output_channels(c, 0), 96);
  EXPECT_EQ(sa_grouper_input_channels(c, 1), 99);
  const auto w = weight_map(expected_weights(c));
  EXPECT_EQ(w.at("sa1.grouper0.mlp0.weight"), (std::vector<std::int64_t>{16, 3}));
  EXPECT_EQ(w.count("sa1.aggregation.weight"), 0u);
  EXPECT_EQ(w.at("second.grouper0.mlp0.weight"), (std::vector<std::int64_t>{64, 99}));
  EXPECT_EQ(w.count("sa3.sampler.mlp0.weight"), 0u);
  EXPECT_EQ(w.at("head.reg.out.weight"), (std::vector<std::int64_t>{18, 256}));
  EXPECT_EQ(w.at("head.cls.out.bias"), (std::vector<std::int64_t>{2}));
}

TEST(IassdConfig, DumpedShippedConfigRoundTrips) {
  const IassdConfig a = load_config(shipped_path());
  const IassdConfig b = parse(shipped_json());
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(expected_weights(a).size(), expected_weights(b).size());
}

// ------------------------------------------------------------------------------------------------------------------
// Files and JSON syntax

TEST(IassdConfigValidation, NotJson) {
  expect_text_error("{\"format\": ", {"models/x.json: not valid JSON: ", "parse error"});
  expect_text_error("", {"models/x.json: not valid JSON: "});
  expect_text_error("{\"a\": 1e999}", {"models/x.json: not valid JSON: "});
}

TEST(IassdConfigValidation, TopLevelNotAnObject) {
  expect_text_error("[1, 2]", {"models/x.json: top level: must be a JSON object, got an array"});
}

TEST(IassdConfigValidation, DuplicateKey) {
  std::string text = read_text(shipped_path());
  const std::string needle = "\"radius\": 0.2,";
  ASSERT_NE(text.find(needle), std::string::npos);
  text.replace(text.find(needle), needle.size(), "\"radius\": 0.2, \"radius\": 0.3,");
  expect_text_error(text, {"models/x.json: sa_layers[0].groupers[0].radius: duplicate key"});
}

TEST(IassdConfigValidation, TooDeeplyNested) {
  const std::string text = "{\"name\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_text_error(text, {"models/x.json: name", "nested deeper than 32 levels"});
}

TEST(IassdConfigValidation, LoadConfigFileErrors) {
  const std::string dir = pointrt::testing::make_temp_dir("iassd_config");
  expect_error([&] { load_config(dir + "/missing.json"); }, {dir + "/missing.json: no such file"});
  expect_error([&] { load_config(dir); }, {dir + ": is a directory"});
  pointrt::testing::write_file(dir + "/bad.json", "not json at all");
  expect_error([&] { load_config(dir + "/bad.json"); }, {dir + "/bad.json: not valid JSON: "});
  Json j = shipped_json();
  j["sa_layers"][1]["groupers"][0]["radius"] = -0.8;
  pointrt::testing::write_file(dir + "/neg.json", j.dump(2));
  expect_error([&] { load_config(dir + "/neg.json"); },
               {dir + "/neg.json: sa_layers[1].groupers[0].radius: must be a finite number > 0, got -0.8"});
}

// ------------------------------------------------------------------------------------------------------------------
// format / version

TEST(IassdConfigValidation, WrongFormat) {
  Json j = shipped_json();
  j["format"] = "pointrt-pointpillars";
  expect_config_error(j, "format: must be \"pointrt-iassd\"", {"got a string (\"pointrt-pointpillars\")"});
  j.erase("format");
  expect_config_error(j, "format: required field is missing");
}

TEST(IassdConfigValidation, NewerVersion) {
  Json j = shipped_json();
  j["version"] = 2;
  j["a_field_from_the_future"] = 1;  // the version message wins over the unknown field
  expect_config_error(j, "version: written by a newer pointrt (config version 2; this build reads version 1)");
}

TEST(IassdConfigValidation, BadVersion) {
  Json j = shipped_json();
  j["version"] = 0;
  expect_config_error(j, "version: must be 1, got 0");
  j["version"] = "1";
  expect_config_error(j, "version: must be an integer, got a string (\"1\")");
  j.erase("version");
  expect_config_error(j, "version: required field is missing");
}

// ------------------------------------------------------------------------------------------------------------------
// required / unknown fields, JSON types

TEST(IassdConfigValidation, MissingRequiredField) {
  Json j = shipped_json();
  j["sa_layers"][1]["groupers"][0].erase("radius");
  expect_config_error(j, "sa_layers[1].groupers[0].radius: required field is missing");

  j = shipped_json();
  j.erase("head");
  expect_config_error(j, "head: required field is missing");

  j = shipped_json();
  j["sa_layers"][0]["sampler"].erase("max_iter");
  expect_config_error(j, "sa_layers[0].sampler.max_iter: required field is missing");

  j = shipped_json();
  j["input"].erase("crop_z");
  expect_config_error(j, "input.crop_z: required field is missing");
}

TEST(IassdConfigValidation, UnknownField) {
  Json j = shipped_json();
  j["sa_layers"][1]["groupers"][0].erase("radius");
  j["sa_layers"][1]["groupers"][0]["radiu"] = 0.8;
  expect_config_error(j, "sa_layers[1].groupers[0].radiu: unknown field; allowed keys: radius, nsample, mlp");

  j = shipped_json();
  j["post"]["nms_pre_max"] = 10;
  expect_config_error(
      j, "post.nms_pre_max: unknown field; allowed keys: score_threshold, iou_threshold, max_out, pre_max");

  j = shipped_json();
  j["classe"] = Json::array({"Car"});
  expect_config_error(j, "classe: unknown field; allowed keys: format, version, name, classes, input, sa_layers");
}

TEST(IassdConfigValidation, SamplerKeysDependOnItsType) {
  Json j = shipped_json();
  j["sa_layers"][2]["sampler"]["voxel"] = Json::array({1, 1, 1});
  expect_config_error(j,
                      "sa_layers[2].sampler.voxel: unknown field for a \"ctr_topk\" sampler; allowed keys: type, "
                      "num_samples, mlp, num_scores");
  j = shipped_json();
  j["sa_layers"][0]["sampler"]["mlp"] = Json::array({16});
  expect_config_error(j,
                      "sa_layers[0].sampler.mlp: unknown field for a \"havs\" sampler; allowed keys: type, "
                      "num_samples, voxel, tolerance, max_iter");
  j = shipped_json();
  j["sa_layers"][0]["sampler"]["type"] = "dfps";
  expect_config_error(
      j, "sa_layers[0].sampler.voxel: unknown field for a \"dfps\" sampler; allowed keys: type, num_samples");
}

TEST(IassdConfigValidation, WrongJsonType) {
  Json j = shipped_json();
  j["sa_layers"][0]["groupers"][1]["nsample"] = "32";
  expect_config_error(j, "sa_layers[0].groupers[1].nsample: must be an integer, got a string (\"32\")");

  j = shipped_json();
  j["sa_layers"][0]["groupers"][1]["nsample"] = 32.5;
  expect_config_error(j, "sa_layers[0].groupers[1].nsample: must be an integer, got a number (32.5)");

  j = shipped_json();
  j["sa_layers"][0]["groupers"][0]["radius"] = "0.2";
  expect_config_error(j, "sa_layers[0].groupers[0].radius: must be a number, got a string (\"0.2\")");

  j = shipped_json();
  j["input"]["crop_z"] = 0;
  expect_config_error(j, "input.crop_z: must be true or false, got an integer (0)");

  j = shipped_json();
  j["head"]["cls_fc"] = 256;
  expect_config_error(j, "head.cls_fc: must be an array, got an integer (256)");

  j = shipped_json();
  j["vote"] = Json::array();
  expect_config_error(j, "vote: must be an object, got an array");

  j = shipped_json();
  j["name"] = nullptr;
  expect_config_error(j, "name: must be a string, got null");

  j = shipped_json();
  j["sa_layers"] = Json::object();
  expect_config_error(j, "sa_layers: must be an array, got an object");
}

// ------------------------------------------------------------------------------------------------------------------
// numbers

TEST(IassdConfigValidation, NonPositiveRadius) {
  Json j = shipped_json();
  j["sa_layers"][1]["groupers"][0]["radius"] = -0.8;
  expect_config_error(j, "sa_layers[1].groupers[0].radius: must be a finite number > 0, got -0.8");
  j["sa_layers"][1]["groupers"][0]["radius"] = 0;
  expect_config_error(j, "sa_layers[1].groupers[0].radius: must be a finite number > 0, got 0");
  j = shipped_json();
  j["vote_sa"]["groupers"][1]["radius"] = -6.4;
  expect_config_error(j, "vote_sa.groupers[1].radius: must be a finite number > 0, got -6.4");
}

TEST(IassdConfigValidation, NonFiniteRadius) {
  Json j = shipped_json();
  j["sa_layers"][0]["groupers"][0]["radius"] = 1e39;  // finite as a double, infinite as float32
  expect_config_error(j,
                      "sa_layers[0].groupers[0].radius: must be a finite number > 0, got 1e+39 (beyond float32 range)");
}

TEST(IassdConfigValidation, BadVoxel) {
  Json j = shipped_json();
  j["sa_layers"][1]["sampler"]["voxel"][2] = -1.75;
  expect_config_error(j, "sa_layers[1].sampler.voxel[2]: must be a finite number > 0, got -1.75");
  j["sa_layers"][1]["sampler"]["voxel"] = Json::array({2.0, 2.0});
  expect_config_error(j, "sa_layers[1].sampler.voxel: must be an array of 3 numbers (x, y, z) [m], got 2 values");
}

TEST(IassdConfigValidation, BadHavsSearchParameters) {
  Json j = shipped_json();
  j["sa_layers"][0]["sampler"]["tolerance"] = -0.01;
  expect_config_error(j, "sa_layers[0].sampler.tolerance: must be a number in [0, 1], got -0.01");
  j = shipped_json();
  j["sa_layers"][0]["sampler"]["max_iter"] = 0;
  expect_config_error(j, "sa_layers[0].sampler.max_iter: must be an integer in [1, 1000], got 0");
}

TEST(IassdConfigValidation, NsampleBelowOne) {
  Json j = shipped_json();
  j["sa_layers"][2]["groupers"][1]["nsample"] = 0;
  expect_config_error(j, "sa_layers[2].groupers[1].nsample: must be an integer in [1, 1024], got 0");
}

TEST(IassdConfigValidation, EmptyMlp) {
  Json j = shipped_json();
  j["sa_layers"][0]["groupers"][0]["mlp"] = Json::array();
  expect_config_error(j, "sa_layers[0].groupers[0].mlp: must be a non-empty array of layer widths");
  j = shipped_json();
  j["sa_layers"][2]["sampler"]["mlp"] = Json::array();
  expect_config_error(j, "sa_layers[2].sampler.mlp: must be a non-empty array of layer widths");
  j = shipped_json();
  j["vote"]["offset_mlp"] = Json::array();
  expect_config_error(j, "vote.offset_mlp: must be a non-empty array of layer widths");
  j = shipped_json();
  j["head"]["reg_fc"] = Json::array();
  expect_config_error(j, "head.reg_fc: must be a non-empty array of layer widths");
}

TEST(IassdConfigValidation, BadMlpWidth) {
  Json j = shipped_json();
  j["sa_layers"][1]["groupers"][1]["mlp"][1] = 0;
  expect_config_error(j, "sa_layers[1].groupers[1].mlp[1]: must be an integer in [1, 65536], got 0");
  j["sa_layers"][1]["groupers"][1]["mlp"][1] = -96;
  expect_config_error(j, "sa_layers[1].groupers[1].mlp[1]: must be an integer in [1, 65536], got -96");
}

TEST(IassdConfigValidation, EmptyGroupers) {
  Json j = shipped_json();
  j["vote_sa"]["groupers"] = Json::array();
  expect_config_error(j, "vote_sa.groupers: must be a non-empty array of groupers");
}

TEST(IassdConfigValidation, NumSamplesOutOfRange) {
  Json j = shipped_json();
  j["sa_layers"][0]["sampler"]["num_samples"] = 0;
  expect_config_error(j, "sa_layers[0].sampler.num_samples: must be an integer in [1, 16384]", {"got 0"});

  j["sa_layers"][0]["sampler"]["num_samples"] = 20000;
  expect_config_error(j,
                      "sa_layers[0].sampler.num_samples: must be an integer in [1, 16384] (the points entering the "
                      "first SA layer, input.num_points), got 20000");

  j = shipped_json();
  j["sa_layers"][1]["sampler"]["num_samples"] = 4097;
  expect_config_error(j,
                      "sa_layers[1].sampler.num_samples: must be an integer in [1, 4096] (the points sa1 "
                      "produces), got 4097");

  j = shipped_json();
  j["sa_layers"][2]["sampler"]["num_samples"] = 2048;
  expect_config_error(j,
                      "sa_layers[2].sampler.num_samples: must be an integer in [1, 1024] (the points sa2 "
                      "produces), got 2048");

  j = shipped_json();
  j["vote"]["sampler"]["num_samples"] = 600;
  expect_config_error(j, "vote.sampler.num_samples: must be an integer in [1, 512] (the points sa3 produces), got 600");

  // equal is fine
  j = shipped_json();
  j["vote"]["sampler"]["num_samples"] = 512;
  EXPECT_EQ(parse(j).vote.sampler.num_samples, 512);
}

TEST(IassdConfigValidation, NumPointsOutOfRange) {
  Json j = shipped_json();
  j["input"]["num_points"] = 0;
  expect_config_error(j, "input.num_points: must be an integer in [1, 16777216], got 0");
  j["input"]["num_points"] = std::numeric_limits<std::uint64_t>::max();
  expect_config_error(j, "input.num_points: must be an integer in [1, 16777216], got 18446744073709551615");
}

TEST(IassdConfigValidation, BadNumScores) {
  Json j = shipped_json();
  j["vote"]["sampler"]["num_scores"] = 0;
  expect_config_error(j, "vote.sampler.num_scores: must be an integer in [1, 65536], got 0");
}

TEST(IassdConfigValidation, BadAggregation) {
  Json j = shipped_json();
  j["sa_layers"][0]["aggregation"] = -1;
  expect_config_error(j,
                      "sa_layers[0].aggregation: must be an integer in [0, 65536] (0 = no aggregation layer), got -1");
}

TEST(IassdConfigValidation, BadMaxTranslation) {
  Json j = shipped_json();
  j["vote"]["max_translation"][0] = -3.0;
  expect_config_error(j, "vote.max_translation[0]: must be a finite number > 0, got -3.0");
}

// ------------------------------------------------------------------------------------------------------------------
// query / enums

TEST(IassdConfigValidation, GridQueryNeedsHavsSampler) {
  Json j = shipped_json();
  j["sa_layers"][2]["query"] = "grid";
  expect_config_error(j,
                      "sa_layers[2].query: \"grid\" needs a \"havs\" sampler in the same layer (sampler.type is "
                      "\"ctr_topk\")");
  j = shipped_json();
  j["vote_sa"]["query"] = "grid";
  expect_config_error(j,
                      "vote_sa.query: \"grid\" needs a \"havs\" sampler in the same layer, and vote_sa has no sampler");
}

TEST(IassdConfigValidation, UnknownEnumValues) {
  Json j = shipped_json();
  j["sa_layers"][0]["sampler"]["type"] = "fps";
  expect_config_error(j, "sa_layers[0].sampler.type: must be one of \"havs\", \"dfps\", \"ctr_topk\", got \"fps\"");
  j = shipped_json();
  j["sa_layers"][1]["query"] = "knn";
  expect_config_error(j, "sa_layers[1].query: must be one of \"ball\", \"grid\", got \"knn\"");
  j = shipped_json();
  j["empty_ball"] = "none";
  expect_config_error(j, "empty_ball: must be one of \"zero\", \"first_point\", got \"none\"");
  j = shipped_json();
  j["head"]["box_coder"] = "residual";
  expect_config_error(j, "head.box_coder: must be one of \"bin_residual\", \"bin_ori\", got \"residual\"");
  j = shipped_json();
  j["head"]["box_coder"] = 1;
  expect_config_error(j, "head.box_coder: must be one of \"bin_residual\", \"bin_ori\", got an integer (1)");
}

// ------------------------------------------------------------------------------------------------------------------
// names, classes, mean sizes, input

TEST(IassdConfigValidation, BadLayerNames) {
  Json j = shipped_json();
  j["sa_layers"][1]["name"] = "sa1";
  expect_config_error(j, "sa_layers[1].name: duplicate layer name \"sa1\"");
  j = shipped_json();
  j["vote_sa"]["name"] = "vote";
  expect_config_error(j, "vote_sa.name: duplicate layer name \"vote\"");
  j = shipped_json();
  j["sa_layers"][0]["name"] = "sa.1";
  expect_config_error(j, "sa_layers[0].name: must be an identifier", {"got \"sa.1\""});
  j = shipped_json();
  j["sa_layers"][0]["name"] = "head";
  expect_config_error(j, "sa_layers[0].name: \"head\" is reserved");
  j = shipped_json();
  j["name"] = "";
  expect_config_error(j, "name: must be a non-empty string");
}

TEST(IassdConfigValidation, ClassesEmptyOrDuplicate) {
  Json j = shipped_json();
  j["classes"] = Json::array();
  expect_config_error(j, "classes: must be a non-empty array of class names");
  j["classes"] = Json::array({"Car", "Pedestrian", "Car"});
  expect_config_error(j, "classes[2]: duplicate class name \"Car\"");
  j["classes"] = Json::array({"Car", "", "Cyclist"});
  expect_config_error(j, "classes[1]: must be a non-empty string");
}

TEST(IassdConfigValidation, MeanSizeRowsMustMatchClasses) {
  Json j = shipped_json();
  j["head"]["mean_size"].erase(2);
  expect_config_error(j, "head.mean_size: must have one row per class (3 classes), got 2 rows");
  j = shipped_json();
  j["head"]["mean_size"][1] = Json::array({0.8, 0.6});
  expect_config_error(j, "head.mean_size[1]: must be an array of 3 numbers (dx, dy, dz) [m], got 2 values");
  j = shipped_json();
  j["head"]["mean_size"][2][0] = 0;
  expect_config_error(j, "head.mean_size[2][0]: must be a finite number > 0, got 0");
}

TEST(IassdConfigValidation, PointCloudRange) {
  Json j = shipped_json();
  j["input"]["point_cloud_range"] = Json::array({0, 50, -3, 70.4, 40, 1});
  expect_config_error(j, "input.point_cloud_range: y_min 50 is greater than y_max 40");
  j["input"]["point_cloud_range"] = Json::array({0, -40, -3, 70.4, 40});
  expect_config_error(j, "input.point_cloud_range: must be an array of 6 numbers", {"got 5 values"});
  j["input"]["point_cloud_range"] = Json::array({0, -40, -3, 70.4, 40, "1"});
  expect_config_error(j, "input.point_cloud_range[5]: must be a number, got a string (\"1\")");
  // min == max is allowed
  j["input"]["point_cloud_range"] = Json::array({0, -40, 1, 70.4, 40, 1});
  EXPECT_EQ(parse(j).input.point_cloud_range[2], 1.0f);
}

TEST(IassdConfigValidation, Features) {
  Json j = shipped_json();
  j["input"]["features"] = Json::array({"intensity", "elongation"});  // unknown names are data-dependent: allowed
  const IassdConfig c = parse(j);
  EXPECT_EQ(sa_grouper_input_channels(c, 0), 5);
  EXPECT_EQ(weight_map(expected_weights(c)).at("sa1.grouper1.mlp0.weight"), (std::vector<std::int64_t>{32, 5}));
  j["input"]["features"] = Json::array({"intensity", ""});
  expect_config_error(j, "input.features[1]: must be a non-empty string");
  j["input"]["features"] = Json::array({"intensity", 7});
  expect_config_error(j, "input.features[1]: must be a string, got an integer (7)");
  j["input"]["features"] = Json::array({"intensity", "intensity"});
  expect_config_error(j, "input.features[1]: duplicate feature \"intensity\"");
}

// ------------------------------------------------------------------------------------------------------------------
// head, post, batchnorm

TEST(IassdConfigValidation, NumHeadingBins) {
  Json j = shipped_json();
  j["head"]["num_heading_bins"] = 0;
  expect_config_error(j, "head.num_heading_bins: must be an integer in [1, 1024], got 0");
}

TEST(IassdConfigValidation, Thresholds) {
  Json j = shipped_json();
  j["post"]["score_threshold"] = 1.5;
  expect_config_error(j, "post.score_threshold: must be a number in [0, 1], got 1.5");
  j["post"]["score_threshold"] = -0.1;
  expect_config_error(j, "post.score_threshold: must be a number in [0, 1], got -0.1");
  j = shipped_json();
  j["post"]["iou_threshold"] = 2;
  expect_config_error(j, "post.iou_threshold: must be a number in [0, 1], got 2");
  j["post"]["iou_threshold"] = 1;
  j["post"]["score_threshold"] = 0;
  EXPECT_EQ(parse(j).post.iou_threshold, 1.0f);
}

TEST(IassdConfigValidation, MaxOutAndPreMax) {
  Json j = shipped_json();
  j["post"]["max_out"] = 0;
  expect_config_error(j, "post.max_out: must be an integer in [1, 16777216], got 0");
  j = shipped_json();
  j["post"]["pre_max"] = -1;
  expect_config_error(j, "post.pre_max: must be an integer in [0, 16777216], got -1");
  j["post"]["pre_max"] = 0;
  EXPECT_EQ(parse(j).post.pre_max, 0);
}

TEST(IassdConfigValidation, BatchnormEps) {
  Json j = shipped_json();
  j["batchnorm_eps"] = 0;
  expect_config_error(j, "batchnorm_eps: must be a finite number > 0, got 0");
  j["batchnorm_eps"] = -1e-5;
  expect_config_error(j, "batchnorm_eps: must be a finite number > 0, got -1e-05");
}

}  // namespace
}  // namespace pointrt::models::iassd
