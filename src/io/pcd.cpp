// PCD (Point Cloud Data, the PCL file format) v0.5 .. v0.7: ascii, binary and binary_compressed (LZF) bodies.
//
// A PCD file is a text header followed by the data:
//
//   # .PCD v0.7 - Point Cloud Data file format      comment lines start with '#'
//   VERSION 0.7                                      optional
//   FIELDS x y z intensity                           field names
//   SIZE 4 4 4 4                                     bytes per value
//   TYPE F F F F                                     F float, I signed, U unsigned integer
//   COUNT 1 1 1 1                                    values per field (optional, default 1)
//   WIDTH 20285                                      WIDTH * HEIGHT == POINTS
//   HEIGHT 1
//   VIEWPOINT 0 0 0 1 0 0 0                          ignored
//   POINTS 20285                                     optional when WIDTH is given
//   DATA binary                                      ascii | binary | binary_compressed; ends the header
//
// Bodies:
//   ascii              one point per line, sum(COUNT) whitespace-separated numbers per line;
//   binary             POINTS records of sum(SIZE * COUNT) bytes, little-endian, fields in header order;
//   binary_compressed  uint32 compressed size, uint32 uncompressed size, then an LZF stream that expands to the
//                      same bytes as `binary` but column-major: all values of field 0, then all of field 1, ...
//
// The output cloud has fields x, y, z, then every other scalar field (COUNT 1) in file order, all as float32.
// Fields of COUNT != 1 (descriptors, histograms) and padding fields named "_" are skipped. Every size the header
// declares is checked against the bytes that follow it before anything is allocated from it, so a hostile file can
// neither make the reader allocate more than a small multiple of its own size nor read out of bounds.
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#include <lzf.h>

#include "io/file_util.h"
#include "io/readers.h"
#include "pointrt/error.h"

namespace pointrt::io {

namespace {

// More points than this in one frame is not a LiDAR scan but a corrupt or hostile header.
constexpr std::uint64_t kMaxPoints = std::uint64_t{1} << 31;
// Upper bound for a COUNT or SIZE entry and for WIDTH / HEIGHT (anything bigger is refused as absurd).
constexpr std::uint64_t kMaxHeaderNumber = std::uint64_t{1} << 31;
// binary_compressed: the uncompressed size is refused above 1 GiB (a 2^31-point cloud would not be a scan either)...
constexpr std::uint64_t kMaxUncompressedBytes = std::uint64_t{1} << 30;
// ...and above what the compressed bytes could possibly expand to. The densest LZF token, a long back-reference,
// is 3 bytes long and copies at most 264 bytes, so no LZF stream expands by more than 88x. A larger declared size
// is a lie; refusing it keeps a tiny file from making the reader allocate up to kMaxUncompressedBytes.
constexpr std::uint64_t kMaxLzfExpansion = 88;

// ---- small helpers ------------------------------------------------------------------------------------------------

// a * b, or false when it does not fit in 64 bits.
bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

// a + b, or false when it does not fit in 64 bits.
bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) return false;
  out = a + b;
  return true;
}


char to_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_upper(a[i]) != to_upper(b[i])) return false;
  }
  return true;
}

// A token for an error message: at most 40 characters, non-printable bytes as \xNN (binary garbage stays readable).
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* const kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}


// A line of the file: [begin, end) without the '\n'; `next` is where the following line starts.
struct Line {
  std::string_view text;
  std::size_t next = 0;
};

Line read_line(const std::uint8_t* data, std::size_t size, std::size_t pos) {
  const auto* begin = reinterpret_cast<const char*>(data) + pos;
  const std::size_t avail = size - pos;
  const auto* nl = static_cast<const char*>(std::memchr(begin, '\n', avail));
  const std::size_t len = nl != nullptr ? static_cast<std::size_t>(nl - begin) : avail;
  return {std::string_view(begin, len), nl != nullptr ? pos + len + 1 : size};
}

// ---- value types ----------------------------------------------------------------------------------------------------

// The TYPE/SIZE combinations PCD files use.
enum class Kind { F4, F8, I1, I2, I4, I8, U1, U2, U4, U8 };

