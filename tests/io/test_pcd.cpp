// Tests of the PCD reader (pointrt::io::parse_pcd): ascii, binary and binary_compressed bodies, field layouts and
// types, header leniency, and one test per kind of bad input (checking the message names the problem).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#if __has_include(<lzf.h>)
#include <lzf.h>
#else
#include <liblzf/lzf.h>
#endif

#include "io/readers.h"
#include "pointrt/error.h"
#include "support/test_data.h"

namespace {

using pointrt::PointCloud;

// ---- building PCD files -----------------------------------------------------------------------------------------

struct FieldSpec {
  std::string name;
  int size;
  char type;
  int count;
};

// A point is one value per token: sum(count) values, in field order.
using Rows = std::vector<std::vector<double>>;

std::string header(const std::vector<FieldSpec>& fields, std::size_t points, const std::string& data) {
  std::string h = "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS";
  for (const auto& f : fields) h += " " + f.name;
  h += "\nSIZE";
  for (const auto& f : fields) h += " " + std::to_string(f.size);
  h += "\nTYPE";
  for (const auto& f : fields) h += std::string(" ") + f.type;
  h += "\nCOUNT";
  for (const auto& f : fields) h += " " + std::to_string(f.count);
  h += "\nWIDTH " + std::to_string(points) + "\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS " + std::to_string(points) +
       "\nDATA " + data + "\n";
  return h;
}

// Appends `v` as a little-endian value of the field's TYPE/SIZE.
void put(std::string& out, const FieldSpec& f, double v) {
  unsigned char bytes[8] = {};
  std::uint64_t bits = 0;
  if (f.type == 'F' && f.size == 4) {
    const float x = static_cast<float>(v);
    std::uint32_t b;
    std::memcpy(&b, &x, 4);
    bits = b;
  } else if (f.type == 'F' && f.size == 8) {
    std::memcpy(&bits, &v, 8);
  } else if (f.type == 'I') {
    bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(v));
  } else {
    bits = static_cast<std::uint64_t>(v);
  }
  for (int i = 0; i < f.size; ++i) bytes[i] = static_cast<unsigned char>(bits >> (8 * i));
  out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(f.size));
}

std::string binary_body(const std::vector<FieldSpec>& fields, const Rows& rows) {
  std::string out;
  for (const auto& row : rows) {
    std::size_t t = 0;
    for (const auto& f : fields) {
      for (int c = 0; c < f.count; ++c) put(out, f, row[t++]);
    }
  }
  return out;
}

// The column-major bytes binary_compressed stores: every value of field 0, then of field 1, ...
std::string column_bytes(const std::vector<FieldSpec>& fields, const Rows& rows) {
  std::string out;
  std::size_t first = 0;  // index of the field's first token in a row
  for (const auto& f : fields) {
    for (const auto& row : rows) {
      for (int c = 0; c < f.count; ++c) put(out, f, row[first + static_cast<std::size_t>(c)]);
    }
    first += static_cast<std::size_t>(f.count);
  }
  return out;
}

std::string u32(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

std::string lzf(const std::string& raw) {
  if (raw.empty()) return {};
  std::string out(raw.size() + raw.size() / 16 + 64, '\0');
  const unsigned n = lzf_compress(raw.data(), static_cast<unsigned>(raw.size()), &out[0],
                                  static_cast<unsigned>(out.size()));
  EXPECT_GT(n, 0u) << "lzf_compress failed";
  out.resize(n);
  return out;
}

std::string compressed_body(const std::vector<FieldSpec>& fields, const Rows& rows) {
  const std::string raw = column_bytes(fields, rows);
  const std::string packed = lzf(raw);
  return u32(static_cast<std::uint32_t>(packed.size())) + u32(static_cast<std::uint32_t>(raw.size())) + packed;
}

std::string format_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string ascii_body(const Rows& rows) {
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t t = 0; t < row.size(); ++t) out += (t ? " " : "") + format_value(row[t]);
    out += "\n";
  }
  return out;
}

std::string pcd(const std::vector<FieldSpec>& fields, const Rows& rows, const std::string& data) {
  std::string body;
  if (data == "ascii") body = ascii_body(rows);
  else if (data == "binary") body = binary_body(fields, rows);
  else body = compressed_body(fields, rows);
  return header(fields, rows.size(), data) + body;
}

