// Tests of the safetensors reader and writer (engine/safetensors.h): round trips of every dtype, a file laid out
// byte by byte the way PyTorch's safetensors writes it, one test per kind of bad input (checking that the message
// names the file, the tensor and the reason), and the loader helpers require_tensor / unused_tensors.
#include "engine/safetensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pointrt/error.h"
#include "support/test_data.h"

namespace {

using pointrt::DType;
using pointrt::Shape;
using pointrt::Tensor;
using pointrt::engine::parse_safetensors;
using pointrt::engine::read_safetensors;
using pointrt::engine::require_tensor;
using pointrt::engine::serialize_safetensors;
using pointrt::engine::unused_tensors;
using pointrt::engine::WeightFile;
using pointrt::engine::write_safetensors;
using pointrt::testing::expect_error;

const std::string kName = "weights.safetensors";

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) {
    s.push_back(static_cast<char>(v & 0xffu));
    v >>= 8;
  }
  return s;
}

// A file: length prefix, `header` as given (no padding added), `data`.
std::string file_bytes(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

WeightFile parse(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), kName);
}

void expect_bad(const std::string& bytes, std::vector<std::string> parts) {
  parts.insert(parts.begin(), kName + ": ");
  expect_error([&] { parse(bytes); }, parts);
}

std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const pointrt::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string bytes_of(const Tensor& t) { return std::string(static_cast<const char*>(t.data()), t.nbytes()); }

// One valid f32 [2] tensor entry named `name` at [begin, begin + 8).
std::string f32x2(const std::string& name, int begin) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(begin + 8) + "]}";
}

// ---- round trips ------------------------------------------------------------------------------------------------

TEST(Safetensors, RoundTripAllDTypesAndMetadata) {
  std::map<std::string, Tensor> tensors;
  tensors["conv.weight"] = Tensor::from_vector<float>({1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f}, {2, 3});
  Tensor half = Tensor::empty({4}, DType::F16);
  const std::uint16_t half_bits[4] = {0x3C00, 0xC000, 0x7C00, 0x0001};  // 1, -2, +inf, smallest subnormal
  std::memcpy(half.data(), half_bits, sizeof half_bits);
  tensors["half"] = half;
  tensors["ids"] = Tensor::from_vector<std::int32_t>(
      {0, -1, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()}, {2, 2});
  tensors["q"] = Tensor::from_vector<std::int8_t>({-128, -1, 0, 1, 127}, {5});
  tensors["empty"] = Tensor::empty({0, 4}, DType::F32);
  tensors["scalar"] = Tensor::from_vector<float>({42.0f}, {});
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"note", "quotes \" and \\ backslash, \xc3\xbcnicode, tab\t"}, {"empty", ""}};

  const std::string dir = pointrt::testing::make_temp_dir("safetensors");
  const std::string path = dir + "/w.safetensors";
  write_safetensors(path, tensors, metadata);
  const WeightFile back = read_safetensors(path);

  EXPECT_EQ(back.metadata, metadata);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_EQ(back.tensors.count(name), 1u);
    const Tensor u = back.tensors.at(name);
    EXPECT_EQ(u.dtype(), t.dtype());
    EXPECT_EQ(u.shape(), t.shape());
    EXPECT_EQ(u.device(), pointrt::Device::Host);
    EXPECT_TRUE(t.numel() == 0 || u.owns_memory());
    EXPECT_EQ(bytes_of(u), bytes_of(t));
  }
  std::uint16_t back_bits[4];
  std::memcpy(back_bits, back.tensors.at("half").data(), sizeof back_bits);
  EXPECT_EQ(std::vector<std::uint16_t>(back_bits, back_bits + 4), std::vector<std::uint16_t>(half_bits, half_bits + 4));

  // The data buffer starts 8-byte aligned and the file is exactly header + data.
  const auto size = std::filesystem::file_size(path);
  const std::string bytes = serialize_safetensors(tensors, metadata, path);
  ASSERT_EQ(bytes.size(), size);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  EXPECT_EQ(size, 8 + header_len + 24 + 8 + 16 + 5 + 0 + 4);
  std::filesystem::remove_all(dir);
}

