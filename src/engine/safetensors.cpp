#include "engine/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/file.h"
#include "pointrt/error.h"

// Tensor data is copied between the file and memory byte for byte: the host must be little-endian like the format.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pointrt's safetensors reader assumes a little-endian host"
#endif

namespace pointrt::engine {

namespace {

using json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeCode {
  const char* code;
  DType dtype;
};
constexpr DTypeCode kDTypeCodes[] = {{"F32", DType::F32}, {"F16", DType::F16}, {"I32", DType::I32}, {"I8", DType::I8}};

const char* dtype_code(DType dtype) {
  for (const DTypeCode& c : kDTypeCodes) {
    if (c.dtype == dtype) return c.code;
  }
  return "?";
}

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

std::string offsets_string(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Tracks the keys of every open JSON object while nlohmann parses, so that duplicate keys (which nlohmann would
// silently resolve to the last value) are reported instead. Only the first duplicate is remembered.
class DuplicateKeyCheck {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        levels_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!levels_.empty()) levels_.pop_back();
        break;
      case json::parse_event_t::key: {
        if (levels_.empty() || !parsed.is_string()) break;
        const std::string& key = parsed.get_ref<const std::string&>();
        Level& level = levels_.back();
        if (!level.keys.insert(key).second && message_.empty()) {
          if (levels_.size() == 1) {
            message_ = "duplicate entry " + in_quotes(key) + " in the header";
          } else {
            message_ = "duplicate key " + in_quotes(key) + " inside the header entry " + in_quotes(levels_.front().last_key);
          }
        }
        level.last_key = key;
        break;
      }
      default:
        break;
    }
    return true;  // keep everything
  }

  const std::string& message() const { return message_; }

 private:
  struct Level {
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Level> levels_;
  std::string message_;
};

// A JSON integer >= 0 (an unsigned or a non-negative signed integer), or false.
bool get_non_negative_integer(const json& value, std::uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<std::uint64_t>();
    return true;
  }
  if (value.is_number_integer()) {
    const std::int64_t v = value.get<std::int64_t>();
    if (v < 0) return false;
    *out = static_cast<std::uint64_t>(v);
    return true;
  }
  return false;
}

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

Entry parse_entry(const std::string& file, const std::string& tensor, const json& value, std::uint64_t buffer_size) {
  const std::string subject = file + ": tensor " + in_quotes(tensor);
  if (!value.is_object()) fail(subject, "header entry is not a JSON object");
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") {
      fail(subject, "unknown key " + in_quotes(it.key()) + " (a tensor entry has exactly dtype, shape and data_offsets)");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) fail(subject, std::string("missing '") + key + "'");
  }

  Entry entry;
  entry.name = tensor;

  const json& dtype = value["dtype"];
  if (!dtype.is_string()) fail(subject, "dtype is not a string");
  const std::string& code = dtype.get_ref<const std::string&>();
  bool known = false;
  for (const DTypeCode& c : kDTypeCodes) {
    if (code == c.code) {
      entry.dtype = c.dtype;
      known = true;
    }
  }
  if (!known) {
    fail(file, "unsupported dtype " + in_quotes(code) + " of tensor " + in_quotes(tensor) + " (pointrt reads F32, F16, I32, I8)");
  }

  const json& shape = value["shape"];
  if (!shape.is_array()) fail(subject, "shape is not a JSON array");
  // The same running-product rule as Tensor::empty, so that the tensor allocated below never fails on its size.
  const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(dtype_size(entry.dtype));
  std::int64_t numel = 1;
  entry.shape.reserve(std::min<std::size_t>(shape.size(), 64));
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::uint64_t d = 0;
    if (!get_non_negative_integer(shape[i], &d)) {
      fail(subject, "shape dimension " + std::to_string(i) + " is not a non-negative integer");
    }
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(subject, "shape dimension " + std::to_string(i) + " (" + std::to_string(d) + ") is too large");
    }
    const auto dim = static_cast<std::int64_t>(d);
    if (dim != 0 && numel > limit / dim) fail(subject, "element count of the shape overflows");
    numel *= dim;
    entry.shape.push_back(dim);
  }

  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !get_non_negative_integer(offsets[0], &entry.begin) ||
      !get_non_negative_integer(offsets[1], &entry.end)) {
    fail(subject, "data_offsets is not [begin, end] with two non-negative integers");
  }
  if (entry.begin > entry.end) {
    fail(subject, "data_offsets " + offsets_string(entry.begin, entry.end) + " have begin > end");
  }
  const std::uint64_t nbytes = static_cast<std::uint64_t>(numel) * dtype_size(entry.dtype);  // <= INT64_MAX
  if (entry.end - entry.begin != nbytes) {
    fail(subject, std::string(dtype_name(entry.dtype)) + shape_string(entry.shape) + " needs " + std::to_string(nbytes) +
                      " bytes but data_offsets " + offsets_string(entry.begin, entry.end) + " hold " +
                      std::to_string(entry.end - entry.begin));
  }
  if (entry.end > buffer_size) {
    fail(subject, "data_offsets " + offsets_string(entry.begin, entry.end) + " lie outside the " +
                      std::to_string(buffer_size) + "-byte data buffer");
  }
  return entry;
}

// Returns the JSON text of `s` (quoted, escaped); fails when `s` is not valid UTF-8.
std::string json_string(const std::string& s, const std::string& subject, const std::string& what) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    fail(subject, what + " is not valid UTF-8");
  }
}

}  // namespace