bool kind_of(char type, std::uint64_t size, Kind& kind) {
  switch (type) {
    case 'F':
      if (size == 4) kind = Kind::F4;
      else if (size == 8) kind = Kind::F8;
      else return false;
      return true;
    case 'I':
    case 'U': {
      const bool s = type == 'I';
      if (size == 1) kind = s ? Kind::I1 : Kind::U1;
      else if (size == 2) kind = s ? Kind::I2 : Kind::U2;
      else if (size == 4) kind = s ? Kind::I4 : Kind::U4;
      else if (size == 8) kind = s ? Kind::I8 : Kind::U8;
      else return false;
      return true;
    }
    default: return false;
  }
}

// double -> float as IEEE round-to-nearest does it, without the undefined behaviour C++ gives a static_cast of a
// finite double outside the float range: values that round past FLT_MAX become +-infinity.
float narrow(double d) {
  // FLT_MAX is 2^128 - 2^104; half an ulp above it (2^128 - 2^103) is where rounding goes to infinity.
  constexpr double to_infinity = 0x1p128 - 0x1p103;
  if (std::isfinite(d) && std::fabs(d) > static_cast<double>(FLT_MAX)) {
    if (std::fabs(d) >= to_infinity) return d > 0 ? std::numeric_limits<float>::infinity()
                                                  : -std::numeric_limits<float>::infinity();
    return d > 0 ? FLT_MAX : -FLT_MAX;
  }
  return static_cast<float>(d);
}

// Reads one little-endian value of `kind` at `p` and converts it to float32 (NaN and infinity are kept).
float load(const std::uint8_t* p, Kind kind) {
  auto le = [p](int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  };
  switch (kind) {
    case Kind::F4: {
      const auto bits = static_cast<std::uint32_t>(le(4));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    case Kind::F8: {
      const std::uint64_t bits = le(8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return narrow(d);
    }
    case Kind::I1: return static_cast<float>(static_cast<std::int8_t>(le(1)));
    case Kind::I2: return static_cast<float>(static_cast<std::int16_t>(le(2)));
    case Kind::I4: return static_cast<float>(static_cast<std::int32_t>(le(4)));
    case Kind::I8: return static_cast<float>(static_cast<std::int64_t>(le(8)));
    case Kind::U1: return static_cast<float>(le(1));
    case Kind::U2: return static_cast<float>(le(2));
    case Kind::U4: return static_cast<float>(le(4));
    case Kind::U8: return static_cast<float>(le(8));
  }
  return 0.f;
}

// ---- header -------------------------------------------------------------------------------------------------------

enum class DataKind { Ascii, Binary, BinaryCompressed };

struct Field {
  std::string name;
  std::uint64_t size = 0;   // bytes per value
  char type = 0;            // 'F', 'I' or 'U'
  std::uint64_t count = 1;  // values per point
  Kind kind = Kind::F4;
  std::uint64_t offset = 0;  // byte offset within a binary record
  int out = -1;              // column in the output cloud, or -1 when skipped
};

struct Header {
  std::vector<Field> fields;
  std::uint64_t points = 0;
  std::uint64_t record_size = 0;  // sum of size * count
  std::uint64_t tokens = 0;       // sum of count: values on one ascii line
  DataKind data = DataKind::Ascii;
  std::size_t body = 0;     // offset of the first byte after the header
  std::size_t lines = 0;    // number of header lines (ascii data line numbers continue from here)
  std::vector<std::string> out_fields;
  std::vector<std::size_t> out_source;  // out_source[j]: index in `fields` of output column j
};

// Parses a non-negative decimal integer no larger than `max`; `what` names it in messages.
std::uint64_t parse_number(const std::string& name, std::string_view token, std::uint64_t max,
                           const std::string& what) {
  if (!token.empty() && token[0] == '-') {
    fail(name, "malformed PCD header: " + what + " '" + printable(token) + "' is negative");
  }
  std::string_view digits = token;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  if (digits.empty()) fail(name, "malformed PCD header: " + what + " '" + printable(token) + "' is not a number");
  std::uint64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      fail(name, "malformed PCD header: " + what + " '" + printable(token) + "' is not a whole number");
    }
    // value <= max <= 2^31 before this step, so it cannot overflow; anything above max is refused at once.
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > max) {
      fail(name, "malformed PCD header: " + what + " " + printable(token) + " is absurd (the limit is " +
                     std::to_string(max) + ")");
    }
  }
  return value;
}

