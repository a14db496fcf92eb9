// Tensors on the host (always) and on CUDA (when a GPU is present), plus the deterministic random source.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/random.h"
#include "pointrt/error.h"
#include "pointrt/tensor.h"
#include "support/test_data.h"

using namespace pointrt;

TEST(Tensor, HostZerosShapeAndBytes) {
  Tensor t = Tensor::zeros({2, 16384, 4}, DType::F32);
  EXPECT_EQ(t.rank(), 3);
  EXPECT_EQ(t.dim(1), 16384);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(t.numel(), 2 * 16384 * 4);
  EXPECT_EQ(t.nbytes(), 2u * 16384u * 4u * 4u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 256, 0u);
  const float* p = t.data_as<float>();
  for (std::int64_t i = 0; i < t.numel(); i += 4099) EXPECT_EQ(p[i], 0.f);
  EXPECT_EQ(t.describe(), "f32[2, 16384, 4]@host");
}

TEST(Tensor, DtypeSizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::I32), 4u);
  EXPECT_EQ(dtype_size(DType::I8), 1u);
  EXPECT_STREQ(dtype_name(DType::F16), "f16");
  Tensor h = Tensor::empty({3}, DType::F16);
  EXPECT_EQ(h.nbytes(), 6u);
}

TEST(Tensor, WrongTypedAccessIsAnError) {
  Tensor t = Tensor::zeros({4}, DType::I32);
  EXPECT_NO_THROW(t.data_as<std::int32_t>());
  try {
    t.data_as<float>();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("i32[4]@host: accessed as f32"), std::string::npos) << e.what();
  }
}

TEST(Tensor, ReshapeSharesMemoryAndChecksCount) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = t.reshape({3, 2});
  EXPECT_EQ(r.data(), t.data());
  r.data_as<float>()[5] = 42.f;
  EXPECT_EQ(t.data_as<float>()[5], 42.f);
  EXPECT_THROW(t.reshape({4, 2}), Error);
  EXPECT_THROW(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Error);
}

TEST(Tensor, BadShapesAreErrors) {
  EXPECT_THROW(Tensor::empty({-1, 4}, DType::F32), Error);
  EXPECT_THROW(Tensor::empty({1ll << 40, 1ll << 40}, DType::F32), Error);
  Tensor t = Tensor::zeros({2, 2}, DType::F32);
  EXPECT_THROW(t.dim(2), Error);
  EXPECT_THROW(t.copy_from(Tensor::zeros({4}, DType::F32)), Error);
}

TEST(Tensor, ViewDoesNotOwn) {
  std::vector<std::int8_t> buf = {1, 2, 3, 4};
  Tensor v = Tensor::view(buf.data(), {2, 2}, DType::I8);
  EXPECT_FALSE(v.owns_memory());
  EXPECT_EQ(v.data_as<std::int8_t>()[3], 4);
  Tensor copy = v.to(Device::Host);
  EXPECT_TRUE(copy.owns_memory());
  buf[3] = 9;
  EXPECT_EQ(copy.data_as<std::int8_t>()[3], 4);
}

TEST(Tensor, CudaWithoutAUsableDeviceSaysWhy) {
  if (core::cuda_available()) GTEST_SKIP() << "a CUDA device is present; this case is about its absence";
  try {
    Tensor::empty({4}, DType::F32, Device::CUDA);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

TEST(TensorCuda, RoundTripHostDeviceHost) {
  POINTRT_REQUIRE_CUDA();
  std::vector<float> values(3 * 1000 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.25f - 7.f;
  Tensor host = Tensor::from_vector(values, {3, 1000, 4});
  Tensor dev = host.to(Device::CUDA);
  EXPECT_EQ(dev.device(), Device::CUDA);
  Tensor dev2 = Tensor::zeros({3, 1000, 4}, DType::F32, Device::CUDA);
  dev2.copy_from(dev);  // device to device
  Tensor back = dev2.to(Device::Host);
  const float* p = back.data_as<float>();
  for (std::size_t i = 0; i < values.size(); ++i) ASSERT_EQ(p[i], values[i]) << i;
}

TEST(TensorCuda, ZerosAreZeroAndKernelImageExists) {
  POINTRT_REQUIRE_CUDA();
  EXPECT_NO_THROW(core::cuda_check_kernel_image()) << core::cuda_device_summary();
  Tensor back = Tensor::zeros({1 << 16}, DType::I32, Device::CUDA).to(Device::Host);
  const std::int32_t* p = back.data_as<std::int32_t>();
  for (int i = 0; i < (1 << 16); ++i) ASSERT_EQ(p[i], 0);
}

TEST(Random, SequenceIsFixedBySeed) {
  core::Random a(123), b(123), c(124);
  std::vector<std::uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.below(1000));
    vb.push_back(b.below(1000));
    vc.push_back(c.below(1000));
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  for (auto v : va) EXPECT_LT(v, 1000u);
}

TEST(Random, SampleWithoutReplacementIsDistinctAndCoversTheRange) {
  core::Random r(5);
  const auto s = r.sample_without_replacement(50, 50);
  EXPECT_EQ(std::set<std::uint32_t>(s.begin(), s.end()).size(), 50u);
  const auto t = r.sample_without_replacement(100000, 17);
  EXPECT_EQ(std::set<std::uint32_t>(t.begin(), t.end()).size(), 17u);
  for (auto v : t) EXPECT_LT(v, 100000u);
  EXPECT_THROW(r.sample_without_replacement(3, 4), Error);
}

TEST(Random, BelowIsRoughlyUniform) {
  core::Random r(99);
  std::vector<int> hist(10, 0);
  for (int i = 0; i < 100000; ++i) ++hist[r.below(10)];
  for (int h : hist) EXPECT_NEAR(h, 10000, 500);  // > 5 sigma
}