PointCloud parse(const std::string& bytes, const std::string& name = "test.pcd") {
  return pointrt::io::parse_pcd(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
}

// The message parse() fails with, or "<no error>".
std::string error_of(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const pointrt::Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_PCD_ERROR(bytes, substring)                                       \
  do {                                                                           \
    const std::string pcd_message_ = error_of(bytes);                            \
    EXPECT_NE(pcd_message_.find(substring), std::string::npos) << pcd_message_;  \
  } while (0)

const std::vector<FieldSpec> kXyzi = {{"x", 4, 'F', 1}, {"y", 4, 'F', 1}, {"z", 4, 'F', 1}, {"intensity", 4, 'F', 1}};

// A deterministic set of float32-representable points (x y z intensity).
Rows make_points(std::size_t n) {
  Rows rows;
  std::uint32_t state = 12345;
  auto next = [&state]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<double>(static_cast<float>((state >> 8) * (1.0 / 16777216.0)));  // [0, 1)
  };
  for (std::size_t i = 0; i < n; ++i) {
    const double x = static_cast<float>(next() * 140.0 - 70.0);
    const double y = static_cast<float>(next() * 80.0 - 40.0);
    const double z = static_cast<float>(next() * 4.0 - 3.0);
    rows.push_back({x, y, z, next()});
  }
  return rows;
}

void expect_cloud(const PointCloud& cloud, const std::vector<std::string>& fields, const std::vector<float>& values) {
  EXPECT_EQ(cloud.format, "pcd");
  EXPECT_EQ(cloud.fields, fields);
  ASSERT_EQ(cloud.values.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(std::memcmp(&cloud.values[i], &values[i], sizeof(float)), 0)
        << "value " << i << ": " << cloud.values[i] << " != " << values[i];
  }
}

std::vector<float> flatten(const Rows& rows) {
  std::vector<float> out;
  for (const auto& r : rows) {
    for (const double v : r) out.push_back(static_cast<float>(v));
  }
  return out;
}

const char* const kKinds[] = {"ascii", "binary", "binary_compressed"};

// ---- valid files ------------------------------------------------------------------------------------------------

TEST(Pcd, AsciiBinaryAndCompressedGiveTheSameCloud) {
  const Rows rows = make_points(1000);
  const std::vector<float> expected = flatten(rows);
  for (const char* kind : kKinds) {
    SCOPED_TRACE(kind);
    const PointCloud cloud = parse(pcd(kXyzi, rows, kind), "frame.pcd");
    EXPECT_EQ(cloud.source, "frame.pcd");
    EXPECT_EQ(cloud.num_points(), 1000u);
    expect_cloud(cloud, {"x", "y", "z", "intensity"}, expected);
  }
}

TEST(Pcd, FieldsInAnyOrderWithExtraAndSkippedFields) {
  // intensity x z y, a packed colour (U4), a 3-value normal (skipped), padding (skipped), a ring number (U2).
  const std::vector<FieldSpec> fields = {{"intensity", 4, 'F', 1}, {"x", 4, 'F', 1}, {"z", 4, 'F', 1},
                                         {"y", 4, 'F', 1},         {"rgb", 4, 'U', 1}, {"normal", 4, 'F', 3},
                                         {"_", 1, 'U', 3},         {"ring", 2, 'U', 1}};
  const Rows rows = {{0.5, 1.0, 3.0, 2.0, 16711680, 0.1, 0.2, 0.3, 0, 0, 0, 7},
                     {0.25, -1.5, -3.25, -2.5, 255, 1, 2, 3, 9, 9, 9, 63}};
  const std::vector<float> expected = {1.0f, 2.0f, 3.0f, 0.5f, 16711680.f, 7.f,
                                       -1.5f, -2.5f, -3.25f, 0.25f, 255.f, 63.f};
  for (const char* kind : kKinds) {
    SCOPED_TRACE(kind);
    expect_cloud(parse(pcd(fields, rows, kind)), {"x", "y", "z", "intensity", "rgb", "ring"}, expected);
  }
}

TEST(Pcd, AllTypesConvertToFloat) {
  const std::vector<FieldSpec> fields = {{"x", 8, 'F', 1},  {"y", 4, 'F', 1},  {"z", 1, 'I', 1},  {"i2", 2, 'I', 1},
                                         {"i4", 4, 'I', 1}, {"i8", 8, 'I', 1}, {"u1", 1, 'U', 1}, {"u2", 2, 'U', 1},
                                         {"u4", 4, 'U', 1}, {"u8", 8, 'U', 1}};
  const Rows rows = {{0.1, 2.5, -128, -32768, -2147483648.0, -4611686018427387904.0, 255, 65535, 4294967295.0,
                      18446744073709549568.0},
                     {-1e300, 1.0, 127, 32767, 2147483647, 123456789, 0, 1, 2, 3}};
  const std::vector<std::string> names = {"x", "y", "z", "i2", "i4", "i8", "u1", "u2", "u4", "u8"};
  const std::vector<float> expected = {
      0.1f, 2.5f, -128.f, -32768.f, -2147483648.f, -4611686018427387904.f, 255.f, 65535.f, 4294967295.f,
      18446744073709549568.f, -std::numeric_limits<float>::infinity(), 1.f, 127.f, 32767.f, 2147483647.f,
      123456789.f, 0.f, 1.f, 2.f, 3.f};
  for (const char* kind : {"binary", "binary_compressed"}) {
    SCOPED_TRACE(kind);
    expect_cloud(parse(pcd(fields, rows, kind)), names, expected);
  }
  // ascii: the same numbers as text (the F8 1e300 overflows float32 to -inf there too).
  expect_cloud(parse(pcd(fields, rows, "ascii")), names, expected);
}

TEST(Pcd, NonFiniteValuesAreKept) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const Rows rows = {{nan, inf, -inf, 1.0}, {1.0, 2.0, 3.0, 4.0}};
  for (const char* kind : {"binary", "binary_compressed"}) {
    SCOPED_TRACE(kind);
    const PointCloud cloud = parse(pcd(kXyzi, rows, kind));
    ASSERT_EQ(cloud.values.size(), 8u);
    EXPECT_TRUE(std::isnan(cloud.values[0]));
    EXPECT_EQ(cloud.values[1], inf);
    EXPECT_EQ(cloud.values[2], -inf);
  }
  const PointCloud cloud = parse(header(kXyzi, 2, "ascii") + "nan inf -inf 1\n1 2 3 4\n");
  ASSERT_EQ(cloud.values.size(), 8u);
  EXPECT_TRUE(std::isnan(cloud.values[0]));
  EXPECT_EQ(cloud.values[1], inf);
  EXPECT_EQ(cloud.values[2], -inf);
  EXPECT_EQ(cloud.values[7], 4.f);
}

