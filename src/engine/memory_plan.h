// Memory planning: one arena for every activation tensor of a network at its maximum batch size.
//
// Each tensor lives from the layer that first writes it to the last layer that reads it (the network input from the
// start, the outputs to the end). Tensors whose lifetimes overlap get disjoint byte ranges; others may share. Offsets
// are 256-byte aligned. The assignment is greedy (largest first, lowest fitting offset) and deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/network.h"

namespace pointrt::engine {

struct MemoryPlan {
  std::vector<std::int64_t> offsets;  // per tensor id: byte offset in the arena at max_batch
  std::vector<std::int64_t> bytes;    // per tensor id: bytes at max_batch (256-byte aligned)
  std::int64_t arena_bytes = 0;       // arena size (the activation peak)
  std::int64_t unshared_bytes = 0;    // what the arena would take without any reuse
};

// `reuse` = false gives every tensor its own range (used to keep all intermediates readable for parity checks).
MemoryPlan plan_memory(const Network& net, int max_batch, bool reuse);

}  // namespace pointrt::engine
