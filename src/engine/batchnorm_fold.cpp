#include "engine/batchnorm_fold.h"

#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "pointrt/error.h"

namespace pointrt::engine {
namespace {

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check_host_f32(const Tensor& t, const char* what, const Shape& shape, const std::string& name) {
  if (!t.defined() || t.dtype() != DType::F32 || t.device() != Device::Host || t.shape() != shape) {
    fail(name, std::string(what) + ": expected f32" + shape_string(shape) + "@host, got " +
                   (t.defined() ? t.describe() : std::string("an undefined tensor")));
  }
}

void check_finite(const Tensor& t, const char* what, const std::string& name) {
  const float* p = t.data_as<float>();
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) fail(name, std::string(what) + ": element " + std::to_string(i) + " is " +
                                             number(static_cast<double>(p[i])) + " (values must be finite)");
  }
}

}  // namespace

FoldedLinear fold_batchnorm(const Tensor& weight, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                            const Tensor& var, float eps, const std::string& name) {
  if (!weight.defined() || weight.dtype() != DType::F32 || weight.device() != Device::Host || weight.rank() != 2) {
    fail(name, "weight: expected f32[out, in]@host, got " +
                   (weight.defined() ? weight.describe() : std::string("an undefined tensor")));
  }
  const std::int64_t out = weight.dim(0);
  const std::int64_t in = weight.dim(1);
  const Shape channel{out};
  check_host_f32(gamma, "gamma", channel, name);
  check_host_f32(beta, "beta", channel, name);
  check_host_f32(mean, "running_mean", channel, name);
  check_host_f32(var, "running_var", channel, name);
  if (!std::isfinite(eps) || eps < 0.0f) fail(name, "eps must be finite and >= 0, got " + number(eps));
  check_finite(weight, "weight", name);
  check_finite(gamma, "gamma", name);
  check_finite(beta, "beta", name);
  check_finite(mean, "running_mean", name);
  check_finite(var, "running_var", name);

  const float* w = weight.data_as<float>();
  const float* g = gamma.data_as<float>();
  const float* b = beta.data_as<float>();
  const float* m = mean.data_as<float>();
  const float* v = var.data_as<float>();

  FoldedLinear folded{Tensor::empty({out, in}, DType::F32), Tensor::empty({out}, DType::F32)};
  float* fw = folded.weight.data_as<float>();
  float* fb = folded.bias.data_as<float>();
  for (std::int64_t o = 0; o < out; ++o) {
    const double denom = static_cast<double>(v[o]) + static_cast<double>(eps);
    if (!(denom > 0.0)) {
      fail(name, "running_var: element " + std::to_string(o) + " is " + number(static_cast<double>(v[o])) +
                     "; running_var + eps (eps " + number(static_cast<double>(eps)) + ") must be > 0");
    }
    const double scale = static_cast<double>(g[o]) / std::sqrt(denom);
    for (std::int64_t i = 0; i < in; ++i) {
      const float value = static_cast<float>(static_cast<double>(w[o * in + i]) * scale);
      if (!std::isfinite(value)) {
        fail(name, "folded weight [" + std::to_string(o) + ", " + std::to_string(i) + "] overflows float32");
      }
      fw[o * in + i] = value;
    }
    const float bias = static_cast<float>(static_cast<double>(b[o]) - static_cast<double>(m[o]) * scale);
    if (!std::isfinite(bias)) fail(name, "folded bias [" + std::to_string(o) + "] overflows float32");
    fb[o] = bias;
  }
  return folded;
}

}  // namespace pointrt::engine
