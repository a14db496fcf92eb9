#include "models/iassd/network.h"

namespace pointrt::models::iassd {
namespace {

using engine::DenseRef;
using engine::Layer;
using engine::LayerKind;
using engine::Network;
using nlohmann::json;

class NetBuilder {
 public:
  NetBuilder(const IassdConfig& config, const IassdWeights& weights, std::string math)
      : cfg_(config), w_(weights), math_(std::move(math)) {
    net_.name = config.name;
  }

  int tensor(const std::string& name, DType dtype, const Shape& shape) { return net_.add_tensor(name, dtype, shape); }
  const Shape& shape(int id) const { return net_.tensors.at(static_cast<std::size_t>(id)).shape; }

  void layer(const std::string& name, LayerKind kind, const char* group, std::vector<int> inputs,
             std::vector<int> outputs, json attrs = json::object(), std::vector<DenseRef> dense = {},
             int parallel = -1, int lane = 0) {
    net_.layers.push_back(Layer{name, kind, group, std::move(inputs), std::move(outputs), std::move(attrs),
                                std::move(dense), parallel, lane});
  }

  DenseRef dense(const std::string& prefix, bool relu) {
    const engine::FoldedLinear& f = w_.at(prefix);
    return {net_.add_weight(prefix + ".weight", f.weight), net_.add_weight(prefix + ".bias", f.bias), relu};
  }

  // Conv blocks prefix.mlp{j} (ReLU) then the final linear prefix.out (no ReLU).
  std::vector<DenseRef> head_chain(const std::string& prefix, std::size_t hidden) {
    std::vector<DenseRef> d;
    for (std::size_t j = 0; j < hidden; ++j) d.push_back(dense(prefix + ".mlp" + std::to_string(j), true));
    d.push_back(dense(prefix + ".out", false));
    return d;
  }

  std::int64_t width(const std::vector<DenseRef>& d) const {
    return net_.weights.at(static_cast<std::size_t>(d.back().weight)).value.dim(0);
  }

  // ctr_topk sampler: score head + top-k -> indices
  int ctr_sampler(const std::string& prefix, const SamplerConfig& s, int features, const std::string& indices_name) {
    auto chain = head_chain(prefix + ".sampler", s.mlp.size());
    const std::int64_t n = shape(features)[0];
    const int logits = tensor(prefix + ".sampler.logits", DType::F32, {n, width(chain)});
    layer(prefix + ".sampler.head", LayerKind::Mlp, "TopK", {features}, {logits}, json::object(), chain);
    const int ind = tensor(indices_name, DType::I32, {s.num_samples});
    layer(prefix + ".sampler", LayerKind::TopK, "TopK", {logits}, {ind}, {{"num_samples", s.num_samples}});
    return ind;
  }

  // groupers of one SA layer over sources (xyz, features) around centers -> concat tensor
  int groupers(const std::string& prefix, const std::vector<GrouperConfig>& groupers, QueryType query, int xyz,
               int features, int centers, int voxel, const std::string& concat_name) {
    const std::int64_t m = shape(centers)[0];
    std::int64_t total = 0;
    for (const auto& g : groupers) total += g.mlp.back();
    const int concat = tensor(concat_name, DType::F32, {m, total});
    std::int64_t offset = 0;
    const int block = groupers.size() > 1 ? next_block_++ : -1;  // the groupers run concurrently on the GPU
    for (std::size_t g = 0; g < groupers.size(); ++g) {
      const int lane = block < 0 ? 0 : static_cast<int>(g % engine::kMaxLanes);
      const GrouperConfig& gc = groupers[g];
      const std::string name = prefix + ".grouper" + std::to_string(g);
      const int cnt = tensor(name + ".cnt", DType::I32, {m});
      const int idx = tensor(name + ".idx", DType::I32, {m, gc.nsample});
      const json qattrs = {{"radius", gc.radius}, {"nsample", gc.nsample}};
      if (query == QueryType::Grid) {
        layer(name + ".query", LayerKind::GridBallQuery, "BallQuery", {xyz, centers, voxel}, {cnt, idx}, qattrs, {},
              block, lane);
      } else {
        layer(name + ".query", LayerKind::BallQuery, "BallQuery", {xyz, centers}, {cnt, idx}, qattrs, {}, block, lane);
      }
      std::vector<DenseRef> chain;
      for (std::size_t j = 0; j < gc.mlp.size(); ++j) chain.push_back(dense(name + ".mlp" + std::to_string(j), true));
      layer(name + ".mlp", LayerKind::SaMlp, "Grouping+MLP", {xyz, features, centers, idx, cnt}, {concat},
            {{"mask_empty", cfg_.empty_ball == EmptyBall::Zero}, {"channel_offset", offset}, {"math", math_}}, chain,
            block, lane);
      offset += gc.mlp.back();
    }
    return concat;
  }

