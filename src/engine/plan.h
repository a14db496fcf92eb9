// Plans: a built network with its memory plan, serialised as a `.ptplan` file.
//
// File layout (little-endian):
//   0  char[8] magic "PTRTPLAN"
//   8  u32     format version (kPlanFormatVersion)
//  12  u32     reserved, 0
//  16  u64     header bytes H (<= 64 MiB)
//  24  u64     blob bytes D
//  32  u32     CRC-32 (zlib) of the header and the blob
//  36  u32     reserved, 0
//  40  H bytes JSON header: pointrt version, target, GPU architecture, max batch, the network (tensors, layers,
//              attributes, weight table with blob offsets), the memory plan, the model facts
//      zero padding to a multiple of 256
//      D bytes blob: the weights, each 256-byte aligned
// and nothing after it. Reading checks every field and refuses anything else with an Error naming the file: not a
// plan (magic), a newer or unknown format version, built by another pointrt version, truncated or oversized,
// checksum mismatch (corruption), malformed header, weights outside the blob or of the wrong size, an invalid
// network. Where the plan may run (target, GPU architecture) is checked when an engine is created from it.
#pragma once

#include <cstdint>
#include <string>

#include "engine/memory_plan.h"
#include "engine/network.h"

namespace pointrt::engine {

inline constexpr char kPlanMagic[8] = {'P', 'T', 'R', 'T', 'P', 'L', 'A', 'N'};
inline constexpr std::uint32_t kPlanFormatVersion = 1;
inline constexpr std::uint64_t kPlanMaxHeaderBytes = std::uint64_t{64} << 20;

enum class PlanTarget { CPU, CUDA };
const char* plan_target_name(PlanTarget target);  // "cpu", "cuda"

struct PlanData {
  Network net;
  PlanTarget target = PlanTarget::CPU;
  std::string arch;             // "sm_90" for CUDA plans (the GPU it was built on), "" for CPU plans
  std::string device_name;      // the GPU it was built on, for messages
  int max_batch = 1;
  bool keep_intermediates = false;  // no arena reuse: every tensor stays readable after a run
  MemoryPlan memory;
  std::string pointrt_version;  // of the build that wrote it
};

// Validates `data.net` and fills `data.memory` (call after setting max_batch and keep_intermediates).
void finalize_plan(PlanData& data);

std::string serialize_plan(const PlanData& data);
PlanData parse_plan(const std::uint8_t* bytes, std::size_t size, const std::string& name);
void write_plan(const std::string& path, const PlanData& data);
PlanData read_plan(const std::string& path);

// The JSON form of the network without weight values (used by the header and by `pointrt inspect`).
nlohmann::json network_to_json(const Network& net);

}  // namespace pointrt::engine