WeightFile parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size < 8) {
    fail(name, "file is " + std::to_string(size) + " bytes, too short for a safetensors file (8-byte header length)");
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > kSafetensorsMaxHeaderBytes) {
    fail(name, "header length " + std::to_string(header_len) + " bytes exceeds the limit of " +
                   std::to_string(kSafetensorsMaxHeaderBytes) + " bytes (100 MiB)");
  }
  if (header_len > size - 8) {
    fail(name, "header length " + std::to_string(header_len) + " bytes runs past the end of the " +
                   std::to_string(size) + "-byte file");
  }
  const std::uint8_t* header_begin = data + 8;
  const std::uint8_t* header_end = header_begin + header_len;
  const std::uint8_t* buffer = header_end;
  const std::uint64_t buffer_size = size - 8 - header_len;

  // nlohmann's lexer takes a NUL byte for the end of its input and would ignore whatever follows it.
  if (const void* nul = std::memchr(header_begin, 0, static_cast<std::size_t>(header_len))) {
    fail(name, "header is not valid JSON: NUL byte at header offset " +
                   std::to_string(static_cast<const std::uint8_t*>(nul) - header_begin));
  }
  json header;
  DuplicateKeyCheck duplicates;
  try {
    header = json::parse(header_begin, header_end, std::ref(duplicates));
  } catch (const json::exception& e) {
    fail(name, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(name, "header is not a JSON object");
  if (!duplicates.message().empty()) fail(name, duplicates.message());

  WeightFile result;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it.value().is_object()) fail(name, "__metadata__ is not a JSON object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) fail(name, "__metadata__ value of " + in_quotes(m.key()) + " is not a string");
        result.metadata.emplace(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    entries.push_back(parse_entry(name, it.key(), it.value(), buffer_size));
  }

  // The tensors, in buffer order, must tile the data buffer exactly.
  std::vector<const Entry*> order;
  order.reserve(entries.size());
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    if (a->begin != b->begin) return a->begin < b->begin;
    if (a->end != b->end) return a->end < b->end;
    return a->name < b->name;
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : order) {
    if (e->begin < covered) {
      fail(name, "tensors " + in_quotes(previous->name) + " " + offsets_string(previous->begin, previous->end) + " and " +
                     in_quotes(e->name) + " " + offsets_string(e->begin, e->end) + " overlap in the data buffer");
    }
    if (e->begin > covered) {
      fail(name, "gap in the data buffer: bytes [" + std::to_string(covered) + ", " + std::to_string(e->begin) +
                     ") before tensor " + in_quotes(e->name) + " belong to no tensor");
    }
    covered = e->end;
    previous = e;
  }
  if (order.empty() && buffer_size != 0) {
    fail(name, "the header lists no tensors but the data buffer holds " + std::to_string(buffer_size) + " bytes");
  }
  if (covered != buffer_size) {
    fail(name, std::to_string(buffer_size - covered) + " trailing bytes after the last tensor (tensors end at byte " +
                   std::to_string(covered) + " of the " + std::to_string(buffer_size) + "-byte data buffer)");
  }

  // Everything is checked against the file size: allocate and copy.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::Host);
    if (t.nbytes() != 0) std::memcpy(t.data(), buffer + e.begin, t.nbytes());
    result.tensors.emplace(e.name, std::move(t));
  }
  return result;
}

WeightFile read_safetensors(const std::string& path) {
  const std::vector<std::uint8_t> bytes = core::read_file_bytes(path, /*allow_empty=*/true);
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata, const std::string& name) {
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [key, value] : metadata) {
      if (!first) header += ",";
      first = false;
      header += json_string(key, name, "metadata key") + ":" + json_string(value, name, "metadata value of " + in_quotes(key));
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const auto& [tensor_name, t] : tensors) {
    const std::string subject = name + ": tensor " + in_quotes(tensor_name);
    if (tensor_name == kMetadataKey) fail(name, "a tensor cannot be called '__metadata__'");
    if (!t.defined()) fail(subject, "is undefined");
    if (t.device() != Device::Host) fail(subject, "is on the " + std::string(device_name(t.device())) + " device; write host tensors");
    if (!first) header += ",";
    first = false;
    header += json_string(tensor_name, name, "tensor name " + in_quotes(tensor_name));
    header += ":{\"dtype\":\"" + std::string(dtype_code(t.dtype())) + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape().size(); ++i) {
      if (i != 0) header += ",";
      header += std::to_string(t.shape()[i]);
    }
    const std::uint64_t end = offset + t.nbytes();
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  if (header.size() > kSafetensorsMaxHeaderBytes) fail(name, "header would exceed 100 MiB");

  std::string out;
  out.reserve(8 + header.size() + offset);
  std::uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>(len & 0xffu));
    len >>= 8;
  }
  out += header;
  for (const auto& entry : tensors) {
    const Tensor& t = entry.second;
    if (t.nbytes() != 0) out.append(static_cast<const char*>(t.data()), t.nbytes());
  }
  return out;
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string bytes = serialize_safetensors(tensors, metadata, path);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, std::string("cannot open the file for writing: ") + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail(path, "could not write the whole file");
}

const Tensor& require_tensor(const WeightFile& weights, const std::string& name, DType dtype, const Shape& shape,
                             const std::string& file) {
  const auto it = weights.tensors.find(name);
  if (it == weights.tensors.end()) fail(file, "missing tensor " + in_quotes(name));
  const Tensor& t = it->second;
  if (t.dtype() != dtype || t.shape() != shape) {
    fail(file, "tensor " + in_quotes(name) + ": expected " + dtype_name(dtype) + shape_string(shape) + ", got " +
                   dtype_name(t.dtype()) + shape_string(t.shape()));
  }
  return t;
}

std::vector<std::string> unused_tensors(const WeightFile& weights, const std::set<std::string>& used) {
  std::vector<std::string> names;
  for (const auto& entry : weights.tensors) {
    if (used.count(entry.first) == 0) names.push_back(entry.first);
  }
  return names;
}

}  // namespace pointrt::engine