TEST(Safetensors, WriterLayoutIsExact) {
  std::map<std::string, Tensor> tensors;
  tensors["b"] = Tensor::from_vector<std::int8_t>({1, 2, 3}, {3});
  tensors["a"] = Tensor::from_vector<std::int32_t>({7}, {1});
  const std::string header =
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[4,7]}}";
  std::string padded = header;
  while ((8 + padded.size()) % 8 != 0) padded += ' ';
  const std::string expected = file_bytes(padded, std::string("\x07\x00\x00\x00\x01\x02\x03", 7));
  EXPECT_EQ(serialize_safetensors(tensors, {{"k", "v"}}, kName), expected);
}

TEST(Safetensors, EmptyFileRoundTrip) {
  const std::string bytes = serialize_safetensors({}, {}, kName);
  EXPECT_EQ(bytes, file_bytes("{}      "));
  const WeightFile w = parse(bytes);
  EXPECT_TRUE(w.tensors.empty());
  EXPECT_TRUE(w.metadata.empty());
}

// What `safetensors.torch.save_file({"weight": ..., "bias": ...}, path)` writes, byte by byte: the header JSON with
// "__metadata__" first, padded with spaces so the data starts at a multiple of 8, then little-endian f32 data.
TEST(Safetensors, ReadsPyTorchConventionFile) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})"
      "   ";  // 149 bytes of JSON + 3 spaces = 152 = 0x98
  ASSERT_EQ(header.size(), 152u);
  const std::string length("\x98\x00\x00\x00\x00\x00\x00\x00", 8);
  const std::string data(
      "\x00\x00\x80\x3f"   // bias[0]   =  1.0
      "\x00\x00\x20\xc0"   // bias[1]   = -2.5
      "\x00\x00\x00\x3f"   // weight[0] =  0.5
      "\x00\x00\x40\x40"   // weight[1] =  3.0
      "\x00\x00\x80\xbf"   // weight[2] = -1.0
      "\x00\x00\x00\x00",  // weight[3] =  0.0
      24);
  const std::string dir = pointrt::testing::make_temp_dir("safetensors_pt");
  const std::string path = dir + "/model.safetensors";
  pointrt::testing::write_file(path, length + header + data);

  const WeightFile w = read_safetensors(path);
  EXPECT_EQ(w.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(w.tensors.size(), 2u);
  const Tensor bias = require_tensor(w, "bias", DType::F32, {2}, path);
  const Tensor weight = require_tensor(w, "weight", DType::F32, {2, 2}, path);
  EXPECT_EQ(std::vector<float>(bias.data_as<float>(), bias.data_as<float>() + 2), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(std::vector<float>(weight.data_as<float>(), weight.data_as<float>() + 4),
            (std::vector<float>{0.5f, 3.0f, -1.0f, 0.0f}));
  std::filesystem::remove_all(dir);
}

TEST(Safetensors, AcceptsZeroSizedTensorsAnywhere) {
  // Empty tensors may share an offset with each other and with the start or end of a real tensor.
  const std::string header =
      "{" + f32x2("a", 0) + R"(,"e0":{"dtype":"I8","shape":[0],"data_offsets":[0,0]},)" +
      R"("e1":{"dtype":"F16","shape":[3,0],"data_offsets":[0,0]},)" +
      R"("e2":{"dtype":"I32","shape":[0],"data_offsets":[8,8]}}  )";
  const WeightFile w = parse(file_bytes(header, std::string(8, '\0')));
  ASSERT_EQ(w.tensors.size(), 4u);
  EXPECT_EQ(w.tensors.at("e1").shape(), (Shape{3, 0}));
  EXPECT_EQ(w.tensors.at("e1").numel(), 0);
}

TEST(Safetensors, AcceptsWhitespaceAndAnyKeyOrder) {
  const std::string header =
      "\n { \"x\" : { \"data_offsets\" : [ 0 , 4 ] , \"shape\" : [ ] , \"dtype\" : \"I32\" } ,"
      " \"__metadata__\" : { } }\t\n   ";
  const WeightFile w = parse(file_bytes(header, std::string("\x01\x00\x00\x00", 4)));
  EXPECT_EQ(w.tensors.at("x").data_as<std::int32_t>()[0], 1);
}

// ---- bad input: framing ---------------------------------------------------------------------------------------

TEST(SafetensorsBad, Truncated) {
  expect_bad(std::string("\x02\x00\x00\x00\x00", 5), {"file is 5 bytes", "too short"});
  expect_error([] { parse_safetensors(nullptr, 0, kName); }, {kName, "file is 0 bytes", "too short"});
}

TEST(SafetensorsBad, HeaderLongerThanCap) {
  expect_bad(le64((std::uint64_t{100} << 20) + 1) + "{}", {"header length 104857601 bytes exceeds the limit"});
  expect_bad(le64(std::numeric_limits<std::uint64_t>::max()) + "{}", {"header length", "exceeds the limit"});
}

TEST(SafetensorsBad, HeaderPastEndOfFile) {
  expect_bad(le64(100) + "{}", {"header length 100 bytes runs past the end of the 10-byte file"});
}

TEST(SafetensorsBad, HeaderNotJson) {
  expect_bad(file_bytes("{\"a\": nope}"), {"header is not valid JSON"});
  expect_bad(file_bytes(""), {"header is not valid JSON"});
  expect_bad(file_bytes("{} trailing"), {"header is not valid JSON"});
  // nlohmann would stop at a NUL byte and accept what came before it; the reader refuses NUL anywhere.
  expect_bad(file_bytes(std::string("{}\0\0", 4)), {"header is not valid JSON: NUL byte at header offset 2"});
  expect_bad(file_bytes(std::string("{\0}", 3)), {"header is not valid JSON: NUL byte at header offset 1"});
  expect_bad(file_bytes("{\"\xff\xfe\":{}}"), {"header is not valid JSON"});          // invalid UTF-8
}

TEST(SafetensorsBad, HeaderNotObject) {
  expect_bad(file_bytes("[1, 2]"), {"header is not a JSON object"});
  expect_bad(file_bytes("\"text\""), {"header is not a JSON object"});
  expect_bad(file_bytes("null"), {"header is not a JSON object"});
}

TEST(SafetensorsBad, MetadataNotObjectOfStrings) {
  expect_bad(file_bytes(R"({"__metadata__":["a"]})"), {"__metadata__ is not a JSON object"});
  expect_bad(file_bytes(R"({"__metadata__":{"epoch":3}})"), {"__metadata__ value of 'epoch' is not a string"});
  expect_bad(file_bytes(R"({"__metadata__":{"a":"b","n":null}})"), {"__metadata__ value of 'n' is not a string"});
}

// ---- bad input: tensor entries ---------------------------------------------------------------------------------

TEST(SafetensorsBad, EntryNotObject) {
  expect_bad(file_bytes(R"({"w":[0,8]})"), {"tensor 'w': header entry is not a JSON object"});
}

TEST(SafetensorsBad, MissingDtype) {
  expect_bad(file_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             {"tensor 'w': missing 'dtype'"});
}

TEST(SafetensorsBad, MissingShape) {
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, '\0')),
             {"tensor 'w': missing 'shape'"});
}

