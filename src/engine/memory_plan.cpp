#include "engine/memory_plan.h"

#include <algorithm>
#include <numeric>

#include "ops/common/op_common.h"

namespace pointrt::engine {

MemoryPlan plan_memory(const Network& net, int max_batch, bool reuse) {
  const std::size_t nt = net.tensors.size();
  const int nl = static_cast<int>(net.layers.size());
  std::vector<int> first(nt, nl + 1), last(nt, -1);
  first[static_cast<std::size_t>(net.input)] = -1;
  // A parallel block is one step: everything it touches is live across the whole block.
  const auto spans = parallel_spans(net);
  for (int l = 0; l < nl; ++l) {
    const Layer& L = net.layers[static_cast<std::size_t>(l)];
    const int s0 = spans[static_cast<std::size_t>(l)].first, s1 = spans[static_cast<std::size_t>(l)].second;
    for (int id : L.outputs) {
      auto& f = first[static_cast<std::size_t>(id)];
      f = std::min(f, s0);
      last[static_cast<std::size_t>(id)] = std::max(last[static_cast<std::size_t>(id)], s1);
    }
    for (int id : L.inputs) {
      if (id >= 0) last[static_cast<std::size_t>(id)] = std::max(last[static_cast<std::size_t>(id)], s1);
    }
  }
  last[static_cast<std::size_t>(net.input)] = std::max(last[static_cast<std::size_t>(net.input)], 0);
  for (int id : net.outputs) last[static_cast<std::size_t>(id)] = nl;

  MemoryPlan plan;
  plan.offsets.assign(nt, -1);
  plan.bytes.assign(nt, 0);
  std::vector<std::size_t> order;
  for (std::size_t t = 0; t < nt; ++t) {
    if (last[t] < 0) continue;  // never used
    plan.bytes[t] = static_cast<std::int64_t>(ops::align_up(net.tensors[t].item_bytes() * static_cast<std::size_t>(max_batch)));
    if (plan.bytes[t] == 0) plan.bytes[t] = 256;
    plan.unshared_bytes += plan.bytes[t];
    order.push_back(t);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return plan.bytes[a] > plan.bytes[b]; });
  std::vector<std::size_t> placed;
  for (std::size_t t : order) {
    // candidate offsets: 0 and the end of every placed tensor that overlaps in time
    std::vector<std::pair<std::int64_t, std::int64_t>> busy;
    for (std::size_t p : placed) {
      const bool overlap = !reuse || !(last[p] < first[t] || last[t] < first[p]);
      if (overlap) busy.emplace_back(plan.offsets[p], plan.offsets[p] + plan.bytes[p]);
    }
    std::sort(busy.begin(), busy.end());
    std::int64_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + plan.bytes[t] <= b) break;
      offset = std::max(offset, e);
    }
    plan.offsets[t] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + plan.bytes[t]);
    placed.push_back(t);
  }
  return plan;
}

}  // namespace pointrt::engine
