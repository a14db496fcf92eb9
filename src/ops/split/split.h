// Split points into coordinates and features (spec model-iassd.md §2: the backbone's first set abstraction takes
// xyz and the extra per-point channels separately).
//
// points f32 [B, N, 3+C] -> xyz f32 [B, N, 3],  xyz[b, n, a] = points[b, n, a]  (a < 3), and, when C > 0,
// features f32 [B, N, C],  features[b, n, c] = points[b, n, 3 + c]. With C == 0 `features` must be null; with C > 0
// it must be given. A pure copy: CPU and CUDA are bit-identical (NaN payloads included). No workspace. CUDA: one
// grid-stride kernel, one thread per input value (coalesced reads; writes to two nearly contiguous outputs).
#pragma once

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct SplitParams {};  // no attributes; kept for the uniform operator contract

namespace detail {
// Shared validation of both entry points (throws pointrt::Error naming "split" and the tensor).
void split_check(const Tensor& points, const Tensor& xyz, const Tensor* features, Device device);
}  // namespace detail

void split_cpu(const Tensor& points, Tensor& xyz, Tensor* features, const SplitParams& params = {});
void split_cuda(const Tensor& points, Tensor& xyz, Tensor* features, StreamHandle stream,
                const SplitParams& params = {});

}  // namespace pointrt::ops
