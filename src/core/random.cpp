#include "core/random.h"

#include <limits>
#include <numeric>

#include "pointrt/error.h"

namespace pointrt::core {

std::uint64_t Random::below(std::uint64_t bound) {
  // Reject the top partial block of the 64-bit range so that every residue is equally likely.
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t x = engine_();
  while (x >= limit) x = engine_();
  return x % bound;
}

std::vector<std::uint32_t> Random::sample_without_replacement(std::uint32_t n, std::uint32_t count) {
  if (count > n) fail("Random", "cannot draw " + std::to_string(count) + " distinct values from " + std::to_string(n));
  // Partial Fisher–Yates over the identity permutation.
  std::vector<std::uint32_t> pool(n);
  std::iota(pool.begin(), pool.end(), 0u);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint32_t j = i + static_cast<std::uint32_t>(below(n - i));
    std::swap(pool[i], pool[j]);
  }
  pool.resize(count);
  return pool;
}

}  // namespace pointrt::core
