// Pointwise MLP: CPU reference (see mlp.h for the contract) and the shared validation.
//
// Rows are processed in blocks of kBlockRows (one Eigen GEMM per layer and block, large enough to run near the
// machine's peak rather than per-row matrix-vector products); the blocks are spread over threads with
// core::parallel_for, whose chunks depend only on the row count and the thread count. The block boundaries are a
// function of R alone, so the same input gives bit-identical output whatever the thread count.
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "ops/mlp/mlp.h"
#include "ops/mlp/mlp_eigen.h"

namespace pointrt::ops {

namespace detail {

std::int64_t mlp_check_layers(const std::vector<DenseLayer>& layers, std::int64_t c0, Device device, const char* op) {
  check_arg(!layers.empty(), op, "layers: need at least one layer");
  std::int64_t c = c0;
  for (std::size_t j = 0; j < layers.size(); ++j) {
    const std::string w = "layers[" + std::to_string(j) + "].weight";
    const std::string b = "layers[" + std::to_string(j) + "].bias";
    check_tensor(layers[j].weight, op, w.c_str(), DType::F32, device, {-1, c});
    const std::int64_t next = layers[j].weight.dim(0);
    check_arg(next >= 1, op, w + ": a layer needs at least one output channel, got " + layers[j].weight.describe());
    check_tensor(layers[j].bias, op, b.c_str(), DType::F32, device, {next});
    c = next;
  }
  return c;
}

void mlp_check(const Tensor& x, const std::vector<DenseLayer>& layers, const Tensor& out, Device device,
               const char* op) {
  check_tensor(x, op, "x", DType::F32, device, {-1, -1});
  check_arg(x.dim(1) >= 1, op, "x: need at least one channel, got " + x.describe());
  const std::int64_t cl = mlp_check_layers(layers, x.dim(1), device, op);
  check_tensor(out, op, "out", DType::F32, device, {x.dim(0), cl});
}

}  // namespace detail

namespace {
constexpr std::int64_t kBlockRows = 256;
}  // namespace

void mlp_cpu(const Tensor& x, const std::vector<DenseLayer>& layers, Tensor& out, const MlpParams& params) {
  (void)params;
  detail::mlp_check(x, layers, out, Device::Host);
  const std::int64_t rows = x.dim(0), c0 = x.dim(1), cl = out.dim(1);
  if (rows == 0) return;
  const detail::EigenChain chain(layers);
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  const std::int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
  core::parallel_for(blocks, [&](std::int64_t first, std::int64_t last) {
    detail::EigenChain::Scratch scratch;
    for (std::int64_t blk = first; blk < last; ++blk) {
      const std::int64_t r0 = blk * kBlockRows, n = std::min(kBlockRows, rows - r0);
      const detail::ConstRowMap in(src + r0 * c0, n, c0);
      detail::RowMap result(dst + r0 * cl, n, cl);
      chain.run(in, scratch, &result);
    }
  });
}

}  // namespace pointrt::ops
