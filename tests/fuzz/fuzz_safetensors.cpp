// libFuzzer target: parse_safetensors on arbitrary bytes. A pointrt::Error is the expected answer to bad input; any
// other exception, crash, sanitizer report or runaway allocation is a bug. A file that parses must also survive a
// round trip: serialize_safetensors of what was read parses back to the same names, dtypes, shapes, bytes and
// metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/safetensors.h"
#include "pointrt/error.h"

namespace {

bool same(const pointrt::engine::WeightFile& a, const pointrt::engine::WeightFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (auto ia = a.tensors.begin(), ib = b.tensors.begin(); ia != a.tensors.end(); ++ia, ++ib) {
    const pointrt::Tensor& x = ia->second;
    const pointrt::Tensor& y = ib->second;
    if (ia->first != ib->first || x.dtype() != y.dtype() || x.shape() != y.shape() || x.nbytes() != y.nbytes()) {
      return false;
    }
    if (x.nbytes() != 0 && std::memcmp(x.data(), y.data(), x.nbytes()) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pointrt::engine::WeightFile weights;
  try {
    weights = pointrt::engine::parse_safetensors(data, size, "fuzz");
  } catch (const pointrt::Error&) {
    return 0;
  }
  std::size_t total = 0;
  for (const auto& entry : weights.tensors) {
    if (entry.second.device() != pointrt::Device::Host || !entry.second.defined()) __builtin_trap();
    total += entry.second.nbytes();
  }
  if (total > size) __builtin_trap();
  // Outside the try: what parsed must serialize and parse back without any error.
  const std::string bytes = pointrt::engine::serialize_safetensors(weights.tensors, weights.metadata, "fuzz");
  const pointrt::engine::WeightFile again =
      pointrt::engine::parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "fuzz");
  if (!same(weights, again)) __builtin_trap();
  return 0;
}