TEST(Pcd, LenientHeader) {
  // CRLF line ends, comments, tabs and extra spaces, no VERSION, no COUNT, no POINTS (WIDTH * HEIGHT instead),
  // blank lines, and lower-case keywords.
  const std::string text =
      "# a comment\r\n"
      "\r\n"
      "fields   x\ty  z\r\n"
      "SIZE 4 4 4   \r\n"
      "  TYPE F F F\r\n"
      "# another comment\r\n"
      "WIDTH 2\r\n"
      "HEIGHT 2\r\n"
      "VIEWPOINT 0 0 0 1 0 0 0\r\n"
      "DATA ascii\r\n"
      "1 2 3\r\n"
      "\r\n"
      "  4\t5 6  \r\n"
      "7 8 9\r\n"
      "10 11 12";  // no final newline
  expect_cloud(parse(text), {"x", "y", "z"}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});

  // PCD v0.5 style: POINTS only, VERSION written as ".5".
  const std::string old = "VERSION .5\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n";
  expect_cloud(parse(old), {"x", "y", "z"}, {1, 2, 3});
}

TEST(Pcd, EmptyCloud) {
  for (const char* kind : kKinds) {
    SCOPED_TRACE(kind);
    const PointCloud cloud = parse(pcd(kXyzi, {}, kind));
    EXPECT_EQ(cloud.num_points(), 0u);
    EXPECT_EQ(cloud.fields.size(), 4u);
  }
}

TEST(Pcd, RoundTripOfARealKittiFrame) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string path = pointrt::testing::shared_data_dir() + "/kitti/training/velodyne_reduced/000000.bin";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  const std::string records((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(records.size(), 20285u * 16u);
  const std::size_t n = records.size() / 16;
  std::vector<float> expected(n * 4);
  std::memcpy(expected.data(), records.data(), records.size());  // little-endian host, as the file

  Rows rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i].assign(expected.begin() + 4 * i, expected.begin() + 4 * i + 4);
  const std::string file = pcd(kXyzi, rows, "binary_compressed");
  EXPECT_LT(file.size(), records.size() + 1024);

  const std::string dir = pointrt::testing::make_temp_dir("pcd");
  pointrt::testing::write_file(dir + "/000000.pcd", file);
  std::ifstream back(dir + "/000000.pcd", std::ios::binary);
  const std::string reread((std::istreambuf_iterator<char>(back)), std::istreambuf_iterator<char>());
  ASSERT_EQ(reread, file);

  const PointCloud cloud = parse(reread, dir + "/000000.pcd");
  EXPECT_EQ(cloud.num_points(), 20285u);
  expect_cloud(cloud, {"x", "y", "z", "intensity"}, expected);
}

