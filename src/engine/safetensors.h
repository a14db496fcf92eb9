// safetensors reader and writer for model weights.
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
//   {"__metadata__": {"key": "value", ...}, "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...}
// (possibly padded with trailing spaces), then the data buffer. Offsets are relative to the start of the buffer, end
// exclusive; tensor data is little-endian, row-major and contiguous.
//
// Reading is strict (the design's "safetensors" habit): the header length is capped at 100 MiB and must fit in the
// file; the header is a JSON object without duplicate keys at any level; "__metadata__" is optional and maps strings
// to strings; every other entry has exactly the keys dtype (F32, F16, I32 or I8), shape (non-negative integers,
// element count overflow-checked) and data_offsets ([begin, end], begin <= end, end - begin == numel * dtype size);
// the tensors lie inside the buffer, do not overlap and cover it without gaps up to the end of the file. Any
// violation is a pointrt::Error naming the file and, where there is one, the tensor. Nothing is allocated from a
// count in the file before that count has been checked against the file size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pointrt/tensor.h"

namespace pointrt::engine {

struct WeightFile {
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
  std::map<std::string, Tensor> tensors;        // owning host tensors, by name
};

// Header lengths above this are refused (the reference implementation uses the same cap).
constexpr std::uint64_t kSafetensorsMaxHeaderBytes = std::uint64_t{100} << 20;

// Reads and validates a whole .safetensors file.
WeightFile read_safetensors(const std::string& path);
// The same for bytes in memory; `name` (a file name) is the subject of error messages. The tensors are copies.
WeightFile parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& name);

// The file contents write_safetensors writes: tensors in name order, contiguous, no metadata entry when `metadata`
// is empty, header padded with spaces so that the data buffer starts at a multiple of 8 bytes. Tensors must be
// defined host tensors; no tensor may be called "__metadata__"; names and metadata must be valid UTF-8. `name` is
// the subject of error messages.
std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata, const std::string& name);
// Writes serialize_safetensors(...) to `path` (replacing it).
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The tensor `name` of `weights`, checked to have `dtype` and `shape`. Errors name `file`:
//   "<file>: missing tensor '<name>'"
//   "<file>: tensor '<name>': expected f32[256, 131], got f32[256, 130]"
const Tensor& require_tensor(const WeightFile& weights, const std::string& name, DType dtype, const Shape& shape,
                             const std::string& file);
// Names of the tensors of `weights` not in `used`, sorted (for "unexpected weight" errors).
std::vector<std::string> unused_tensors(const WeightFile& weights, const std::set<std::string>& used);

}  // namespace pointrt::engine
