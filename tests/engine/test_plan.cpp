// .ptplan files: round trip, and refusal of corrupt, truncated, foreign, newer and other-version plans.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/plan.h"
#include "engine/tiny_network.h"
#include "support/test_data.h"

namespace {

using pointrt::engine::PlanData;
using pointrt::testing::expect_error;

PlanData tiny_plan(int max_batch = 2, bool keep = false) {
  PlanData d;
  d.net = pointrt::testing::tiny_network();
  d.max_batch = max_batch;
  d.keep_intermediates = keep;
  pointrt::engine::finalize_plan(d);
  return d;
}

PlanData parse(const std::string& bytes) {
  return pointrt::engine::parse_plan(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "p.ptplan");
}

// Rewrites the CRC after editing the header or blob, so the test reaches the check behind it.
void fix_crc(std::string& bytes) {
  std::uint64_t header = 0, blob = 0;
  std::memcpy(&header, &bytes[16], 8);
  std::memcpy(&blob, &bytes[24], 8);
  const std::size_t body = (40 + header + 255) / 256 * 256;
  // CRC-32 (zlib polynomial), written out here so the test does not share the implementation it checks
  auto crc_update = [](std::uint32_t crc, const char* p, std::size_t n) {
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) {
      crc ^= static_cast<std::uint8_t>(p[i]);
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
  };
  std::uint32_t crc = crc_update(0, &bytes[40], header);
  crc = crc_update(crc, &bytes[body], blob);
  std::memcpy(&bytes[32], &crc, 4);
}

std::string header_of(const std::string& bytes) {
  std::uint64_t header = 0;
  std::memcpy(&header, &bytes[16], 8);
  return bytes.substr(40, header);
}

// Replaces the header text (same length) and fixes the CRC.
std::string with_header_edit(std::string bytes, const std::string& from, const std::string& to) {
  EXPECT_EQ(from.size(), to.size());
  const std::size_t at = bytes.find(from, 40);
  EXPECT_NE(at, std::string::npos) << from;
  bytes.replace(at, from.size(), to);
  fix_crc(bytes);
  return bytes;
}

TEST(Plan, RoundTripKeepsEverything) {
  const PlanData d = tiny_plan(3, true);
  const std::string bytes = pointrt::engine::serialize_plan(d);
  EXPECT_EQ(bytes.compare(0, 8, "PTRTPLAN"), 0);
  const PlanData r = parse(bytes);
  EXPECT_EQ(r.max_batch, 3);
  EXPECT_TRUE(r.keep_intermediates);
  EXPECT_EQ(r.net.layers.size(), d.net.layers.size());
  EXPECT_EQ(r.memory.offsets, d.memory.offsets);
  ASSERT_EQ(r.net.weights.size(), d.net.weights.size());
  for (std::size_t i = 0; i < d.net.weights.size(); ++i) {
    EXPECT_EQ(r.net.weights[i].name, d.net.weights[i].name);
    ASSERT_EQ(r.net.weights[i].value.nbytes(), d.net.weights[i].value.nbytes());
    EXPECT_EQ(std::memcmp(r.net.weights[i].value.data(), d.net.weights[i].value.data(), d.net.weights[i].value.nbytes()), 0);
  }
  EXPECT_EQ(pointrt::engine::serialize_plan(r), bytes) << "serialisation is deterministic";
  // and through a file
  const std::string dir = pointrt::testing::make_temp_dir("plan");
  pointrt::engine::write_plan(dir + "/t.ptplan", d);
  EXPECT_EQ(pointrt::engine::read_plan(dir + "/t.ptplan").net.name, "tiny");
}

TEST(Plan, RefusesBadFiles) {
  const std::string good = pointrt::engine::serialize_plan(tiny_plan());
  expect_error([&] { parse(good.substr(0, 20)); }, {"p.ptplan", "not a pointrt plan: only 20 bytes"});
  expect_error([&] { parse("GGUF" + good.substr(4)); }, {"p.ptplan", "not a pointrt plan (no PTRTPLAN magic"});
  expect_error([&] { parse(good.substr(0, good.size() - 1)); }, {"p.ptplan", "truncated or has trailing bytes"});
  expect_error([&] { parse(good + "x"); }, {"truncated or has trailing bytes"});
  {
    std::string b = good;
    b[b.size() - 3] ^= 0x10;  // one flipped bit in the weights
    expect_error([&] { parse(b); }, {"p.ptplan", "checksum mismatch", "corrupt"});
  }
  {
    std::string b = good;
    const std::uint32_t v = pointrt::engine::kPlanFormatVersion + 1;
    std::memcpy(&b[8], &v, 4);
    expect_error([&] { parse(b); }, {"p.ptplan", "plan format version 2 is newer", "rebuild"});
  }
  {
    std::string b = good;
    const std::uint64_t h = std::uint64_t{1} << 40;
    std::memcpy(&b[16], &h, 8);
    expect_error([&] { parse(b); }, {"header size", "out of range"});
  }
  {
    const std::string h = header_of(good);
    const std::string v = "\"pointrt_version\":\"";
    const std::size_t at = h.find(v);
    ASSERT_NE(at, std::string::npos);
    const std::string ours = h.substr(at + v.size(), h.find('"', at + v.size()) - at - v.size());
    std::string other = ours;
    other[0] = other[0] == '9' ? '8' : '9';
    expect_error([&] { parse(with_header_edit(good, v + ours, v + other)); },
                 {"p.ptplan", "built by pointrt " + other, "rebuild it"});
  }
  expect_error([&] { parse(with_header_edit(good, "\"target\":\"cpu\"", "\"target\":\"tpu\"")); }, {"unknown plan target 'tpu'"});
  expect_error([&] { parse(with_header_edit(good, "\"kind\":\"mlp\"", "\"kind\":\"mlq\"")); }, {"unknown kind 'mlq'"});
  expect_error([&] { parse(with_header_edit(good, "\"max_out\":16", "\"max_out\":17")); },
               {"invalid network in plan", "layer 'nms'"});
  expect_error([&] { parse(with_header_edit(good, "\"arena_bytes\":", "\"arena_bytez\":")); }, {"malformed plan header"});
}

}  // namespace
