// IA-SSD model config: the JSON schema of models/*.json as plain structs, its validating parser, the derived channel
// widths and the list of weight tensors a checkpoint for the config must hold.
//
// The file layout, the weight names and their shapes are the shared conventions of the config, the C++ loader and
// the PyTorch reference (docs/model-config.md is the field reference). Every input channel width is derived, never
// written: the first SA layer's groupers see 3 + len(input.features) channels, every later grouper 3 + the previous
// layer's output width, a ctr_topk sampler's MLP the layer's input width, the vote offset MLP the last SA output,
// the vote SA groupers 3 + the last SA output, the head the sum of the vote SA groupers' last widths.
//
// parse_config / load_config throw pointrt::Error("<file>: <json path>: <reason>") for anything they refuse, e.g.
// "models/x.json: sa_layers[1].groupers[0].radius: must be a finite number > 0, got -0.8".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pointrt::models::iassd {

// The "format" string every config carries and the newest "version" this build reads.
inline constexpr const char* kConfigFormat = "pointrt-iassd";
inline constexpr int kConfigVersion = 1;

enum class SamplerType {
  Havs,     // "havs": hierarchical adaptive voxel-guided sampling (voxel, tolerance, max_iter)
  Dfps,     // "dfps": farthest point sampling on xyz (no parameters besides num_samples)
  CtrTopk,  // "ctr_topk": centre-aware top-k on a per-point score head (mlp, num_scores)
};
enum class QueryType {
  Ball,  // "ball": exact ball query
  Grid,  // "grid": GridBallQuery at the HAVS sampler's final voxel size (only in a layer with a havs sampler)
};
enum class EmptyBall {
  Zero,        // "zero": MLP output of an empty ball zeroed before max-pool (RobDet3D)
  FirstPoint,  // "first_point": group point 0 unmasked (official IA-SSD)
};
enum class BoxCoder {
  BinResidual,  // "bin_residual": theta = (b + res) * 2pi/bins (RobDet3D)
  BinOri,       // "bin_ori": theta = -pi + (b + 0.5) w + res * w/2 (official IA-SSD)
};

// The JSON spelling of each enum value ("havs", "ball", "zero", "bin_residual", ...).
const char* to_string(SamplerType type);
const char* to_string(QueryType type);
const char* to_string(EmptyBall mode);
const char* to_string(BoxCoder coder);

struct InputConfig {
  int num_points = 0;                        // points per frame fed to the network
  std::vector<std::string> features;         // channels after x, y, z (e.g. {"intensity"}); may be empty
  std::array<float, 6> point_cloud_range{};  // x_min, y_min, z_min, x_max, y_max, z_max [m]
  bool crop_z = false;                       // crop z as well as x and y
};

struct SamplerConfig {
  SamplerType type = SamplerType::Havs;
  int num_samples = 0;
  // havs only
  std::array<float, 3> voxel{};  // initial voxel size [m]
  float tolerance = 0.0f;        // converged when num_samples <= count <= num_samples * (1 + tolerance)
  int max_iter = 0;
  // ctr_topk only
  std::vector<int> mlp;  // hidden widths of the score head
  int num_scores = 0;    // width of its final linear layer (scores = max over them)
};

struct GrouperConfig {
  float radius = 0.0f;
  int nsample = 0;
  std::vector<int> mlp;  // output widths of the shared per-neighbour MLP
};

struct SaLayerConfig {
  std::string name;  // prefix of the layer's weight names ("sa1")
  SamplerConfig sampler;
  std::vector<GrouperConfig> groupers;
  QueryType query = QueryType::Ball;
  int aggregation = 0;  // width of the aggregation conv after the concat; 0 = none (the concat is the output)
};

struct VoteConfig {
  std::string name;  // "vote"
  SamplerConfig sampler;
  std::vector<int> offset_mlp;             // hidden widths of the offset MLP (then a linear to 3)
  std::array<float, 3> max_translation{};  // offsets clamped per axis to +-max_translation [m]
};

struct VoteSaConfig {
  std::string name;  // "vote_sa"
  std::vector<GrouperConfig> groupers;
  QueryType query = QueryType::Ball;
};

