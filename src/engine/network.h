// Network IR: a validated, ordered list of typed layers over named, batched tensors, plus the weights of the dense
// layers. Built by a model front end (src/models/iassd) or, later, the ONNX importer; consumed by the memory
// planner, the plan writer and the executors. The engine never knows which model it runs.
//
// Tensors: every tensor has a leading batch dimension that is not stored (TensorInfo::shape is per batch item);
// channel-last, contiguous. Layers run in list order; a layer may only read tensors written by earlier layers (or
// the network input). Several layers may write disjoint channel slices of one tensor (SaMlp groupers writing their
// slice of a concatenation): the first writer defines its lifetime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ops/mlp/mlp.h"
#include "pointrt/tensor.h"

namespace pointrt::engine {

enum class LayerKind {
  Split,          // points [N, 3+C] -> xyz [N, 3], features [N, C] (features absent when C == 0)
  Havs,           // xyz -> indices [S], voxel [3], num_cells [] ; attrs: sample_num, voxel[3], tolerance, max_iter
  Fps,            // xyz -> indices [S]; attrs: num_samples
  TopK,           // logits [N, C] -> indices [S]; attrs: num_samples
  Gather,         // x [N, C], indices [M] -> out [M, C]
  BallQuery,      // xyz [N, 3], centers [M, 3] -> cnt [M], idx [M, K]; attrs: radius, nsample
  GridBallQuery,  // xyz, centers, voxel [3] -> cnt, idx; attrs: radius, nsample
  SaMlp,          // xyz, [features], centers, idx, cnt -> out slice; attrs: mask_empty, channel_offset; dense
  Mlp,            // x [M, C0] -> out [M, CL]; dense
  Vote,           // ctr_xyz [M, 3], offsets [M, 3] -> centers [M, 3]; attrs: max_translation[3]
  BoxDecode,      // cls [M, NC], reg [M, 6+2NB], centers [M, 3] -> boxes [M, 8], scores [M]; attrs: bins, coder, mean_size
  Nms,            // boxes [M, 8], scores [M] -> out boxes [P, 8], out scores [P], nums []; attrs: thresholds, max_out, pre_max
};

const char* layer_kind_name(LayerKind kind);             // "split", "havs", ...
LayerKind parse_layer_kind(const std::string& name);     // throws Error for an unknown name

struct TensorInfo {
  std::string name;   // e.g. "sa1.xyz"
  DType dtype = DType::F32;
  Shape shape;        // per batch item (the batch dimension is implicit and leading)
  std::int64_t item_numel() const;
  std::size_t item_bytes() const;
};

// One dense layer of an Mlp/SaMlp layer: indices into Network::weights.
struct DenseRef {
  int weight = -1;  // f32 [out, in]
  int bias = -1;    // f32 [out]
  bool relu = true;
};

struct Layer {
  std::string name;   // unique, e.g. "sa1.grouper0.mlp"
  LayerKind kind = LayerKind::Split;
  std::string group;  // profiler group: HAVSampling, BallQuery, Grouping+MLP, TopK, Vote, Head, NMSBEV, Others
  std::vector<int> inputs;   // tensor ids (-1: an absent optional input)
  std::vector<int> outputs;  // tensor ids
  nlohmann::json attrs = nlohmann::json::object();
  std::vector<DenseRef> dense;
  // Concurrency: consecutive layers with the same parallel block id (>= 0) may run concurrently, lane by lane (each
  // lane in list order; lane 0 on the main stream). A layer may not read what another lane of its block writes.
  // The memory planner treats the whole block as one step, so tensors touched in a block never share memory.
  int parallel = -1;
  int lane = 0;
};

// Largest number of lanes of a parallel block (at least 1).
inline constexpr int kMaxLanes = 4;

struct NamedWeight {
  std::string name;
  Tensor value;  // host f32
};

struct Network {
  std::string name;
  std::vector<TensorInfo> tensors;
  std::vector<Layer> layers;
  std::vector<NamedWeight> weights;
  int input = -1;                 // the points tensor [N, 3+C]
  std::vector<int> outputs;       // boxes [P, 8], scores [P], nums [] (i32)
  nlohmann::json model = nlohmann::json::object();  // front-end facts for users: classes, input, ... (opaque here)

  int add_tensor(const std::string& name, DType dtype, const Shape& shape);
  int tensor_id(const std::string& name) const;  // -1 when absent
  int add_weight(const std::string& name, const Tensor& value);
};

// Checks the IR: unique names, ids in range, every layer's inputs written earlier, the shapes and dtypes each kind
// needs (including the dense chains' widths), attributes present and sane. Throws Error("<network>: layer '<name>'
// (<kind>): <reason>").
void validate_network(const Network& net);

// Layer index -> [first, last] layer index of its parallel block (itself when sequential).
std::vector<std::pair<int, int>> parallel_spans(const Network& net);

// The dense layers of `layer` as operator arguments over `weights` (host or device copies, indexed like
// Network::weights).
std::vector<ops::DenseLayer> dense_layers(const Layer& layer, const std::vector<Tensor>& weights);

}  // namespace pointrt::engine
