// Fused set-abstraction grouper: CPU reference (see sa_mlp.h for the contract) and the shared validation.
//
// Groups (b, m) are processed in blocks of about kBlockRows neighbour rows: the block's [groups * K, 3 + C] input is
// gathered into one matrix, the layer chain runs as one Eigen GEMM per layer, and the result is max-pooled over the
// K rows of each group. Blocks are spread over threads with core::parallel_for (chunks fixed by B*M and the thread
// count; block boundaries fixed by B*M and K), so results do not depend on the thread count.
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "ops/mlp/mlp_eigen.h"
#include "ops/sa_mlp/sa_mlp.h"

namespace pointrt::ops {

namespace detail {

std::int64_t sa_mlp_check(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                          const Tensor& idx_cnt, const std::vector<DenseLayer>& layers, const Tensor& out,
                          const SaMlpParams& params, Device device) {
  const char* op = "sa_mlp";
  check_tensor(xyz, op, "xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  check_arg(n <= INT32_MAX, op, "xyz: N does not fit int32 indices");
  std::int64_t c = 0;
  if (features != nullptr) {
    check_tensor(*features, op, "features", DType::F32, device, {b, n, -1});
    c = features->dim(2);
  }
  check_tensor(new_xyz, op, "new_xyz", DType::F32, device, {b, -1, 3});
  const std::int64_t m = new_xyz.dim(1);
  check_tensor(idx, op, "idx", DType::I32, device, {b, m, -1});
  check_arg(idx.dim(2) >= 1, op, "idx: need at least one neighbour per group (K >= 1), got " + idx.describe());
  check_tensor(idx_cnt, op, "idx_cnt", DType::I32, device, {b, m});
  const std::int64_t cl = mlp_check_layers(layers, 3 + c, device, op);
  check_tensor(out, op, "out", DType::F32, device, {b, m, -1});
  const std::int64_t ctot = out.dim(2);
  check_arg(params.channel_offset >= 0 && params.channel_offset + cl <= ctot, op,
            "out: channel_offset " + std::to_string(params.channel_offset) + " + MLP width " + std::to_string(cl) +
                " exceeds the " + std::to_string(ctot) + " channels of " + out.describe());
  return c;
}

}  // namespace detail

namespace {

constexpr std::int64_t kBlockRows = 256;

[[noreturn]] void bad_index(std::int64_t b, std::int64_t m, std::int64_t k, std::int32_t value, std::int64_t n) {
  fail("sa_mlp", "idx[" + std::to_string(b) + ", " + std::to_string(m) + ", " + std::to_string(k) +
                     "] = " + std::to_string(value) + " is outside [0, N = " + std::to_string(n) + ")");
}

}  // namespace

void sa_mlp_cpu(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                const Tensor& idx_cnt, const std::vector<DenseLayer>& layers, Tensor& out, const SaMlpParams& params) {
  const std::int64_t c = detail::sa_mlp_check(xyz, features, new_xyz, idx, idx_cnt, layers, out, params, Device::Host);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1), k = idx.dim(2);
  const std::int64_t w = 3 + c, ctot = out.dim(2), off = params.channel_offset;
  const float* p = xyz.data_as<float>();
  const float* f = c > 0 ? features->data_as<float>() : nullptr;
  const float* q = new_xyz.data_as<float>();
  const std::int32_t* id = idx.data_as<std::int32_t>();
  const std::int32_t* cnt = idx_cnt.data_as<std::int32_t>();
  float* dst = out.data_as<float>();
  for (std::int64_t r = 0; r < batch * m * k; ++r) {  // validate everything before writing anything
    if (id[r] < 0 || id[r] >= n) bad_index(r / (m * k), (r / k) % m, r % k, id[r], n);
  }
  const std::int64_t groups = batch * m;
  if (groups == 0) return;
  const detail::EigenChain chain(layers);
  const std::int64_t cl = chain.out_channels();
  const std::int64_t per_block = std::max<std::int64_t>(1, kBlockRows / k);
  const std::int64_t blocks = (groups + per_block - 1) / per_block;
  core::parallel_for(blocks, [&](std::int64_t first, std::int64_t last) {
    detail::EigenChain::Scratch scratch;
    detail::RowMat x;
    for (std::int64_t blk = first; blk < last; ++blk) {
      const std::int64_t g0 = blk * per_block, ng = std::min(per_block, groups - g0);
      x.resize(ng * k, w);
      for (std::int64_t g = 0; g < ng; ++g) {
        const std::int64_t bm = g0 + g, bi = bm / m;
        const float* centre = q + bm * 3;
        for (std::int64_t s = 0; s < k; ++s) {
          const std::int64_t i = bi * n + id[bm * k + s];
          float* row = x.data() + (g * k + s) * w;
          row[0] = p[i * 3 + 0] - centre[0];
          row[1] = p[i * 3 + 1] - centre[1];
          row[2] = p[i * 3 + 2] - centre[2];
          if (c > 0) std::memcpy(row + 3, f + i * c, static_cast<std::size_t>(c) * sizeof(float));
        }
      }
      const detail::ConstRowMap in(x.data(), ng * k, w);
      const float* h = chain.run(in, scratch, nullptr);
      for (std::int64_t g = 0; g < ng; ++g) {
        const std::int64_t bm = g0 + g;
        float* o = dst + bm * ctot + off;
        if (params.mask_empty && cnt[bm] == 0) {
          std::fill(o, o + cl, 0.0f);
          continue;
        }
        const float* rows = h + g * k * cl;
        std::memcpy(o, rows, static_cast<std::size_t>(cl) * sizeof(float));
        for (std::int64_t s = 1; s < k; ++s) {
          const float* r = rows + s * cl;
          for (std::int64_t ch = 0; ch < cl; ++ch) o[ch] = std::max(o[ch], r[ch]);
        }
      }
    }
  });
}

}  // namespace pointrt::ops
