// Deterministic random numbers for preprocessing and tests. std::uniform_int_distribution and std::shuffle are
// implementation-defined, so the same seed could give different points with another standard library; these
// helpers are fully specified (std::mt19937_64 is) and give the same sequence everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace pointrt::core {

class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  // Uniform integer in [0, bound) (bound > 0), unbiased (rejection sampling).
  std::uint64_t below(std::uint64_t bound);
  // Fisher–Yates shuffle.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(below(i));
      std::swap(v[i - 1], v[j]);
    }
  }
  // `count` distinct values from [0, n) (count <= n), in random order.
  std::vector<std::uint32_t> sample_without_replacement(std::uint32_t n, std::uint32_t count);

 private:
  std::mt19937_64 engine_;
};

}  // namespace pointrt::core
