// Pointwise MLP: a chain of dense (1x1) layers applied to every row (spec model-iassd.md §2.1 aggregation, §2.4.4
// score heads, §3 vote offsets, §4.2-4.3 head).
//
// x f32 [R, C0] (callers pass any [B, M, C0] tensor viewed as [B*M, C0]) -> out f32 [R, CL] with
//   h0 = x[r],  h{j+1} = act_j(W_j h_j + b_j),  out[r] = hL,
// W_j = layers[j].weight f32 [C{j+1}, Cj] (PyTorch nn.Linear layout, BatchNorm already folded in), b_j =
// layers[j].bias f32 [C{j+1}], act_j = ReLU when layers[j].relu, else identity. L >= 1.
// All tensors on the device of the entry point (host for mlp_cpu, CUDA for mlp_cuda). The weights must be finite.
// Summation order is fixed (no atomics): two runs give bit-identical outputs. CUDA is batch invariant: the order of
// every output depends on the layer widths only (see mlp.cu), so a row's outputs do not depend on R or on the other
// rows (a frame gives the same bits at batch 1 and batch 8). CPU and CUDA agree to float32 rounding (different
// summation order), not bit for bit.
// CPU: Eigen GEMMs over row blocks spread with core::parallel_for. CUDA: see mlp.cu (one fused launch for narrow
// chains, one launch per layer otherwise); workspace from mlp_workspace_bytes(R, layers), zero for a fused chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ops/common/op_common.h"

namespace pointrt::ops {

// One dense layer: y = act(W x + b).
struct DenseLayer {
  Tensor weight;  // f32 [out, in]
  Tensor bias;    // f32 [out]
  bool relu = true;
};

struct MlpParams {};  // no attributes; kept for the uniform operator contract

void mlp_cpu(const Tensor& x, const std::vector<DenseLayer>& layers, Tensor& out, const MlpParams& params = {});
std::size_t mlp_workspace_bytes(std::int64_t rows, const std::vector<DenseLayer>& layers);
void mlp_cuda(const Tensor& x, const std::vector<DenseLayer>& layers, Tensor& out, void* workspace,
              std::size_t workspace_bytes, StreamHandle stream, const MlpParams& params = {});

namespace detail {
// Shared validation: x [R, C0], chain widths, out [R, CL], dtypes and devices. Throws Error("mlp: ...").
void mlp_check(const Tensor& x, const std::vector<DenseLayer>& layers, const Tensor& out, Device device,
               const char* op = "mlp");
// The layer chain alone: at least one layer, layers[j].weight f32 [C{j+1}, Cj] with C{j+1} >= 1 and C0 = `c0`,
// layers[j].bias f32 [C{j+1}], all on `device`. Returns CL. Throws Error("<op>: layers[j].weight: ...").
std::int64_t mlp_check_layers(const std::vector<DenseLayer>& layers, std::int64_t c0, Device device, const char* op);
}  // namespace detail

}  // namespace pointrt::ops