TEST(SafetensorsBad, MissingOffsets) {
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, '\0')),
             {"tensor 'w': missing 'data_offsets'"});
}

TEST(SafetensorsBad, UnknownKey) {
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"strides":[1]}})",
                        std::string(8, '\0')),
             {"tensor 'w': unknown key 'strides'"});
}

TEST(SafetensorsBad, UnsupportedDtype) {
  for (const std::string dtype : {"BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "f32", ""}) {
    SCOPED_TRACE(dtype);
    expect_bad(file_bytes(R"({"x":{"dtype":")" + dtype + R"(","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
               {"unsupported dtype '" + dtype + "' of tensor 'x'", "F32, F16, I32, I8"});
  }
  expect_bad(file_bytes(R"({"x":{"dtype":1,"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             {"tensor 'x': dtype is not a string"});
}

TEST(SafetensorsBad, NegativeShape) {
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})", std::string(8, '\0')),
             {"tensor 'w': shape dimension 1 is not a non-negative integer"});
}

TEST(SafetensorsBad, NonIntegerShape) {
  for (const std::string dim : {"2.0", "\"2\"", "null", "[2]", "1e1", "18446744073709551616"}) {
    SCOPED_TRACE(dim);
    expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[)" + dim + R"(],"data_offsets":[0,8]}})", std::string(8, '\0')),
               {"tensor 'w': shape dimension 0 is not a non-negative integer"});
  }
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", std::string(8, '\0')),
             {"tensor 'w': shape is not a JSON array"});
}

