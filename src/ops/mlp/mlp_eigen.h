// Internal to the CPU references of mlp and sa_mlp: a chain of dense layers run with Eigen GEMMs on a block of rows.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "ops/mlp/mlp.h"

namespace pointrt::ops::detail {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMap = Eigen::Map<RowMat>;
using ConstRowMap = Eigen::Map<const RowMat>;

// Views of the (validated) weights of a layer chain; run() computes the chain for one block of rows.
class EigenChain {
 public:
  // Per-thread activation buffers, reused across blocks.
  struct Scratch {
    RowMat a, b;
  };

  explicit EigenChain(const std::vector<DenseLayer>& layers) {
    for (const DenseLayer& l : layers) {
      weights_.emplace_back(l.weight.data_as<float>(), l.weight.dim(0), l.weight.dim(1));
      biases_.emplace_back(l.bias.data_as<float>(), 1, l.bias.dim(0));
      relu_.push_back(l.relu);
    }
  }

  std::int64_t out_channels() const { return weights_.back().rows(); }

  // out = chain(in) for in [n, C0]. With `dst` the last layer is written there ([n, CL]) and the return value is
  // *dst's data; otherwise the result stays in scratch and a pointer to its row-major [n, CL] data is returned.
  const float* run(const ConstRowMap& in, Scratch& s, RowMap* dst) const {
    const std::size_t layers = weights_.size();
    const float* cur_data = in.data();
    std::int64_t cur_cols = in.cols();
    const std::int64_t n = in.rows();
    for (std::size_t j = 0; j < layers; ++j) {
      const ConstRowMap cur(cur_data, n, cur_cols);
      const bool last = j + 1 == layers;
      RowMat& next = (j % 2 == 0) ? s.a : s.b;
      float* out_data;
      if (last && dst != nullptr) {
        dst->noalias() = cur * weights_[j].transpose();
        finish(*dst, j);
        out_data = dst->data();
      } else {
        next.resize(n, weights_[j].rows());
        next.noalias() = cur * weights_[j].transpose();
        finish(next, j);
        out_data = next.data();
      }
      cur_data = out_data;
      cur_cols = weights_[j].rows();
    }
    return cur_data;
  }

 private:
  template <typename M>
  void finish(M& m, std::size_t j) const {
    m.rowwise() += biases_[j];
    if (relu_[j]) m = m.cwiseMax(0.0f);
  }

  std::vector<ConstRowMap> weights_;
  std::vector<Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>>> biases_;
  std::vector<bool> relu_;
};

}  // namespace pointrt::ops::detail
