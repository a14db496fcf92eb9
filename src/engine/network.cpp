#include "engine/network.h"

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "pointrt/error.h"

namespace pointrt::engine {
namespace {

struct KindName {
  LayerKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {LayerKind::Split, "split"},          {LayerKind::Havs, "havs"},
    {LayerKind::Fps, "fps"},              {LayerKind::TopK, "topk"},
    {LayerKind::Gather, "gather"},        {LayerKind::BallQuery, "ball_query"},
    {LayerKind::GridBallQuery, "grid_ball_query"}, {LayerKind::SaMlp, "sa_mlp"},
    {LayerKind::Mlp, "mlp"},              {LayerKind::Vote, "vote"},
    {LayerKind::BoxDecode, "box_decode"}, {LayerKind::Nms, "nms"},
};

class LayerChecker {
 public:
  LayerChecker(const Network& net, const Layer& layer) : net_(net), layer_(layer) {}

  [[noreturn]] void error(const std::string& reason) const {
    fail(net_.name + ": layer '" + layer_.name + "' (" + layer_kind_name(layer_.kind) + ")", reason);
  }
  void require(bool ok, const std::string& reason) const {
    if (!ok) error(reason);
  }
  void arity(std::size_t inputs, std::size_t outputs) const {
    require(layer_.inputs.size() == inputs && layer_.outputs.size() == outputs,
            "expects " + std::to_string(inputs) + " inputs and " + std::to_string(outputs) + " outputs, has " +
                std::to_string(layer_.inputs.size()) + " and " + std::to_string(layer_.outputs.size()));
  }
  const TensorInfo* in(std::size_t i) const { return tensor(layer_.inputs.at(i)); }
  const TensorInfo* out(std::size_t i) const { return tensor(layer_.outputs.at(i)); }
  const TensorInfo* tensor(int id) const { return id < 0 ? nullptr : &net_.tensors[static_cast<std::size_t>(id)]; }
  // dtype and shape (-1 = any) of a present tensor
  void expect(const TensorInfo* t, const char* role, DType dtype, const Shape& shape) const {
    require(t != nullptr, std::string(role) + " is missing");
    bool ok = t->dtype == dtype && t->shape.size() == shape.size();
    for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
      error(std::string(role) + " '" + t->name + "': expected " + dtype_name(dtype) + shape_string(shape) + ", got " +
            dtype_name(t->dtype) + shape_string(t->shape));
    }
  }
  double num(const char* key) const {
    auto it = layer_.attrs.find(key);
    require(it != layer_.attrs.end() && it->is_number(), std::string("attribute '") + key + "' missing or not a number");
    const double v = it->get<double>();
    require(std::isfinite(v), std::string("attribute '") + key + "' is not finite");
    return v;
  }
  int integer(const char* key, int lo) const {
    auto it = layer_.attrs.find(key);
    require(it != layer_.attrs.end() && it->is_number_integer(), std::string("attribute '") + key + "' missing or not an integer");
    const auto v = it->get<std::int64_t>();
    require(v >= lo && v <= (1 << 30), std::string("attribute '") + key + "' out of range: " + std::to_string(v));
    return static_cast<int>(v);
  }
  // dense chain widths: returns output width
  std::int64_t dense_chain(std::int64_t in_width) const {
    require(!layer_.dense.empty(), "has no dense layers");
    std::int64_t c = in_width;
    for (std::size_t j = 0; j < layer_.dense.size(); ++j) {
      const DenseRef& d = layer_.dense[j];
      require(d.weight >= 0 && d.weight < static_cast<int>(net_.weights.size()) && d.bias >= 0 &&
                  d.bias < static_cast<int>(net_.weights.size()),
              "dense layer " + std::to_string(j) + " refers to a missing weight");
      const Tensor& w = net_.weights[static_cast<std::size_t>(d.weight)].value;
      const Tensor& b = net_.weights[static_cast<std::size_t>(d.bias)].value;
      require(w.dtype() == DType::F32 && w.rank() == 2 && w.dim(1) == c,
              "dense layer " + std::to_string(j) + " weight '" + net_.weights[static_cast<std::size_t>(d.weight)].name +
                  "' is " + w.describe() + ", expected f32[*, " + std::to_string(c) + "]");
      require(b.dtype() == DType::F32 && b.rank() == 1 && b.dim(0) == w.dim(0),
              "dense layer " + std::to_string(j) + " bias '" + net_.weights[static_cast<std::size_t>(d.bias)].name +
                  "' is " + b.describe() + ", expected f32[" + std::to_string(w.dim(0)) + "]");
      c = w.dim(0);
    }
    return c;
  }