Header parse_header(const std::uint8_t* data, std::size_t size, const std::string& name) {
  // Raw entries as they appear; checked against each other once the header has ended.
  std::vector<std::string_view> names, sizes, types, counts;
  bool has[16] = {};  // which keywords were seen, indexed by the enum below
  enum { kVersion, kFields, kSize, kType, kCount, kWidth, kHeight, kViewpoint, kPoints, kData, kNumKeywords };
  static const char* const kKeywords[kNumKeywords] = {"VERSION", "FIELDS", "SIZE",      "TYPE",   "COUNT",
                                                      "WIDTH",   "HEIGHT", "VIEWPOINT", "POINTS", "DATA"};
  std::uint64_t width = 0, height = 1, points = 0;
  Header h;

  std::size_t pos = 0;
  bool ended = false;
  while (pos < size && !ended) {
    const Line line = read_line(data, size, pos);
    pos = line.next;
    ++h.lines;
    const std::string where = " (header line " + std::to_string(h.lines) + ")";

    // First token: the keyword. Blank lines and comments are skipped.
    std::size_t i = 0;
    while (i < line.text.size() && is_space(line.text[i])) ++i;
    if (i == line.text.size() || line.text[i] == '#') continue;
    std::size_t j = i;
    while (j < line.text.size() && !is_space(line.text[j])) ++j;
    const std::string_view keyword = line.text.substr(i, j - i);
    int k = 0;
    while (k < kNumKeywords && !equals_ignore_case(keyword, kKeywords[k])) ++k;
    if (k == kNumKeywords) {
      fail(name, "malformed PCD header: unknown keyword '" + printable(keyword) + "'" + where +
                     (h.lines == 1 ? "; this does not look like a PCD file" : ""));
    }
    if (has[k]) fail(name, "malformed PCD header: " + std::string(kKeywords[k]) + " appears twice" + where);
    has[k] = true;
    const std::vector<std::string_view> values = split_whitespace(line.text.substr(j));
    const std::string kw = kKeywords[k];

    auto single = [&]() -> std::string_view {
      if (values.size() != 1) {
        fail(name, "malformed PCD header: " + kw + " needs exactly one value, found " +
                       std::to_string(values.size()) + where);
      }
      return values[0];
    };
    auto list = [&]() {
      if (values.empty()) fail(name, "malformed PCD header: " + kw + " has no entries" + where);
      return values;
    };

    switch (k) {
      case kVersion: {
        const std::string_view v = single();
        if (v != "0.5" && v != "0.6" && v != "0.7" && v != ".5" && v != ".6" && v != ".7") {
          fail(name, "unsupported PCD version '" + printable(v) + "' (0.5, 0.6 and 0.7 are supported)");
        }
        break;
      }
      case kFields: names = list(); break;
      case kSize: sizes = list(); break;
      case kType: types = list(); break;
      case kCount: counts = list(); break;
      case kWidth: width = parse_number(name, single(), kMaxHeaderNumber, "WIDTH"); break;
      case kHeight: height = parse_number(name, single(), kMaxHeaderNumber, "HEIGHT"); break;
      case kViewpoint: break;  // the sensor pose; points are used as stored
      case kPoints: points = parse_number(name, single(), kMaxPoints, "POINTS"); break;
      case kData: {
        const std::string_view d = single();
        if (equals_ignore_case(d, "ascii")) h.data = DataKind::Ascii;
        else if (equals_ignore_case(d, "binary")) h.data = DataKind::Binary;
        else if (equals_ignore_case(d, "binary_compressed")) h.data = DataKind::BinaryCompressed;
        else {
          fail(name, "malformed PCD header: unknown DATA kind '" + printable(d) +
                         "' (expected ascii, binary or binary_compressed)");
        }
        ended = true;
        break;
      }
      default: break;
    }
  }
  if (!ended) fail(name, "malformed PCD header: the header never ends (no DATA line)");
  h.body = pos;

  // Required keywords and consistent entry counts.
  for (const int k : {kFields, kSize, kType}) {
    if (!has[k]) fail(name, "malformed PCD header: missing " + std::string(kKeywords[k]) + " line");
  }
  auto check_entries = [&](const std::vector<std::string_view>& entries, const char* kw) {
    if (entries.size() != names.size()) {
      fail(name, "malformed PCD header: FIELDS has " + std::to_string(names.size()) + " entries but " + kw +
                     " has " + std::to_string(entries.size()));
    }
  };
  check_entries(sizes, "SIZE");
  check_entries(types, "TYPE");
  if (has[kCount]) check_entries(counts, "COUNT");

  // Point count: POINTS and WIDTH * HEIGHT must agree; either alone is enough.
  if (has[kWidth]) {
    const std::uint64_t wh = width * height;  // both <= 2^31: no overflow
    if (!has[kPoints]) {
      if (wh > kMaxPoints) {
        fail(name, "malformed PCD header: WIDTH * HEIGHT = " + std::to_string(wh) + " points is absurd (the limit is " +
                       std::to_string(kMaxPoints) + ")");
      }
      points = wh;
    } else if (wh != points) {
      fail(name, "malformed PCD header: WIDTH * HEIGHT = " + std::to_string(width) + " * " + std::to_string(height) +
                     " = " + std::to_string(wh) + " does not match POINTS " + std::to_string(points));
    }
  } else if (!has[kPoints]) {
    fail(name, "malformed PCD header: missing POINTS (and WIDTH)");
  }
  h.points = points;

  // Fields: types, sizes, record layout and the output columns.
  h.fields.resize(names.size());
  for (std::size_t f = 0; f < names.size(); ++f) {
    Field& field = h.fields[f];
    field.name = std::string(names[f]);
    const std::string label = "field '" + printable(names[f]) + "'";
    field.size = parse_number(name, sizes[f], kMaxHeaderNumber, "SIZE of " + label);
    if (has[kCount]) field.count = parse_number(name, counts[f], kMaxHeaderNumber, "COUNT of " + label);
    field.type = types[f].size() == 1 ? to_upper(types[f][0]) : '?';
    if (!kind_of(field.type, field.size, field.kind)) {
      fail(name, "unknown PCD data type (TYPE " + printable(types[f]) + ", SIZE " + std::to_string(field.size) +
                     ") for " + label + "; supported: F4 F8 I1 I2 I4 I8 U1 U2 U4 U8");
    }
    field.offset = h.record_size;
    std::uint64_t bytes = 0;
    if (!checked_mul(field.size, field.count, bytes) || !checked_add(h.record_size, bytes, h.record_size) ||
        !checked_add(h.tokens, field.count, h.tokens)) {
      fail(name, "malformed PCD header: the record size overflows");
    }
  }

  // Output columns: x, y, z first, then the other scalar fields in file order.
  auto find = [&](const char* wanted) -> std::size_t {
    std::size_t found = h.fields.size();
    for (std::size_t f = 0; f < h.fields.size(); ++f) {
      if (h.fields[f].name != wanted) continue;
      if (found != h.fields.size()) fail(name, std::string("PCD field '") + wanted + "' appears twice");
      found = f;
    }
    if (found == h.fields.size()) {
      fail(name, std::string("PCD file has no field '") + wanted + "' (fields x, y and z are required)");
    }
    if (h.fields[found].count != 1) {
      fail(name, std::string("PCD field '") + wanted + "' has COUNT " + std::to_string(h.fields[found].count) +
                     "; x, y and z must be scalars (COUNT 1)");
    }
    return found;
  };
  for (const char* xyz : {"x", "y", "z"}) {
    const std::size_t f = find(xyz);
    h.fields[f].out = static_cast<int>(h.out_fields.size());
    h.out_fields.push_back(xyz);
    h.out_source.push_back(f);
  }
  for (std::size_t f = 0; f < h.fields.size(); ++f) {
    Field& field = h.fields[f];
    if (field.out >= 0 || field.count != 1 || field.name == "_") continue;
    for (const std::string& seen : h.out_fields) {
      if (seen == field.name) fail(name, "PCD field '" + printable(field.name) + "' appears twice");
    }
    field.out = static_cast<int>(h.out_fields.size());
    h.out_fields.push_back(field.name);
    h.out_source.push_back(f);
  }
  return h;
}