  Network build() {
    const auto& in = cfg_.input;
    const std::int64_t n = in.num_points;
    const std::int64_t c = static_cast<std::int64_t>(in.features.size());
    net_.input = tensor("input.points", DType::F32, {n, 3 + c});
    int xyz = tensor("input.xyz", DType::F32, {n, 3});
    int features = -1;
    std::vector<int> split_out{xyz};
    if (c > 0) {
      features = tensor("input.features", DType::F32, {n, c});
      split_out.push_back(features);
    }
    layer("input.split", LayerKind::Split, "Others", {net_.input}, split_out);

    for (const SaLayerConfig& L : cfg_.sa_layers) {
      const std::string& p = L.name;
      const SamplerConfig& s = L.sampler;
      int ind = -1, voxel = -1;
      switch (s.type) {
        case SamplerType::Havs: {
          ind = tensor(p + ".indices", DType::I32, {s.num_samples});
          voxel = tensor(p + ".sampler.voxel", DType::F32, {3});
          const int cells = tensor(p + ".sampler.num_cells", DType::I32, {});
          layer(p + ".sampler", LayerKind::Havs, "HAVSampling", {xyz}, {ind, voxel, cells},
                {{"sample_num", s.num_samples}, {"voxel", s.voxel}, {"tolerance", s.tolerance}, {"max_iter", s.max_iter}});
          break;
        }
        case SamplerType::Dfps:
          ind = tensor(p + ".indices", DType::I32, {s.num_samples});
          layer(p + ".sampler", LayerKind::Fps, "FPSampling", {xyz}, {ind}, {{"num_samples", s.num_samples}});
          break;
        case SamplerType::CtrTopk:
          if (features < 0) fail(cfg_.name + ": " + p, "a ctr_topk sampler needs input features");
          ind = ctr_sampler(p, s, features, p + ".indices");
          break;
      }
      const int new_xyz = tensor(p + ".xyz", DType::F32, {s.num_samples, 3});
      layer(p + ".gather", LayerKind::Gather, "Others", {xyz, ind}, {new_xyz});
      const int concat = groupers(p, L.groupers, L.query, xyz, features, new_xyz, voxel, p + ".concat");
      if (L.aggregation > 0) {
        const int out = tensor(p + ".features", DType::F32, {s.num_samples, L.aggregation});
        layer(p + ".aggregation", LayerKind::Mlp, "Grouping+MLP", {concat}, {out}, json::object(),
              {dense(p + ".aggregation", true)});
        features = out;
      } else {
        features = concat;
      }
      xyz = new_xyz;
    }

    // vote layer
    const VoteConfig& v = cfg_.vote;
    const int vind = ctr_sampler("vote", v.sampler, features, "vote.indices");
    const std::int64_t mv = v.sampler.num_samples;
    const int ctr_xyz = tensor("vote.ctr_xyz", DType::F32, {mv, 3});
    const int ctr_feat = tensor("vote.ctr_features", DType::F32, {mv, shape(features)[1]});
    layer("vote.gather_xyz", LayerKind::Gather, "Vote", {xyz, vind}, {ctr_xyz});
    layer("vote.gather_features", LayerKind::Gather, "Vote", {features, vind}, {ctr_feat});
    const int offsets = tensor("vote.offsets", DType::F32, {mv, 3});
    layer("vote.offset", LayerKind::Mlp, "Vote", {ctr_feat}, {offsets}, json::object(),
          head_chain("vote.offset", v.offset_mlp.size()));
    const int centers = tensor("vote.centers", DType::F32, {mv, 3});
    layer("vote.centers", LayerKind::Vote, "Vote", {ctr_xyz, offsets}, {centers}, {{"max_translation", v.max_translation}});

    // vote SA: centres = vote centres, sources = all points of the last SA layer
    const int vfeat = groupers("vote_sa", cfg_.vote_sa.groupers, QueryType::Ball, xyz, features, centers, -1,
                               "vote_sa.features");

    // head
    const HeadConfig& h = cfg_.head;
    int shared = vfeat;
    if (!h.shared_fc.empty()) {
      std::vector<DenseRef> chain;
      for (std::size_t j = 0; j < h.shared_fc.size(); ++j) chain.push_back(dense("head.shared_fc" + std::to_string(j), true));
      shared = tensor("head.shared", DType::F32, {mv, h.shared_fc.back()});
      layer("head.shared", LayerKind::Mlp, "Head", {vfeat}, {shared}, json::object(), chain);
    }
    const auto cls_chain = head_chain("head.cls", h.cls_fc.size());
    const auto reg_chain = head_chain("head.reg", h.reg_fc.size());
    const int cls = tensor("head.cls", DType::F32, {mv, width(cls_chain)});
    const int reg = tensor("head.reg", DType::F32, {mv, width(reg_chain)});
    const int heads = next_block_++;  // the two branches run concurrently on the GPU
    layer("head.cls", LayerKind::Mlp, "Head", {shared}, {cls}, json::object(), cls_chain, heads, 0);
    layer("head.reg", LayerKind::Mlp, "Head", {shared}, {reg}, json::object(), reg_chain, heads, 1);
    const int boxes_in = tensor("decode.boxes", DType::F32, {mv, 8});
    const int scores_in = tensor("decode.scores", DType::F32, {mv});
    layer("decode", LayerKind::BoxDecode, "Head", {cls, reg, centers}, {boxes_in, scores_in},
          {{"num_heading_bins", h.num_heading_bins}, {"coder", to_string(h.box_coder)}, {"mean_size", h.mean_size}});

    const PostConfig& post = cfg_.post;
    const int boxes = tensor("out.boxes", DType::F32, {post.max_out, 8});
    const int scores = tensor("out.scores", DType::F32, {post.max_out});
    const int nums = tensor("out.nums", DType::I32, {});
    layer("nms", LayerKind::Nms, "NMSBEV", {boxes_in, scores_in}, {boxes, scores, nums},
          {{"score_threshold", post.score_threshold}, {"iou_threshold", post.iou_threshold},
           {"max_out", post.max_out}, {"pre_max", post.pre_max}});
    net_.outputs = {boxes, scores, nums};

    net_.model = {{"format", kConfigFormat},
                  {"name", cfg_.name},
                  {"classes", cfg_.classes},
                  {"num_points", in.num_points},
                  {"features", in.features},
                  {"point_cloud_range", in.point_cloud_range},
                  {"crop_z", in.crop_z},
                  {"max_boxes", post.max_out}};
    engine::validate_network(net_);
    return std::move(net_);
  }

 private:
  const IassdConfig& cfg_;
  const IassdWeights& w_;
  std::string math_;
  Network net_;
  int next_block_ = 0;
};

}  // namespace

engine::Network build_network(const IassdConfig& config, const IassdWeights& weights, const std::string& grouper_math) {
  return NetBuilder(config, weights, grouper_math).build();
}

}  // namespace pointrt::models::iassd