TEST(SafetensorsBad, ShapeOverflow) {
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})"),
             {"tensor 'w': element count of the shape overflows"});
  expect_bad(file_bytes(R"({"w":{"dtype":"I8","shape":[9223372036854775808],"data_offsets":[0,8]}})"),
             {"tensor 'w': shape dimension 0 (9223372036854775808) is too large"});
  // A dimension of 0 after the overflow does not rescue it (the running product overflows first).
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})"),
             {"tensor 'w': element count of the shape overflows"});
}

TEST(SafetensorsBad, MalformedOffsets) {
  for (const std::string offsets : {"[0]", "[0,8,16]", "[-1,7]", "[0,8.0]", "{}", "\"0-8\""}) {
    SCOPED_TRACE(offsets);
    expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets + "}}", std::string(8, '\0')),
               {"tensor 'w': data_offsets is not [begin, end] with two non-negative integers"});
  }
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::string(8, '\0')),
             {"tensor 'w': data_offsets [8, 0] have begin > end"});
}

TEST(SafetensorsBad, SizeMismatch) {
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", std::string(20, '\0')),
             {"tensor 'w': f32[2, 3] needs 24 bytes but data_offsets [0, 20] hold 20"});
  // Offsets near 2^64: end - begin is computed without wrapping and compared as is.
  expect_bad(file_bytes(R"({"w":{"dtype":"F16","shape":[4],"data_offsets":[0,18446744073709551615]}})"),
             {"tensor 'w': f16[4] needs 8 bytes but data_offsets [0, 18446744073709551615] hold 18446744073709551615"});
}

TEST(SafetensorsBad, OffsetsOutOfBounds) {
  expect_bad(file_bytes("{" + f32x2("w", 0) + "}", std::string(4, '\0')),
             {"tensor 'w': data_offsets [0, 8] lie outside the 4-byte data buffer"});
  expect_bad(file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551607,18446744073709551615]}})",
                        std::string(8, '\0')),
             {"tensor 'w': data_offsets [18446744073709551607, 18446744073709551615] lie outside the 8-byte"});
  expect_bad(file_bytes(R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[9,9]}})", std::string(8, '\0')),
             {"tensor 'z': data_offsets [9, 9] lie outside the 8-byte data buffer"});
}

TEST(SafetensorsBad, Overlap) {
  expect_bad(file_bytes("{" + f32x2("a", 0) + "," + f32x2("b", 4) + "}", std::string(12, '\0')),
             {"tensors 'a' [0, 8] and 'b' [4, 12] overlap in the data buffer"});
  // Two tensors over the same bytes.
  expect_bad(file_bytes("{" + f32x2("a", 0) + "," + f32x2("b", 0) + "}", std::string(8, '\0')),
             {"tensors 'a' [0, 8] and 'b' [0, 8] overlap"});
}

TEST(SafetensorsBad, Gap) {
  expect_bad(file_bytes("{" + f32x2("a", 0) + "," + f32x2("b", 12) + "}", std::string(20, '\0')),
             {"gap in the data buffer: bytes [8, 12) before tensor 'b' belong to no tensor"});
  expect_bad(file_bytes("{" + f32x2("a", 4) + "}", std::string(12, '\0')),
             {"gap in the data buffer: bytes [0, 4) before tensor 'a'"});
}

TEST(SafetensorsBad, TrailingBytes) {
  expect_bad(file_bytes("{" + f32x2("a", 0) + "}", std::string(11, '\0')),
             {"3 trailing bytes after the last tensor (tensors end at byte 8 of the 11-byte data buffer)"});
  expect_bad(file_bytes("{}", "xyz"), {"the header lists no tensors but the data buffer holds 3 bytes"});
  expect_bad(file_bytes(R"({"__metadata__":{"a":"b"}})", "x"), {"no tensors but the data buffer holds 1 bytes"});
}

TEST(SafetensorsBad, DuplicateName) {
  // nlohmann::json would keep the last entry silently; the reader tracks keys while parsing and refuses.
  expect_bad(file_bytes("{" + f32x2("w", 0) + "," + f32x2("w", 8) + "}", std::string(16, '\0')),
             {"duplicate entry 'w' in the header"});
  expect_bad(file_bytes(R"({"__metadata__":{},"__metadata__":{}})"), {"duplicate entry '__metadata__' in the header"});
}