// ---- bad input --------------------------------------------------------------------------------------------------

TEST(PcdErrors, EmptyData) {
  EXPECT_PCD_ERROR("", "empty");
  EXPECT_EQ(error_of(""), "test.pcd: empty PCD file");
}

TEST(PcdErrors, MissingFields) {
  EXPECT_PCD_ERROR("SIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n", "malformed PCD header: missing FIELDS");
}

TEST(PcdErrors, MissingSize) {
  EXPECT_PCD_ERROR("FIELDS x y z\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n", "malformed PCD header: missing SIZE");
}

TEST(PcdErrors, MissingType) {
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4 4\nPOINTS 1\nDATA ascii\n1 2 3\n", "malformed PCD header: missing TYPE");
}

TEST(PcdErrors, MissingDataHeaderNeverEnds) {
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\n", "malformed PCD header: the header never ends");
}

TEST(PcdErrors, MissingPointsAndWidth) {
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nDATA ascii\n1 2 3\n", "missing POINTS");
}

TEST(PcdErrors, EmptyEntryList) {
  EXPECT_PCD_ERROR("FIELDS\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n", "FIELDS has no entries");
}

TEST(PcdErrors, UnknownDataKind) {
  EXPECT_PCD_ERROR(header(kXyzi, 1, "binary_lz4") + "1 2 3 4\n", "unknown DATA kind 'binary_lz4'");
}

TEST(PcdErrors, UnknownKeywordOrNotAPcdFile) {
  EXPECT_PCD_ERROR(std::string("\x7f" "ELF\x02\x01\x01", 7), "not look like a PCD file");
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZES 4 4 4\n", "unknown keyword 'SIZES'");
}

TEST(PcdErrors, DuplicateKeyword) {
  EXPECT_PCD_ERROR("FIELDS x y z\nFIELDS x y z\n", "FIELDS appears twice");
}

TEST(PcdErrors, UnsupportedVersion) {
  EXPECT_PCD_ERROR("VERSION 0.8\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n",
                   "unsupported PCD version '0.8'");
}

TEST(PcdErrors, MissingCoordinateField) {
  for (const char* missing : {"x", "y", "z"}) {
    std::vector<FieldSpec> fields = kXyzi;
    for (auto& f : fields) {
      if (f.name == missing) f.name = "w";
    }
    const std::string message = error_of(pcd(fields, {{1, 2, 3, 4}}, "binary"));
    EXPECT_NE(message.find(std::string("no field '") + missing + "'"), std::string::npos) << message;
  }
}

TEST(PcdErrors, CoordinateFieldWithCountAboveOne) {
  const std::vector<FieldSpec> fields = {{"x", 4, 'F', 2}, {"y", 4, 'F', 1}, {"z", 4, 'F', 1}};
  EXPECT_PCD_ERROR(pcd(fields, {{1, 2, 3, 4}}, "binary"), "'x' has COUNT 2");
}

TEST(PcdErrors, DuplicateField) {
  const std::vector<FieldSpec> fields = {{"x", 4, 'F', 1}, {"y", 4, 'F', 1}, {"z", 4, 'F', 1}, {"y", 4, 'F', 1}};
  EXPECT_PCD_ERROR(pcd(fields, {{1, 2, 3, 4}}, "binary"), "'y' appears twice");
}

TEST(PcdErrors, UnknownDataType) {
  std::vector<FieldSpec> half = kXyzi;
  half[3].size = 2;  // F2: half floats are not a PCD type
  EXPECT_PCD_ERROR(header(half, 1, "binary") + std::string(14, '\0'),
                   "unknown PCD data type (TYPE F, SIZE 2) for field 'intensity'");
  std::vector<FieldSpec> odd = kXyzi;
  odd[0].type = 'X';
  EXPECT_PCD_ERROR(header(odd, 1, "binary") + std::string(16, '\0'), "unknown PCD data type (TYPE X, SIZE 4) for field 'x'");
  std::vector<FieldSpec> wide = kXyzi;
  wide[1].type = 'U';
  wide[1].size = 3;
  EXPECT_PCD_ERROR(header(wide, 1, "binary") + std::string(15, '\0'), "unknown PCD data type (TYPE U, SIZE 3) for field 'y'");
}