// ---- bodies -------------------------------------------------------------------------------------------------------

[[noreturn]] void fail_truncated(const std::string& name, std::uint64_t points, std::uint64_t need,
                                 std::uint64_t have) {
  fail(name, "truncated: header declares " + std::to_string(points) + " points (" + std::to_string(need) +
                 " bytes) but only " + std::to_string(have) + " bytes follow");
}

// binary: `points` row-major records at `body`; the caller has checked the size.
void decode_rows(const Header& h, const std::uint8_t* body, std::vector<float>& values) {
  const std::size_t nout = h.out_source.size();
  for (std::uint64_t i = 0; i < h.points; ++i) {
    const std::uint8_t* record = body + i * h.record_size;
    float* row = values.data() + i * nout;
    for (std::size_t j = 0; j < nout; ++j) {
      const Field& field = h.fields[h.out_source[j]];
      row[j] = load(record + field.offset, field.kind);
    }
  }
}

// binary_compressed, once expanded: field after field, each field's `points * size * count` bytes contiguous.
void decode_columns(const Header& h, const std::uint8_t* raw, std::vector<float>& values) {
  const std::size_t nout = h.out_source.size();
  for (std::size_t j = 0; j < nout; ++j) {
    const Field& field = h.fields[h.out_source[j]];
    // Start of this field's column: the columns before it hold points * offset bytes (offset = sum of the
    // size * count of the fields before it).
    const std::uint8_t* column = raw + h.points * field.offset;
    for (std::uint64_t i = 0; i < h.points; ++i) values[i * nout + j] = load(column + i * field.size, field.kind);
  }
}