TEST(SafetensorsBad, DuplicateKeyInsideEntry) {
  expect_bad(file_bytes(R"({"w":{"dtype":"I8","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             {"duplicate key 'dtype' inside the header entry 'w'"});
  expect_bad(file_bytes(R"({"__metadata__":{"k":"1","k":"2"}})"), {"duplicate key 'k' inside the header entry '__metadata__'"});
  // The same key in two different objects is fine.
  const WeightFile w = parse(file_bytes(R"({"__metadata__":{"dtype":"x"},"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "\x05"));
  EXPECT_EQ(w.tensors.at("a").data_as<std::int8_t>()[0], 5);
}

TEST(SafetensorsBad, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = "{\"w\":" + std::string(20000, '[') + std::string(20000, ']') + "}";
  expect_bad(file_bytes(deep), {"tensor 'w': header entry is not a JSON object"});
}

TEST(SafetensorsBad, ReadMissingFileOrDirectory) {
  const std::string dir = pointrt::testing::make_temp_dir("safetensors_missing");
  expect_error([&] { read_safetensors(dir + "/nope.safetensors"); }, {dir + "/nope.safetensors: no such file"});
  expect_error([&] { read_safetensors(dir); }, {dir + ": is a directory"});
  std::filesystem::remove_all(dir);
}

// ---- writer errors ------------------------------------------------------------------------------------------------

TEST(SafetensorsWrite, RefusesBadInput) {
  expect_error([] { serialize_safetensors({{"__metadata__", Tensor::zeros({1}, DType::F32)}}, {}, kName); },
               {kName, "a tensor cannot be called '__metadata__'"});
  expect_error([] { serialize_safetensors({{"w", Tensor()}}, {}, kName); }, {kName, "tensor 'w': is undefined"});
  expect_error([] { serialize_safetensors({}, {{"k", "\xff"}}, kName); }, {kName, "metadata value of 'k' is not valid UTF-8"});
  expect_error([] { serialize_safetensors({{"\xc3", Tensor::zeros({1}, DType::F32)}}, {}, kName); },
               {kName, "is not valid UTF-8"});
  const std::string dir = pointrt::testing::make_temp_dir("safetensors_write");
  expect_error([&] { write_safetensors(dir + "/no/such/dir/w.safetensors", {}, {}); },
               {dir + "/no/such/dir/w.safetensors: cannot open the file for writing"});
  std::filesystem::remove_all(dir);
}

// ---- loader helpers ---------------------------------------------------------------------------------------------

TEST(SafetensorsHelpers, RequireTensor) {
  WeightFile w;
  w.tensors["sa.0.weight"] = Tensor::zeros({256, 130}, DType::F32);
  w.tensors["ids"] = Tensor::zeros({4}, DType::I32);
  EXPECT_EQ(&require_tensor(w, "ids", DType::I32, {4}, "m.safetensors"), &w.tensors.at("ids"));
  EXPECT_EQ(error_message([&] { require_tensor(w, "sa.0.weight", DType::F32, {256, 131}, "m.safetensors"); }),
            "m.safetensors: tensor 'sa.0.weight': expected f32[256, 131], got f32[256, 130]");
  EXPECT_EQ(error_message([&] { require_tensor(w, "ids", DType::F32, {4}, "m.safetensors"); }),
            "m.safetensors: tensor 'ids': expected f32[4], got i32[4]");
  EXPECT_EQ(error_message([&] { require_tensor(w, "sa.0.bias", DType::F32, {256}, "m.safetensors"); }),
            "m.safetensors: missing tensor 'sa.0.bias'");
}

TEST(SafetensorsHelpers, UnusedTensors) {
  WeightFile w;
  for (const char* name : {"c", "a", "b", "d"}) w.tensors[name] = Tensor::zeros({1}, DType::F32);
  EXPECT_EQ(unused_tensors(w, {"a", "c", "not-there"}), (std::vector<std::string>{"b", "d"}));
  EXPECT_TRUE(unused_tensors(w, {"a", "b", "c", "d"}).empty());
  EXPECT_TRUE(unused_tensors(WeightFile{}, {}).empty());
}

}  // namespace