TEST(PcdErrors, MismatchedEntryCounts) {
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n1 2 3\n",
                   "FIELDS has 3 entries but SIZE has 2");
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4 4\nTYPE F F F F\nPOINTS 1\nDATA ascii\n1 2 3\n",
                   "FIELDS has 3 entries but TYPE has 4");
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1\nPOINTS 1\nDATA ascii\n1 2 3\n",
                   "FIELDS has 3 entries but COUNT has 2");
}

TEST(PcdErrors, WidthTimesHeightDiffersFromPoints) {
  EXPECT_PCD_ERROR("FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nWIDTH 10\nHEIGHT 2\nPOINTS 30\nDATA ascii\n",
                   "WIDTH * HEIGHT = 10 * 2 = 20 does not match POINTS 30");
}

TEST(PcdErrors, AbsurdPointCounts) {
  const std::string fields = "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n";
  // Above 2^31 points: refused as absurd straight from the header.
  EXPECT_PCD_ERROR(fields + "POINTS 4000000000\nDATA binary\n" + std::string(12, '\0'),
                   "POINTS 4000000000 is absurd");
  EXPECT_PCD_ERROR(fields + "WIDTH 99999999999999999999999999\nDATA binary\n", "WIDTH 99999999999999999999999999 is absurd");
  EXPECT_PCD_ERROR(fields + "POINTS -5\nDATA binary\n", "POINTS '-5' is negative");
  EXPECT_PCD_ERROR(fields + "POINTS many\nDATA binary\n", "POINTS 'many' is not a whole number");
  EXPECT_PCD_ERROR(fields + "POINTS 1.5\nDATA binary\n", "POINTS '1.5' is not a whole number");
  EXPECT_PCD_ERROR(fields + "WIDTH 65536\nHEIGHT 65536\nDATA binary\n", "WIDTH * HEIGHT = 4294967296 points is absurd");
  EXPECT_PCD_ERROR(fields + "POINTS 1\nCOUNT 1 1 4294967296\nDATA binary\n", "COUNT of field 'z' 4294967296 is absurd");
  // Within the limit but far more than the body holds: refused as truncated before anything is allocated.
  EXPECT_PCD_ERROR(fields + "POINTS 2000000000\nDATA binary\n" + std::string(12, '\0'),
                   "truncated: header declares 2000000000 points (24000000000 bytes) but only 12 bytes follow");
  EXPECT_PCD_ERROR(fields + "POINTS 2000000000\nDATA ascii\n1 2 3\n", "truncated: header declares 2000000000 points");
  EXPECT_PCD_ERROR(fields + "POINTS 2000000000\nDATA binary_compressed\n" + u32(4) + u32(4000000000u) + "abcd",
                   "does not match 2000000000 points");
  EXPECT_PCD_ERROR("FIELDS x y z w\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 2147483648\nPOINTS 1\nDATA ascii\n1 2 3 4\n",
                   "truncated: header declares 1 points of 2147483651 ascii values");
}

TEST(PcdErrors, TruncatedBinary) {
  const std::string file = pcd(kXyzi, make_points(10), "binary");
  EXPECT_EQ(error_of(file.substr(0, file.size() - 10)),
            "test.pcd: truncated: header declares 10 points (160 bytes) but only 150 bytes follow");
}

TEST(PcdErrors, TruncatedCompressed) {
  const std::string file = pcd(kXyzi, make_points(100), "binary_compressed");
  EXPECT_PCD_ERROR(file.substr(0, file.size() - 1), "truncated: header declares 100 points (");
  EXPECT_PCD_ERROR(file.substr(0, file.size() - 1), "compressed bytes) but only");
  const std::size_t body = header(kXyzi, 100, "binary_compressed").size();
  EXPECT_PCD_ERROR(file.substr(0, body + 5), "needs an 8-byte size header but only 5 bytes follow");
}