 private:
  const Network& net_;
  const Layer& layer_;
};

void check_layer(const Network& net, const Layer& L) {
  LayerChecker c(net, L);
  const DType f = DType::F32, i = DType::I32;
  switch (L.kind) {
    case LayerKind::Split: {
      c.require(L.inputs.size() == 1 && (L.outputs.size() == 1 || L.outputs.size() == 2), "expects 1 input and 1-2 outputs");
      const TensorInfo* p = c.in(0);
      c.expect(p, "points", f, {-1, -1});
      c.require(p->shape[1] >= 3, "points need at least x, y, z");
      c.expect(c.out(0), "xyz", f, {p->shape[0], 3});
      if (L.outputs.size() == 2) c.expect(c.out(1), "features", f, {p->shape[0], p->shape[1] - 3});
      else c.require(p->shape[1] == 3, "points have feature channels but the layer has no features output");
      break;
    }
    case LayerKind::Havs: {
      c.arity(1, 3);
      c.expect(c.in(0), "xyz", f, {-1, 3});
      const int s = c.integer("sample_num", 1);
      c.expect(c.out(0), "indices", i, {s});
      c.expect(c.out(1), "voxel", f, {3});
      c.expect(c.out(2), "num_cells", i, {});
      c.require(L.attrs.contains("voxel") && L.attrs["voxel"].is_array() && L.attrs["voxel"].size() == 3, "attribute 'voxel' must hold 3 numbers");
      c.num("tolerance");
      c.integer("max_iter", 1);
      break;
    }
    case LayerKind::Fps: {
      c.arity(1, 1);
      c.expect(c.in(0), "xyz", f, {-1, 3});
      const int s = c.integer("num_samples", 1);
      c.expect(c.out(0), "indices", i, {s});
      c.require(s <= c.in(0)->shape[0], "num_samples exceeds the input points");
      break;
    }
    case LayerKind::TopK: {
      c.arity(1, 1);
      c.expect(c.in(0), "logits", f, {-1, -1});
      const int s = c.integer("num_samples", 1);
      c.require(s <= c.in(0)->shape[0], "num_samples " + std::to_string(s) + " exceeds the " +
                                            std::to_string(c.in(0)->shape[0]) + " input points");
      c.expect(c.out(0), "indices", i, {s});
      break;
    }
    case LayerKind::Gather: {
      c.arity(2, 1);
      c.expect(c.in(0), "x", f, {-1, -1});
      c.expect(c.in(1), "indices", i, {-1});
      c.expect(c.out(0), "out", f, {c.in(1)->shape[0], c.in(0)->shape[1]});
      break;
    }
    case LayerKind::BallQuery:
    case LayerKind::GridBallQuery: {
      const bool grid = L.kind == LayerKind::GridBallQuery;
      c.arity(grid ? 3 : 2, 2);
      c.expect(c.in(0), "xyz", f, {-1, 3});
      c.expect(c.in(1), "centers", f, {-1, 3});
      if (grid) c.expect(c.in(2), "voxel", f, {3});
      c.require(c.num("radius") > 0, "radius must be > 0");
      const int k = c.integer("nsample", 1);
      const std::int64_t m = c.in(1)->shape[0];
      c.expect(c.out(0), "cnt", i, {m});
      c.expect(c.out(1), "idx", i, {m, k});
      break;
    }
    case LayerKind::SaMlp: {
      c.arity(5, 1);
      const TensorInfo* xyz = c.in(0);
      c.expect(xyz, "xyz", f, {-1, 3});
      std::int64_t ch = 0;
      if (c.in(1) != nullptr) {
        c.expect(c.in(1), "features", f, {xyz->shape[0], -1});
        ch = c.in(1)->shape[1];
      }
      c.expect(c.in(2), "centers", f, {-1, 3});
      const std::int64_t m = c.in(2)->shape[0];
      c.expect(c.in(3), "idx", i, {m, -1});
      c.expect(c.in(4), "cnt", i, {m});
      const std::int64_t width = c.dense_chain(3 + ch);
      const TensorInfo* o = c.out(0);
      c.expect(o, "out", f, {m, -1});
      const int off = c.integer("channel_offset", 0);
      c.require(off + width <= o->shape[1], "channel slice [" + std::to_string(off) + ", " + std::to_string(off + width) +
                                                ") exceeds the output's " + std::to_string(o->shape[1]) + " channels");
      c.require(L.attrs.contains("mask_empty") && L.attrs["mask_empty"].is_boolean(), "attribute 'mask_empty' missing");
      if (L.attrs.contains("math")) {
        c.require(L.attrs["math"] == "fp32" || L.attrs["math"] == "tf32x3", "attribute 'math' must be \"fp32\" or \"tf32x3\"");
      }
      for (const DenseRef& d : L.dense) c.require(d.relu, "every grouper MLP layer must have ReLU");
      break;
    }
    case LayerKind::Mlp: {
      c.arity(1, 1);
      c.expect(c.in(0), "x", f, {-1, -1});
      const std::int64_t width = c.dense_chain(c.in(0)->shape[1]);
      c.expect(c.out(0), "out", f, {c.in(0)->shape[0], width});
      break;
    }
    case LayerKind::Vote: {
      c.arity(2, 1);
      c.expect(c.in(0), "ctr_xyz", f, {-1, 3});
      c.expect(c.in(1), "offsets", f, {c.in(0)->shape[0], 3});
      c.expect(c.out(0), "centers", f, {c.in(0)->shape[0], 3});
      c.require(L.attrs.contains("max_translation") && L.attrs["max_translation"].is_array() &&
                    L.attrs["max_translation"].size() == 3, "attribute 'max_translation' must hold 3 numbers");
      break;
    }
    case LayerKind::BoxDecode: {
      c.arity(3, 2);
      c.expect(c.in(0), "cls", f, {-1, -1});
      const std::int64_t m = c.in(0)->shape[0], nc = c.in(0)->shape[1];
      const int nb = c.integer("num_heading_bins", 1);
      c.expect(c.in(1), "reg", f, {m, 6 + 2 * nb});
      c.expect(c.in(2), "centers", f, {m, 3});
      c.expect(c.out(0), "boxes", f, {m, 8});
      c.expect(c.out(1), "scores", f, {m});
      c.require(L.attrs.contains("mean_size") && L.attrs["mean_size"].is_array() &&
                    static_cast<std::int64_t>(L.attrs["mean_size"].size()) == nc,
                "attribute 'mean_size' must have one entry per class (" + std::to_string(nc) + ")");
      c.require(L.attrs.contains("coder") && L.attrs["coder"].is_string(), "attribute 'coder' missing");
      break;
    }
    case LayerKind::Nms: {
      c.arity(2, 3);
      c.expect(c.in(0), "boxes", f, {-1, 8});
      c.expect(c.in(1), "scores", f, {c.in(0)->shape[0]});
      const int p = c.integer("max_out", 1);
      c.expect(c.out(0), "out_boxes", f, {p, 8});
      c.expect(c.out(1), "out_scores", f, {p});
      c.expect(c.out(2), "nums", i, {});
      c.num("score_threshold");
      c.num("iou_threshold");
      c.integer("pre_max", 0);
      break;
    }
  }
}

}  // namespace

