// Network IR validation and the memory planner.
#include <gtest/gtest.h>

#include "engine/memory_plan.h"
#include "engine/network.h"
#include "engine/tiny_network.h"
#include "support/test_data.h"

namespace {

using pointrt::DType;
using pointrt::engine::LayerKind;
using pointrt::engine::Network;
using pointrt::testing::expect_error;
using pointrt::testing::tiny_network;

TEST(Network, TinyNetworkIsValid) { EXPECT_NO_THROW(pointrt::engine::validate_network(tiny_network())); }

TEST(Network, LayerKindNamesRoundTrip) {
  for (LayerKind k : {LayerKind::Split, LayerKind::Havs, LayerKind::Fps, LayerKind::TopK, LayerKind::Gather,
                      LayerKind::BallQuery, LayerKind::GridBallQuery, LayerKind::SaMlp, LayerKind::Mlp, LayerKind::Vote,
                      LayerKind::BoxDecode, LayerKind::Nms}) {
    EXPECT_EQ(pointrt::engine::parse_layer_kind(pointrt::engine::layer_kind_name(k)), k);
  }
  expect_error([] { pointrt::engine::parse_layer_kind("conv3d"); }, {"unknown kind 'conv3d'"});
}

TEST(Network, ErrorsNameTheLayerAndReason) {
  {
    Network net = tiny_network();
    net.layers[1].inputs = {net.tensor_id("reg")};  // read before written
    expect_error([&] { pointrt::engine::validate_network(net); }, {"tiny", "layer 'cls'", "reads tensor 'reg' before"});
  }
  {
    Network net = tiny_network();
    net.weights[static_cast<std::size_t>(net.layers[1].dense[1].weight)].value =
        pointrt::testing::random_tensor({2, 7}, 1, 1.0f);  // width mismatch 8 -> 7
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'cls' (mlp)", "cls1.weight", "expected f32[*, 8]"});
  }
  {
    Network net = tiny_network();
    net.tensors[static_cast<std::size_t>(net.tensor_id("reg"))].shape = {64, 9};
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'reg' (mlp)", "out 'reg'", "expected f32[64, 8]"});
  }
  {
    Network net = tiny_network();
    net.layers[4].attrs.erase("max_out");
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'nms' (nms)", "attribute 'max_out'"});
  }
  {
    Network net = tiny_network();
    net.layers[3].attrs["mean_size"] = {{3.9, 1.6, 1.56}};
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'decode'", "one entry per class (2)"});
  }
  {
    Network net = tiny_network();
    net.layers.push_back(net.layers[1]);
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'cls' defined twice"});
  }
  {
    Network net = tiny_network();
    expect_error([&] { net.add_tensor("reg", DType::F32, {1}); }, {"tensor 'reg' defined twice"});
  }
}

Network tiny_with_parallel_heads(std::int64_t n = 64, int max_out = 16) {
  Network net = tiny_network(n, max_out);
  net.layers[1].parallel = 0;  // cls
  net.layers[1].lane = 0;
  net.layers[2].parallel = 0;  // reg
  net.layers[2].lane = 1;
  return net;
}

TEST(Network, ParallelBlocksAreChecked) {
  EXPECT_NO_THROW(pointrt::engine::validate_network(tiny_with_parallel_heads()));
  const auto spans = pointrt::engine::parallel_spans(tiny_with_parallel_heads());
  EXPECT_EQ(spans[1], std::make_pair(1, 2));
  EXPECT_EQ(spans[2], std::make_pair(1, 2));
  EXPECT_EQ(spans[3], std::make_pair(3, 3));
  {
    Network net = tiny_with_parallel_heads();
    net.layers[2].inputs = {net.tensor_id("cls")};  // another lane's output
    net.weights[static_cast<std::size_t>(net.layers[2].dense[0].weight)].value = pointrt::testing::random_tensor({8, 2}, 1, 1.0f);
    expect_error([&] { pointrt::engine::validate_network(net); },
                 {"layer 'reg'", "reads tensor 'cls' written by layer 'cls' of another lane"});
  }
  {
    Network net = tiny_with_parallel_heads();
    net.layers[2].lane = pointrt::engine::kMaxLanes;
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'reg'", "lane 4 out of range"});
  }
  {
    Network net = tiny_with_parallel_heads();
    net.layers[4].parallel = 0;  // nms joins block 0 after decode broke it
    expect_error([&] { pointrt::engine::validate_network(net); }, {"layer 'nms'", "parallel block 0 is not contiguous"});
  }
}

// Tensors whose lifetimes overlap never share bytes (a parallel block counts as one step); every offset is aligned;
// reuse never makes the arena larger.
TEST(MemoryPlan, LiveTensorsNeverOverlap) {
  for (const Network& net : {tiny_network(1000, 64), tiny_with_parallel_heads(1000, 64)})
  for (int batch : {1, 3, 8}) {
    const auto plan = pointrt::engine::plan_memory(net, batch, true);
    const auto flat = pointrt::engine::plan_memory(net, batch, false);
    EXPECT_LE(plan.arena_bytes, flat.arena_bytes);
    EXPECT_EQ(flat.arena_bytes, flat.unshared_bytes);
    const int nl = static_cast<int>(net.layers.size());
    std::vector<int> first(net.tensors.size(), nl + 1), last(net.tensors.size(), -1);
    first[static_cast<std::size_t>(net.input)] = -1;
    const auto spans = pointrt::engine::parallel_spans(net);
    for (int l = 0; l < nl; ++l) {
      const int s0 = spans[static_cast<std::size_t>(l)].first, s1 = spans[static_cast<std::size_t>(l)].second;
      for (int id : net.layers[static_cast<std::size_t>(l)].outputs) {
        first[static_cast<std::size_t>(id)] = std::min(first[static_cast<std::size_t>(id)], s0);
        last[static_cast<std::size_t>(id)] = std::max(last[static_cast<std::size_t>(id)], s1);
      }
      for (int id : net.layers[static_cast<std::size_t>(l)].inputs) last[static_cast<std::size_t>(id)] = std::max(last[static_cast<std::size_t>(id)], s1);
    }
    for (int id : net.outputs) last[static_cast<std::size_t>(id)] = nl;
    for (std::size_t a = 0; a < net.tensors.size(); ++a) {
      EXPECT_EQ(plan.offsets[a] % 256, 0);
      EXPECT_GE(plan.bytes[a], static_cast<std::int64_t>(net.tensors[a].item_bytes()) * batch);
      EXPECT_LE(plan.offsets[a] + plan.bytes[a], plan.arena_bytes);
      for (std::size_t b = a + 1; b < net.tensors.size(); ++b) {
        const bool live_together = !(last[a] < first[b] || last[b] < first[a]);
        const bool disjoint = plan.offsets[a] + plan.bytes[a] <= plan.offsets[b] || plan.offsets[b] + plan.bytes[b] <= plan.offsets[a];
        if (live_together) {
          EXPECT_TRUE(disjoint) << net.tensors[a].name << " / " << net.tensors[b].name;
        }
        EXPECT_TRUE(flat.offsets[a] + flat.bytes[a] <= flat.offsets[b] || flat.offsets[b] + flat.bytes[b] <= flat.offsets[a]);
      }
    }
  }
}

TEST(MemoryPlan, ReuseShrinksTheArena) {
  // The points die after the split, so later tensors reuse their bytes.
  Network net = tiny_network(4096, 16);
  const auto plan = pointrt::engine::plan_memory(net, 1, true);
  EXPECT_LT(plan.arena_bytes, plan.unshared_bytes);
}

}  // namespace
