// Shared pieces of every operator contract (src/ops/<op>/<op>.h).
//
// Conventions of an operator:
//   * `<op>.h` declares a parameter struct, `<op>_cpu(...)` (the reference, host tensors) and `<op>_cuda(...)`
//     (device tensors, a workspace and a stream), plus `<op>_workspace_bytes(...)` when the kernel needs scratch
//     memory. Both entry points validate shapes, dtypes, devices and parameters with check_tensor() & co. and throw
//     pointrt::Error("<op>: <tensor>: <reason>") before touching memory.
//   * Kernels allocate nothing and never synchronise with the host: everything they need is in the workspace,
//     which the caller sizes with <op>_workspace_bytes() up front. Calls are capturable in a CUDA graph.
//   * A batch dimension everywhere: points [B, N, 3+C], indices int32 [B, M] or [B, M, K], channel-last.
//   * Deterministic: ties broken by index, identical results for identical inputs.
// This header is CUDA-free; CUDA streams are passed as StreamHandle (the same type as cudaStream_t).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pointrt/error.h"
#include "pointrt/tensor.h"

struct CUstream_st;

namespace pointrt::ops {

using StreamHandle = CUstream_st*;  // == cudaStream_t

// Checks dtype, device and shape of `t`; `shape` entries of -1 accept any size. Throws
// Error("<op>: <name>: expected f32[B, N, 3]@cuda, got f32[1, 5]@cuda").
void check_tensor(const Tensor& t, const char* op, const char* name, DType dtype, Device device, const Shape& shape);

// Throws Error("<op>: <what>") unless `condition`.
void check_arg(bool condition, const char* op, const std::string& what);

// Throws unless the workspace is large enough and 256-byte aligned (null is fine when `needed` is 0).
void check_workspace(const void* workspace, std::size_t bytes, std::size_t needed, const char* op);

// Rounds up to the 256-byte alignment every workspace carve-out uses.
constexpr std::size_t align_up(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// Carves aligned sub-buffers out of one workspace block, in order; the same sequence of take() calls with a null
// base computes the total size (used by <op>_workspace_bytes so size and layout cannot drift apart).
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(static_cast<char*>(base)) {}
  template <typename T>
  T* take(std::size_t count) {
    T* p = base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + offset_);
    offset_ += align_up(count * sizeof(T));
    return p;
  }
  std::size_t size() const { return offset_; }

 private:
  char* base_;
  std::size_t offset_ = 0;
};

}  // namespace pointrt::ops