TEST(PcdErrors, CorruptLzfStream) {
  const Rows rows = make_points(100);
  const std::string raw = column_bytes(kXyzi, rows);
  std::string packed = lzf(raw);
  // A back-reference pointing before the start of the output is invalid LZF.
  packed[0] = static_cast<char>(0xE0);
  packed[1] = static_cast<char>(0xFF);
  packed[2] = static_cast<char>(0xFF);
  EXPECT_PCD_ERROR(header(kXyzi, 100, "binary_compressed") + u32(static_cast<std::uint32_t>(packed.size())) +
                       u32(static_cast<std::uint32_t>(raw.size())) + packed,
                   "corrupt LZF data");
  // A stream that expands to fewer bytes than declared is corrupt too.
  const std::string short_raw = raw.substr(0, raw.size() - 16);
  const std::string short_packed = lzf(short_raw);
  EXPECT_PCD_ERROR(header(kXyzi, 100, "binary_compressed") + u32(static_cast<std::uint32_t>(short_packed.size())) +
                       u32(static_cast<std::uint32_t>(raw.size())) + short_packed,
                   "corrupt LZF data in binary_compressed PCD: expanded to 1584 bytes, expected 1600");
}

TEST(PcdErrors, UncompressedSizeMismatch) {
  const Rows rows = make_points(100);
  const std::string raw = column_bytes(kXyzi, rows);
  const std::string packed = lzf(raw);
  EXPECT_PCD_ERROR(header(kXyzi, 100, "binary_compressed") + u32(static_cast<std::uint32_t>(packed.size())) +
                       u32(1596) + packed,
                   "uncompressed size 1596 bytes does not match 100 points of 16 bytes (1600 bytes)");
}

TEST(PcdErrors, AbsurdUncompressedSize) {
  // 10^7 points of 12 bytes "compressed" into 8 bytes: more than LZF can expand, refused before allocating.
  const std::string file = "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 10000000\nDATA binary_compressed\n" +
                           u32(8) + u32(120000000) + std::string(8, '\0');
  EXPECT_PCD_ERROR(file, "uncompressed size 120000000 bytes is absurd for 8 compressed bytes");
}

TEST(PcdErrors, AsciiTokenNotANumber) {
  // header() writes 11 lines; the data starts on line 12.
  EXPECT_PCD_ERROR(header(kXyzi, 3, "ascii") + "1 2 3 4\n1 2 abc 4\n1 2 3 4\n",
                   "line 13: 'abc' (field 'z') is not a number");
  EXPECT_PCD_ERROR(header(kXyzi, 1, "ascii") + "1 2 3 4x\n", "line 12: '4x' (field 'intensity') is not a number");
}

TEST(PcdErrors, AsciiShortAndLongLines) {
  EXPECT_PCD_ERROR(header(kXyzi, 2, "ascii") + "1 2 3 4\n1.5 2.5 3.5\n",
                   "line 13: expected 4 values but found only 3");
  EXPECT_PCD_ERROR(header(kXyzi, 1, "ascii") + "1 2 3 4 5\n", "line 12: more than the 4 values");
}

TEST(PcdErrors, AsciiFewerLinesThanPoints) {
  EXPECT_PCD_ERROR(header(kXyzi, 3, "ascii") + "1 2 3 4\n1 2 3 4\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
                   "truncated: header declares 3 points but only 2 lines of ascii data follow");
}

// Every prefix and many single-byte corruptions of valid files either parse or fail with pointrt::Error (run under
// ASan/UBSan this also checks no byte outside the input is read).
TEST(PcdErrors, TruncationsAndCorruptionsNeverCrash) {
  const std::vector<FieldSpec> fields = {{"x", 4, 'F', 1}, {"y", 8, 'F', 1}, {"z", 2, 'I', 1}, {"n", 1, 'U', 3}};
  const Rows rows = {{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}, {-1, -2, -3, 0, 0, 0}};
  for (const char* kind : kKinds) {
    SCOPED_TRACE(kind);
    const std::string file = pcd(fields, rows, kind);
    for (std::size_t n = 0; n <= file.size(); ++n) {
      // An exact-size copy on the heap so ASan sees a read one past the end.
      const std::vector<std::uint8_t> bytes(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n));
      try {
        pointrt::io::parse_pcd(bytes.data(), bytes.size(), "t.pcd");
      } catch (const pointrt::Error&) {
      }
    }
    for (std::size_t i = 0; i < file.size(); ++i) {
      for (const int v : {0x00, 0xff, 0x20, 0x0a, 0x39}) {
        std::vector<std::uint8_t> bytes(file.begin(), file.end());
        bytes[i] = static_cast<std::uint8_t>(v);
        try {
          pointrt::io::parse_pcd(bytes.data(), bytes.size(), "t.pcd");
        } catch (const pointrt::Error&) {
        }
      }
    }
  }
}

}  // namespace
