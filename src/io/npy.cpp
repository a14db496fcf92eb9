// NumPy .npy reader: a 2-D float32/float64 array [N, F], F >= 4 (x, y, z, intensity, then further features).
//
// Layout (format versions 1.0, 2.0, 3.0): magic "\x93NUMPY", major and minor version bytes, header length
// (uint16 little-endian for v1, uint32 for v2/v3), then an ASCII Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (20285, 4), } padded with spaces, then the raw data.
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io/readers.h"
#include "pointrt/error.h"

namespace pointrt::io {

namespace {

constexpr std::size_t kMaxHeaderBytes = 1 << 16;  // numpy itself writes a few hundred bytes at most

// The text after `'key':` (skipping spaces), or fail when the key is absent.
std::size_t find_value(const std::string& header, const std::string& key, const std::string& name) {
  std::size_t pos = header.find("'" + key + "'");
  if (pos == std::string::npos) pos = header.find("\"" + key + "\"");
  if (pos == std::string::npos) fail(name, "malformed NPY header: no '" + key + "' entry in " + header);
  pos = header.find(':', pos);
  if (pos == std::string::npos) fail(name, "malformed NPY header: '" + key + "' has no value");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  return pos;
}

std::string parse_descr(const std::string& header, const std::string& name) {
  std::size_t pos = find_value(header, "descr", name);
  if (pos >= header.size() || (header[pos] != '\'' && header[pos] != '"')) {
    fail(name, "unsupported NPY dtype: only plain float32 or float64 arrays are read, not structured dtypes");
  }
  const char quote = header[pos];
  const std::size_t end = header.find(quote, pos + 1);
  if (end == std::string::npos) fail(name, "malformed NPY header: unterminated 'descr'");
  return header.substr(pos + 1, end - pos - 1);
}

bool parse_fortran_order(const std::string& header, const std::string& name) {
  const std::size_t pos = find_value(header, "fortran_order", name);
  if (header.compare(pos, 4, "True") == 0) return true;
  if (header.compare(pos, 5, "False") == 0) return false;
  fail(name, "malformed NPY header: 'fortran_order' is neither True nor False");
}

std::vector<std::uint64_t> parse_shape(const std::string& header, const std::string& name) {
  std::size_t pos = find_value(header, "shape", name);
  if (pos >= header.size() || header[pos] != '(') fail(name, "malformed NPY header: 'shape' is not a tuple");
  const std::size_t end = header.find(')', pos);
  if (end == std::string::npos) fail(name, "malformed NPY header: unterminated 'shape'");
  std::vector<std::uint64_t> dims;
  std::size_t i = pos + 1;
  while (i < end) {
    while (i < end && (header[i] == ' ' || header[i] == ',')) ++i;
    if (i >= end) break;
    if (header[i] < '0' || header[i] > '9') fail(name, "malformed NPY header: bad 'shape' " + header.substr(pos, end - pos + 1));
    std::uint64_t v = 0;
    while (i < end && header[i] >= '0' && header[i] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(header[i] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail(name, "NPY shape dimension overflows");
      v = v * 10 + digit;
      ++i;
    }
    // numpy writes Python ints; tolerate a trailing 'L' from Python 2 files.
    if (i < end && header[i] == 'L') ++i;
    dims.push_back(v);
  }
  return dims;
}

template <typename T>
T load_le(const std::uint8_t* p, bool swap) {
  std::uint8_t b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (swap) {
    for (std::size_t k = 0; k < sizeof(T) / 2; ++k) std::swap(b[k], b[sizeof(T) - 1 - k]);
  }
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

}  // namespace

PointCloud parse_npy(const std::uint8_t* data, std::size_t size, const std::string& name) {
  static const char kMagic[] = "\x93NUMPY";
  if (size < 10 || std::memcmp(data, kMagic, 6) != 0) fail(name, "not an NPY file (missing the \\x93NUMPY magic)");
  const unsigned major = data[6];
  std::size_t header_len = 0;
  std::size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<std::size_t>(data[8]) | (static_cast<std::size_t>(data[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail(name, "truncated NPY header");
    header_len = static_cast<std::size_t>(data[8]) | (static_cast<std::size_t>(data[9]) << 8) |
                 (static_cast<std::size_t>(data[10]) << 16) | (static_cast<std::size_t>(data[11]) << 24);
    offset = 12;
  } else {
    fail(name, "unsupported NPY format version " + std::to_string(major) + "." + std::to_string(data[7]));
  }
  if (header_len > kMaxHeaderBytes) fail(name, "NPY header length " + std::to_string(header_len) + " is absurd");
  if (header_len > size - offset) fail(name, "truncated NPY header");
  const std::string header(reinterpret_cast<const char*>(data + offset), header_len);
  offset += header_len;

  const std::string descr = parse_descr(header, name);
  const bool fortran = parse_fortran_order(header, name);
  const std::vector<std::uint64_t> shape = parse_shape(header, name);

  std::size_t item = 0;
  bool swap = false;
  if (descr == "<f4" || descr == "=f4" || descr == "|f4" || descr == ">f4") {
    item = 4;
  } else if (descr == "<f8" || descr == "=f8" || descr == "|f8" || descr == ">f8") {
    item = 8;
  } else {
    fail(name, "unsupported NPY dtype '" + descr + "' (expected float32 '<f4' or float64 '<f8')");
  }
  swap = descr[0] == '>';

  if (shape.size() != 2) {
    std::string s;
    for (auto d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
    fail(name, "unsupported NPY shape (" + s + "): expected a 2-D array [N, F] with F >= 4 (x, y, z, intensity, ...)");
  }
  const std::uint64_t n = shape[0];
  const std::uint64_t f = shape[1];
  if (f < 4) {
    fail(name, "unsupported NPY shape (" + std::to_string(n) + ", " + std::to_string(f) +
                   "): expected at least 4 columns (x, y, z, intensity)");
  }
  if (f > 64) fail(name, "NPY array has " + std::to_string(f) + " columns; at most 64 per-point fields are read");
  const std::size_t available = size - offset;
  // Check n * f * item against the bytes present before allocating anything.
  if (n > available / (f * item)) {
    fail(name, "truncated NPY data: shape (" + std::to_string(n) + ", " + std::to_string(f) + ") needs " +
                   (n > std::numeric_limits<std::uint64_t>::max() / (f * item) ? std::string("more")
                                                                               : std::to_string(n * f * item)) +
                   " bytes but " + std::to_string(available) + " follow the header");
  }
  const std::size_t needed = static_cast<std::size_t>(n * f * item);
  if (needed != available) {
    fail(name, "NPY data has " + std::to_string(available - needed) + " unexpected trailing bytes");
  }

  PointCloud cloud;
  cloud.source = name;
  cloud.format = "npy";
  cloud.fields = {"x", "y", "z", "intensity"};
  for (std::uint64_t j = 4; j < f; ++j) cloud.fields.push_back("f" + std::to_string(j));
  cloud.values.resize(static_cast<std::size_t>(n * f));
  const std::uint8_t* p = data + offset;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < f; ++j) {
      const std::size_t src = fortran ? j * n + i : i * f + j;
      cloud.values[i * f + j] = item == 4 ? load_le<float>(p + src * 4, swap)
                                          : static_cast<float>(load_le<double>(p + src * 8, swap));
    }
  }
  return cloud;
}

}  // namespace pointrt::io