struct HeadConfig {
  std::vector<int> shared_fc;  // widths of the shared conv layers on the vote SA concat
  std::vector<int> cls_fc;     // hidden widths of the classification branch (then a linear to num classes)
  std::vector<int> reg_fc;     // hidden widths of the regression branch (then a linear to 6 + 2 * bins)
  int num_heading_bins = 0;
  BoxCoder box_coder = BoxCoder::BinResidual;
  std::vector<std::array<float, 3>> mean_size;  // per class (dx, dy, dz) [m], in the order of `classes`
};

struct PostConfig {
  float score_threshold = 0.0f;  // keep score > threshold
  float iou_threshold = 0.0f;    // suppress BEV IoU >= threshold
  int max_out = 0;               // boxes per frame after NMS (rows of the output tensors)
  int pre_max = 0;               // candidates kept before NMS (top by score)
};

struct IassdConfig {
  int version = kConfigVersion;
  std::string name;
  std::vector<std::string> classes;  // label ids 1..N in this order
  InputConfig input;
  std::vector<SaLayerConfig> sa_layers;
  VoteConfig vote;
  VoteSaConfig vote_sa;
  HeadConfig head;
  EmptyBall empty_ball = EmptyBall::Zero;
  PostConfig post;
  float batchnorm_eps = 1e-5f;
};

// Parses and validates a config. `name` (usually the file's path) starts every error message.
IassdConfig parse_config(const std::string& json_text, const std::string& name);
// Reads `path` (at most 16 MiB) and parses it; errors name the path.
IassdConfig load_config(const std::string& path);

// ---- derived widths (all for a validated config; a layer index out of range throws Error) ----
std::int64_t num_classes(const IassdConfig& config);
// Feature channels after x, y, z in the network input (len(input.features)).
std::int64_t input_feature_channels(const IassdConfig& config);
// Points entering SA layer `layer` (input.num_points, then the previous layer's num_samples).
std::int64_t sa_input_points(const IassdConfig& config, int layer);
// Feature channels entering SA layer `layer` (input_feature_channels, then the previous layer's output).
std::int64_t sa_input_channels(const IassdConfig& config, int layer);
// Input width of every grouper MLP of SA layer `layer`: 3 + sa_input_channels.
std::int64_t sa_grouper_input_channels(const IassdConfig& config, int layer);
// Sum of the last MLP widths of the layer's groupers.
std::int64_t sa_concat_channels(const IassdConfig& config, int layer);
// The aggregation width, or the concat width when aggregation is 0.
std::int64_t sa_output_channels(const IassdConfig& config, int layer);
// Feature channels of the last SA layer's output (input of the vote sampler and the vote offset MLP).
std::int64_t vote_input_channels(const IassdConfig& config);
// Input width of the vote SA grouper MLPs: 3 + vote_input_channels.
std::int64_t vote_sa_grouper_input_channels(const IassdConfig& config);
// Sum of the vote SA groupers' last widths (1536 for the shipped config): the head's input.
std::int64_t head_input_channels(const IassdConfig& config);
// Width of the regression output: 6 + 2 * num_heading_bins.
std::int64_t reg_code_size(const IassdConfig& config);

// ---- weights ----
struct WeightSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

// Every tensor a checkpoint for `config` holds (float32, PyTorch nn.Linear layout [out, in]), in network order:
// per SA layer its ctr_topk sampler ("L.sampler.mlp{j}", "L.sampler.out"), grouper MLPs ("L.grouper{g}.mlp{j}")
// and aggregation ("L.aggregation"); the vote sampler, "vote.offset.mlp{j}", "vote.offset.out"; the vote SA
// grouper MLPs; "head.shared_fc{j}", "head.cls.mlp{j}", "head.cls.out", "head.reg.mlp{j}", "head.reg.out".
// A conv block P (linear without bias -> BatchNorm -> ReLU) contributes P.weight [out, in], P.bn.weight,
// P.bn.bias, P.bn.running_mean, P.bn.running_var (each [out]); a final linear P contributes P.weight [out, in]
// and P.bias [out]. Layer prefixes are the config's layer names.
std::vector<WeightSpec> expected_weights(const IassdConfig& config);

}  // namespace pointrt::models::iassd