const char* layer_kind_name(LayerKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

LayerKind parse_layer_kind(const std::string& name) {
  for (const auto& k : kKinds) {
    if (name == k.name) return k.kind;
  }
  fail("layer kind", "unknown kind '" + name + "'");
}

std::int64_t TensorInfo::item_numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
std::size_t TensorInfo::item_bytes() const { return static_cast<std::size_t>(item_numel()) * dtype_size(dtype); }

int Network::add_tensor(const std::string& tensor_name, DType dtype, const Shape& shape) {
  if (tensor_id(tensor_name) >= 0) fail(name, "tensor '" + tensor_name + "' defined twice");
  tensors.push_back({tensor_name, dtype, shape});
  return static_cast<int>(tensors.size()) - 1;
}

int Network::tensor_id(const std::string& tensor_name) const {
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].name == tensor_name) return static_cast<int>(t);
  }
  return -1;
}

int Network::add_weight(const std::string& weight_name, const Tensor& value) {
  weights.push_back({weight_name, value});
  return static_cast<int>(weights.size()) - 1;
}

void validate_network(const Network& net) {
  const std::string subject = net.name.empty() ? std::string("network") : net.name;
  const int nt = static_cast<int>(net.tensors.size());
  std::set<std::string> names;
  for (const auto& t : net.tensors) {
    if (!names.insert(t.name).second) fail(subject, "tensor '" + t.name + "' defined twice");
    std::int64_t numel = 1;
    for (auto d : t.shape) {
      if (d < 0 || d > (std::int64_t{1} << 31)) fail(subject, "tensor '" + t.name + "' has a bad shape " + shape_string(t.shape));
      if (d != 0 && numel > (std::int64_t{1} << 36) / d) {
        fail(subject, "tensor '" + t.name + "' is too large: " + shape_string(t.shape));
      }
      numel *= d;
    }
  }
  if (net.input < 0 || net.input >= nt) fail(subject, "has no input tensor");
  if (net.outputs.size() != 3) fail(subject, "needs 3 outputs (boxes, scores, nums)");
  std::vector<bool> written(static_cast<std::size_t>(nt), false);
  written[static_cast<std::size_t>(net.input)] = true;
  std::set<std::string> layer_names;
  for (const Layer& L : net.layers) {
    if (!layer_names.insert(L.name).second) fail(subject, "layer '" + L.name + "' defined twice");
    for (int id : L.inputs) {
      if (id < -1 || id >= nt) fail(subject + ": layer '" + L.name + "'", "input id " + std::to_string(id) + " out of range");
      if (id >= 0 && !written[static_cast<std::size_t>(id)]) {
        fail(subject + ": layer '" + L.name + "'", "reads tensor '" + net.tensors[static_cast<std::size_t>(id)].name +
                                                       "' before any layer writes it");
      }
    }
    for (int id : L.outputs) {
      if (id < 0 || id >= nt) fail(subject + ": layer '" + L.name + "'", "output id " + std::to_string(id) + " out of range");
    }
    check_layer(net, L);
    for (int id : L.outputs) written[static_cast<std::size_t>(id)] = true;
  }
  for (int id : net.outputs) {
    if (id < 0 || id >= nt || !written[static_cast<std::size_t>(id)]) fail(subject, "an output is never written");
  }
  // parallel blocks: consecutive, lanes in range, no lane reads another lane's output
  std::set<int> closed;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const Layer& L = net.layers[l];
    if (L.lane < 0 || L.lane >= kMaxLanes || (L.parallel < 0 && L.lane != 0)) {
      fail(subject + ": layer '" + L.name + "'", "lane " + std::to_string(L.lane) + " out of range");
    }
    if (L.parallel < 0) continue;
    const bool continues = l > 0 && net.layers[l - 1].parallel == L.parallel;
    if (!continues && !closed.insert(L.parallel).second) {
      fail(subject + ": layer '" + L.name + "'", "parallel block " + std::to_string(L.parallel) + " is not contiguous");
    }
  }
  const auto spans = parallel_spans(net);
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const Layer& L = net.layers[l];
    if (L.parallel < 0) continue;
    for (int p = spans[l].first; p <= spans[l].second; ++p) {
      const Layer& other = net.layers[static_cast<std::size_t>(p)];
      if (other.lane == L.lane) continue;
      for (int in : L.inputs) {
        for (int out : other.outputs) {
          if (in >= 0 && in == out) {
            fail(subject + ": layer '" + L.name + "'", "reads tensor '" + net.tensors[static_cast<std::size_t>(in)].name +
                                                           "' written by layer '" + other.name + "' of another lane");
          }
        }
      }
    }
  }
}

std::vector<std::pair<int, int>> parallel_spans(const Network& net) {
  const int n = static_cast<int>(net.layers.size());
  std::vector<std::pair<int, int>> spans(static_cast<std::size_t>(n));
  for (int l = 0; l < n;) {
    int e = l;
    const int id = net.layers[static_cast<std::size_t>(l)].parallel;
    if (id >= 0) {
      while (e + 1 < n && net.layers[static_cast<std::size_t>(e + 1)].parallel == id) ++e;
    }
    for (int k = l; k <= e; ++k) spans[static_cast<std::size_t>(k)] = {l, e};
    l = e + 1;
  }
  return spans;
}

std::vector<ops::DenseLayer> dense_layers(const Layer& layer, const std::vector<Tensor>& weights) {
  std::vector<ops::DenseLayer> out;
  out.reserve(layer.dense.size());
  for (const DenseRef& d : layer.dense) {
    out.push_back({weights.at(static_cast<std::size_t>(d.weight)), weights.at(static_cast<std::size_t>(d.bias)), d.relu});
  }
  return out;
}

}  // namespace pointrt::engine