void parse_binary(const Header& h, const std::uint8_t* data, std::size_t size, const std::string& name,
                  std::vector<float>& values) {
  const std::uint64_t have = size - h.body;
  std::uint64_t need = 0;
  if (!checked_mul(h.points, h.record_size, need)) {
    fail(name, "truncated: header declares " + std::to_string(h.points) + " points of " +
                   std::to_string(h.record_size) + " bytes, more than 2^64 bytes, but only " + std::to_string(have) +
                   " bytes follow");
  }
  if (need > have) fail_truncated(name, h.points, need, have);
  // need <= have, and every output column takes at least one byte of a record: at most 4x the file in floats.
  values.resize(static_cast<std::size_t>(h.points) * h.out_source.size());
  decode_rows(h, data + h.body, values);
}

std::uint32_t read_u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void parse_compressed(const Header& h, const std::uint8_t* data, std::size_t size, const std::string& name,
                      std::vector<float>& values) {
  const std::uint64_t have = size - h.body;
  if (have < 8) {
    fail(name, "truncated: binary_compressed data needs an 8-byte size header but only " + std::to_string(have) +
                   " bytes follow the PCD header");
  }
  const std::uint8_t* p = data + h.body;
  const std::uint64_t compressed = read_u32(p);
  const std::uint64_t uncompressed = read_u32(p + 4);
  if (compressed > have - 8) {
    fail(name, "truncated: header declares " + std::to_string(h.points) + " points (" + std::to_string(compressed) +
                   " compressed bytes) but only " + std::to_string(have - 8) + " bytes follow");
  }
  std::uint64_t need = 0;
  const bool fits = checked_mul(h.points, h.record_size, need);
  if (!fits || need != uncompressed) {
    fail(name, "binary_compressed uncompressed size " + std::to_string(uncompressed) + " bytes does not match " +
                   std::to_string(h.points) + " points of " + std::to_string(h.record_size) + " bytes (" +
                   (fits ? std::to_string(need) + " bytes)" : "more than 2^64 bytes)"));
  }
  if (uncompressed == 0) return;  // no points: nothing to expand
  if (uncompressed > kMaxUncompressedBytes || uncompressed > compressed * kMaxLzfExpansion) {
    fail(name, "binary_compressed uncompressed size " + std::to_string(uncompressed) +
                   " bytes is absurd for " + std::to_string(compressed) +
                   " compressed bytes (LZF expands at most 88x; the limit is 1 GiB)");
  }
  std::vector<std::uint8_t> raw(static_cast<std::size_t>(uncompressed));
  const unsigned int got = lzf_decompress(p + 8, static_cast<unsigned int>(compressed), raw.data(),
                                          static_cast<unsigned int>(uncompressed));
  if (got != uncompressed) {
    fail(name, "corrupt LZF data in binary_compressed PCD: expanded to " + std::to_string(got) + " bytes, expected " +
                   std::to_string(uncompressed));
  }
  values.resize(static_cast<std::size_t>(h.points) * h.out_source.size());
  decode_columns(h, raw.data(), values);
}

