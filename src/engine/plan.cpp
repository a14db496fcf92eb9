#include "engine/plan.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <limits>

#include "core/file.h"
#include "ops/common/op_common.h"
#include "pointrt/error.h"
#include "pointrt/version.h"

namespace pointrt::engine {
namespace {

using json = nlohmann::json;
constexpr std::size_t kFixedHeader = 40;

std::uint32_t crc_of(const std::uint8_t* data, std::size_t size, std::uint32_t crc) {
  // zlib's crc32_z takes size_t lengths
  return static_cast<std::uint32_t>(crc32_z(crc, data, size));
}

template <typename T>
void put(std::string& out, std::size_t at, T value) {
  std::memcpy(&out[at], &value, sizeof value);
}
template <typename T>
T get(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

const char* dtype_key(DType d) { return dtype_name(d); }
DType parse_dtype(const std::string& s, const std::string& where) {
  for (DType d : {DType::F32, DType::F16, DType::I32, DType::I8}) {
    if (s == dtype_name(d)) return d;
  }
  fail(where, "unknown dtype '" + s + "'");
}

}  // namespace

const char* plan_target_name(PlanTarget target) { return target == PlanTarget::CUDA ? "cuda" : "cpu"; }

void finalize_plan(PlanData& data) {
  if (data.max_batch < 1 || data.max_batch > 1024) {
    fail(data.net.name, "max batch must be in [1, 1024], got " + std::to_string(data.max_batch));
  }
  validate_network(data.net);
  data.memory = plan_memory(data.net, data.max_batch, !data.keep_intermediates);
  if (data.pointrt_version.empty()) data.pointrt_version = version();
}

json network_to_json(const Network& net) {
  json j;
  j["name"] = net.name;
  j["input"] = net.input;
  j["outputs"] = net.outputs;
  j["model"] = net.model;
  json tensors = json::array();
  for (const auto& t : net.tensors) tensors.push_back({{"name", t.name}, {"dtype", dtype_key(t.dtype)}, {"shape", t.shape}});
  j["tensors"] = tensors;
  json layers = json::array();
  for (const auto& L : net.layers) {
    json dense = json::array();
    for (const auto& d : L.dense) dense.push_back({{"weight", d.weight}, {"bias", d.bias}, {"relu", d.relu}});
    layers.push_back({{"name", L.name}, {"kind", layer_kind_name(L.kind)}, {"group", L.group}, {"inputs", L.inputs},
                      {"outputs", L.outputs}, {"attrs", L.attrs}, {"dense", dense},
                      {"parallel", L.parallel}, {"lane", L.lane}});
  }
  j["layers"] = layers;
  return j;
}

std::string serialize_plan(const PlanData& data) {
  json h;
  h["pointrt_version"] = data.pointrt_version.empty() ? std::string(version()) : data.pointrt_version;
  h["target"] = plan_target_name(data.target);
  h["arch"] = data.arch;
  h["device_name"] = data.device_name;
  h["max_batch"] = data.max_batch;
  h["keep_intermediates"] = data.keep_intermediates;
  h["network"] = network_to_json(data.net);
  h["memory"] = {{"offsets", data.memory.offsets}, {"bytes", data.memory.bytes},
                 {"arena_bytes", data.memory.arena_bytes}, {"unshared_bytes", data.memory.unshared_bytes}};
  json weights = json::array();
  std::uint64_t blob = 0;
  for (const auto& w : data.net.weights) {
    if (w.value.device() != Device::Host) fail(data.net.name, "weight '" + w.name + "' is not on the host");
    weights.push_back({{"name", w.name}, {"dtype", dtype_key(w.value.dtype())}, {"shape", w.value.shape()},
                       {"offset", blob}, {"bytes", w.value.nbytes()}});
    blob += ops::align_up(w.value.nbytes());
  }
  h["weights"] = weights;
  const std::string header = h.dump();
  const std::size_t body_start = ops::align_up(kFixedHeader + header.size());
  std::string out(body_start + blob, '\0');
  std::memcpy(out.data(), kPlanMagic, 8);
  put<std::uint32_t>(out, 8, kPlanFormatVersion);
  put<std::uint64_t>(out, 16, header.size());
  put<std::uint64_t>(out, 24, blob);
  std::memcpy(&out[kFixedHeader], header.data(), header.size());
  std::size_t at = body_start;
  for (const auto& w : data.net.weights) {
    std::memcpy(&out[at], w.value.data(), w.value.nbytes());
    at += ops::align_up(w.value.nbytes());
  }
  auto* bytes = reinterpret_cast<const std::uint8_t*>(out.data());
  std::uint32_t crc = crc_of(bytes + kFixedHeader, header.size(), 0);
  crc = crc_of(bytes + body_start, blob, crc);
  put<std::uint32_t>(out, 32, crc);
  return out;
}

PlanData parse_plan(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  if (size < kFixedHeader) fail(name, "not a pointrt plan: only " + std::to_string(size) + " bytes");
  if (std::memcmp(bytes, kPlanMagic, 8) != 0) fail(name, "not a pointrt plan (no PTRTPLAN magic at the start)");
  const auto fmt = get<std::uint32_t>(bytes + 8);
  if (fmt > kPlanFormatVersion) {
    fail(name, "plan format version " + std::to_string(fmt) + " is newer than this pointrt (" + version() +
                   ") reads (version " + std::to_string(kPlanFormatVersion) + "); rebuild the plan with this pointrt");
  }
  if (fmt == 0) fail(name, "plan format version 0 is invalid");
  const auto header_bytes = get<std::uint64_t>(bytes + 16);
  const auto blob_bytes = get<std::uint64_t>(bytes + 24);
  if (header_bytes == 0 || header_bytes > kPlanMaxHeaderBytes) {
    fail(name, "plan header size " + std::to_string(header_bytes) + " is out of range (corrupt plan)");
  }
  const std::uint64_t body_start = ops::align_up(kFixedHeader + header_bytes);
  if (blob_bytes > size || body_start > size || body_start + blob_bytes != size) {
    fail(name, "plan is truncated or has trailing bytes: header says " + std::to_string(body_start + blob_bytes) +
                   " bytes, the file has " + std::to_string(size));
  }
  if (get<std::uint32_t>(bytes + 12) != 0 || get<std::uint32_t>(bytes + 36) != 0) {
    fail(name, "reserved header fields are not zero (corrupt plan)");
  }
  for (std::uint64_t i = kFixedHeader + header_bytes; i < body_start; ++i) {
    if (bytes[i] != 0) fail(name, "padding before the weights is not zero (corrupt plan)");
  }
  std::uint32_t crc = crc_of(bytes + kFixedHeader, header_bytes, 0);
  crc = crc_of(bytes + body_start, blob_bytes, crc);
  if (crc != get<std::uint32_t>(bytes + 32)) fail(name, "plan checksum mismatch: the file is corrupt");

  json h;
  try {
    h = json::parse(bytes + kFixedHeader, bytes + kFixedHeader + header_bytes);
  } catch (const json::exception& e) {
    fail(name, std::string("plan header is not valid JSON: ") + e.what());
  }
  PlanData d;
  try {
    d.pointrt_version = h.at("pointrt_version").get<std::string>();
    if (d.pointrt_version != version()) {
      fail(name, "plan was built by pointrt " + d.pointrt_version + ", this is pointrt " + version() +
                     "; rebuild it with `pointrt build`");
    }
    const std::string target = h.at("target").get<std::string>();
    if (target == "cpu") d.target = PlanTarget::CPU;
    else if (target == "cuda") d.target = PlanTarget::CUDA;
    else fail(name, "unknown plan target '" + target + "'");
    d.arch = h.at("arch").get<std::string>();
    d.device_name = h.value("device_name", std::string());
    d.max_batch = h.at("max_batch").get<int>();
    d.keep_intermediates = h.at("keep_intermediates").get<bool>();
    const json& n = h.at("network");
    Network& net = d.net;
    net.name = n.at("name").get<std::string>();
    net.input = n.at("input").get<int>();
    net.outputs = n.at("outputs").get<std::vector<int>>();
    net.model = n.at("model");
    for (const auto& t : n.at("tensors")) {
      net.tensors.push_back({t.at("name").get<std::string>(), parse_dtype(t.at("dtype").get<std::string>(), name),
                             t.at("shape").get<Shape>()});
    }
    for (const auto& l : n.at("layers")) {
      Layer L;
      L.name = l.at("name").get<std::string>();
      L.kind = parse_layer_kind(l.at("kind").get<std::string>());
      L.group = l.at("group").get<std::string>();
      L.inputs = l.at("inputs").get<std::vector<int>>();
      L.outputs = l.at("outputs").get<std::vector<int>>();
      L.attrs = l.at("attrs");
      for (const auto& dj : l.at("dense")) L.dense.push_back({dj.at("weight").get<int>(), dj.at("bias").get<int>(), dj.at("relu").get<bool>()});
      L.parallel = l.at("parallel").get<int>();
      L.lane = l.at("lane").get<int>();
      net.layers.push_back(std::move(L));
    }
    for (const auto& w : h.at("weights")) {
      const std::string wname = w.at("name").get<std::string>();
      const DType dt = parse_dtype(w.at("dtype").get<std::string>(), name);
      const Shape shape = w.at("shape").get<Shape>();
      const auto offset = w.at("offset").get<std::uint64_t>();
      const auto nbytes = w.at("bytes").get<std::uint64_t>();
      std::uint64_t numel = 1;
      for (auto dim : shape) {
        if (dim < 0 || dim > (std::int64_t{1} << 31)) fail(name, "weight '" + wname + "' has a bad shape");
        numel *= static_cast<std::uint64_t>(dim);
        if (numel > blob_bytes) fail(name, "weight '" + wname + "' is larger than the blob");
      }
      if (numel * dtype_size(dt) != nbytes || offset % 256 != 0 || offset > blob_bytes || nbytes > blob_bytes - offset) {
        fail(name, "weight '" + wname + "' lies outside the plan's blob or has the wrong size");
      }
      Tensor t = Tensor::empty(shape, dt);
      std::memcpy(t.data(), bytes + body_start + offset, nbytes);
      net.weights.push_back({wname, t});
    }
    const json& m = h.at("memory");
    d.memory.offsets = m.at("offsets").get<std::vector<std::int64_t>>();
    d.memory.bytes = m.at("bytes").get<std::vector<std::int64_t>>();
    d.memory.arena_bytes = m.at("arena_bytes").get<std::int64_t>();
    d.memory.unshared_bytes = m.at("unshared_bytes").get<std::int64_t>();
  } catch (const json::exception& e) {
    fail(name, std::string("malformed plan header: ") + e.what());
  }
  try {
    validate_network(d.net);
  } catch (const Error& e) {
    fail(name, std::string("invalid network in plan: ") + e.what());
  }
  // The memory plan must be the one this build computes (it is derived data; a mismatch means tampering).
  const MemoryPlan expect = plan_memory(d.net, d.max_batch, !d.keep_intermediates);
  if (d.max_batch < 1 || expect.offsets != d.memory.offsets || expect.bytes != d.memory.bytes ||
      expect.arena_bytes != d.memory.arena_bytes) {
    fail(name, "plan's memory layout does not match its network (corrupt plan)");
  }
  return d;
}

void write_plan(const std::string& path, const PlanData& data) {
  const std::string bytes = serialize_plan(data);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(path, "cannot open for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) fail(path, "write failed");
}

PlanData read_plan(const std::string& path) {
  const std::vector<std::uint8_t> bytes = core::read_file_bytes(path);
  return parse_plan(bytes.data(), bytes.size(), path);
}

}  // namespace pointrt::engine
