#include "ops/common/op_common.h"

#include <cstdint>

namespace pointrt::ops {

namespace {

std::string expected_string(DType dtype, Device device, const Shape& shape) {
  std::string s = std::string(dtype_name(dtype)) + "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) s += ", ";
    s += shape[i] < 0 ? std::string("*") : std::to_string(shape[i]);
  }
  return s + "]@" + device_name(device);
}

}  // namespace

void check_tensor(const Tensor& t, const char* op, const char* name, DType dtype, Device device, const Shape& shape) {
  bool ok = t.dtype() == dtype && t.device() == device && t.rank() == static_cast<int>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) {
    if (shape[i] >= 0 && t.shape()[i] != shape[i]) ok = false;
  }
  if (ok && t.numel() != 0 && t.data() == nullptr) ok = false;
  if (!ok) {
    fail(std::string(op) + ": " + name,
         "expected " + expected_string(dtype, device, shape) + ", got " + t.describe());
  }
}

void check_arg(bool condition, const char* op, const std::string& what) {
  if (!condition) fail(op, what);
}

void check_workspace(const void* workspace, std::size_t bytes, std::size_t needed, const char* op) {
  if (needed == 0) return;
  if (workspace == nullptr || bytes < needed) {
    fail(op, "workspace of " + std::to_string(bytes) + " bytes is smaller than the " + std::to_string(needed) +
                 " bytes it needs (query it with the operator's *_workspace_bytes)");
  }
  if (reinterpret_cast<std::uintptr_t>(workspace) % 256 != 0) {
    fail(op, "workspace must be 256-byte aligned (its sub-buffers are carved at 256-byte offsets)");
  }
}

}  // namespace pointrt::ops