// One ascii value: the whole token must be a number for strtof ("nan", "inf" and exponents included).
bool parse_float(std::string_view token, float& out) {
  // strtof needs a terminated string and the token is not one: copy it (a stack buffer for the usual short token).
  char small[64];
  std::string large;
  const char* text;
  if (token.size() < sizeof small) {
    std::memcpy(small, token.data(), token.size());
    small[token.size()] = '\0';
    text = small;
  } else {
    large.assign(token);
    text = large.c_str();
  }
  char* end = nullptr;
  out = std::strtof(text, &end);  // out-of-range values give +-HUGE_VALF or a denormal, both kept as they are
  return end == text + token.size() && !token.empty();
}

void parse_ascii(const Header& h, const std::uint8_t* data, std::size_t size, const std::string& name,
                 std::vector<float>& values) {
  const std::uint64_t have = size - h.body;
  // Each point takes at least `tokens` one-character numbers and a separator or newline after each (the last
  // line may lack its newline): refuse a POINTS the bytes cannot hold before reserving anything for it.
  if (h.points > 0) {
    std::uint64_t min_bytes = 0;
    if (!checked_mul(h.tokens, 2, min_bytes) || !checked_mul(h.points, min_bytes, min_bytes) ||
        min_bytes > have + 1) {
      fail(name, "truncated: header declares " + std::to_string(h.points) + " points of " + std::to_string(h.tokens) +
                     " ascii values, but only " + std::to_string(have) + " bytes follow");
    }
  }
  const std::size_t nout = h.out_source.size();
  values.resize(static_cast<std::size_t>(h.points) * nout);

  std::size_t pos = h.body;
  std::size_t line_no = h.lines;
  for (std::uint64_t i = 0; i < h.points; ++i) {
    // The next non-blank line.
    Line line;
    std::size_t k = 0;
    for (;;) {
      if (pos >= size) {
        fail(name, "truncated: header declares " + std::to_string(h.points) + " points but only " +
                       std::to_string(i) + " lines of ascii data follow");
      }
      line = read_line(data, size, pos);
      pos = line.next;
      ++line_no;
      k = 0;
      while (k < line.text.size() && is_space(line.text[k])) ++k;
      if (k < line.text.size()) break;
    }
    const std::string where = "line " + std::to_string(line_no);
    // Walks the line's tokens field by field; every token must be a number, kept fields are stored.
    std::uint64_t seen = 0;
    float* row = values.data() + i * nout;
    for (const Field& field : h.fields) {
      for (std::uint64_t c = 0; c < field.count; ++c) {
        while (k < line.text.size() && is_space(line.text[k])) ++k;
        if (k == line.text.size()) {
          fail(name, where + ": expected " + std::to_string(h.tokens) + " values but found only " +
                         std::to_string(seen));
        }
        const std::size_t start = k;
        while (k < line.text.size() && !is_space(line.text[k])) ++k;
        const std::string_view token = line.text.substr(start, k - start);
        float v = 0.f;
        if (!parse_float(token, v)) {
          fail(name, where + ": '" + printable(token) + "' (field '" + printable(field.name) + "') is not a number");
        }
        if (field.out >= 0) row[field.out] = v;
        ++seen;
      }
    }
    while (k < line.text.size() && is_space(line.text[k])) ++k;
    if (k != line.text.size()) {
      fail(name, where + ": more than the " + std::to_string(h.tokens) + " values the header declares");
    }
  }
}

}  // namespace

PointCloud parse_pcd(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size == 0 || data == nullptr) fail(name, "empty PCD file");
  const Header h = parse_header(data, size, name);
  PointCloud cloud;
  cloud.source = name;
  cloud.format = "pcd";
  cloud.fields = h.out_fields;
  switch (h.data) {
    case DataKind::Ascii: parse_ascii(h, data, size, name, cloud.values); break;
    case DataKind::Binary: parse_binary(h, data, size, name, cloud.values); break;
    case DataKind::BinaryCompressed: parse_compressed(h, data, size, name, cloud.values); break;
  }
  return cloud;
}

}  // namespace pointrt::io
