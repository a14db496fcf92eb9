#include "models/iassd/weights.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <vector>

#include "pointrt/error.h"

namespace pointrt::models::iassd {
namespace {

constexpr std::size_t kListedUnexpected = 5;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string strip(const std::string& s, const std::string& suffix) { return s.substr(0, s.size() - suffix.size()); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check_metadata(const engine::WeightFile& file, const std::string& file_name) {
  if (file.metadata.empty()) return;
  const auto it = file.metadata.find("format");
  if (it == file.metadata.end()) {
    fail(file_name, "metadata has no \"format\" entry; expected format " + quoted(kWeightFormat));
  }
  if (it->second != kWeightFormat) {
    fail(file_name, "metadata format " + quoted(it->second) + " is not " + quoted(kWeightFormat) +
                        " (not a pointrt IA-SSD weight file; convert the checkpoint first)");
  }
}

void check_finite(const Tensor& t, const std::string& name, const std::string& file_name) {
  const float* p = t.data_as<float>();
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) {
      fail(file_name, "tensor " + quoted(name) + ": element " + std::to_string(i) + " is " +
                          number(static_cast<double>(p[i])) + " (weights must be finite)");
    }
  }
}

void check_running_var(const Tensor& var, float eps, const std::string& name, const std::string& file_name) {
  const float* p = var.data_as<float>();
  for (std::int64_t i = 0; i < var.numel(); ++i) {
    if (!(static_cast<double>(p[i]) + static_cast<double>(eps) > 0.0)) {
      fail(file_name, "tensor " + quoted(name) + ": element " + std::to_string(i) + " is " +
                          number(static_cast<double>(p[i])) + "; running_var + batchnorm_eps (" +
                          number(static_cast<double>(eps)) + ") must be > 0");
    }
  }
}

}  // namespace

const engine::FoldedLinear& IassdWeights::at(const std::string& prefix) const {
  const auto it = layers.find(prefix);
  if (it == layers.end()) fail("IA-SSD weights", "no layer " + quoted(prefix));
  return it->second;
}

IassdWeights load_weights(const IassdConfig& config, const engine::WeightFile& file, const std::string& file_name) {
  check_metadata(file, file_name);

  const std::vector<WeightSpec> specs = expected_weights(config);
  std::map<std::string, const Tensor*> tensors;
  std::set<std::string> used;
  for (const WeightSpec& spec : specs) {
    tensors[spec.name] = &engine::require_tensor(file, spec.name, DType::F32, spec.shape, file_name);
    used.insert(spec.name);
  }

  const std::vector<std::string> extra = engine::unused_tensors(file, used);
  if (!extra.empty()) {
    std::string list;
    for (std::size_t i = 0; i < extra.size() && i < kListedUnexpected; ++i) list += (i ? ", " : "") + extra[i];
    if (extra.size() > kListedUnexpected) {
      list += " (and " + std::to_string(extra.size() - kListedUnexpected) + " more)";
    }
    fail(file_name, "unexpected tensors not used by config " + quoted(config.name) + ": " + list);
  }

  for (const WeightSpec& spec : specs) check_finite(*tensors.at(spec.name), spec.name, file_name);

  // Blocks, in network order: "P.bn.weight" marks a conv block P; "P.bias" without "P.bn.weight" a final linear P.
  IassdWeights weights;
  for (const WeightSpec& spec : specs) {
    if (ends_with(spec.name, ".bn.weight")) {
      const std::string prefix = strip(spec.name, ".bn.weight");
      const std::string var_name = prefix + ".bn.running_var";
      check_running_var(*tensors.at(var_name), config.batchnorm_eps, var_name, file_name);
      weights.layers[prefix] = engine::fold_batchnorm(
          *tensors.at(prefix + ".weight"), *tensors.at(spec.name), *tensors.at(prefix + ".bn.bias"),
          *tensors.at(prefix + ".bn.running_mean"), *tensors.at(var_name), config.batchnorm_eps,
          file_name + ": " + prefix);
    } else if (ends_with(spec.name, ".bias") && !ends_with(spec.name, ".bn.bias")) {
      const std::string prefix = strip(spec.name, ".bias");
      if (tensors.count(prefix + ".bn.weight") != 0) continue;
      const auto weight = tensors.find(prefix + ".weight");
      if (weight == tensors.end()) fail(file_name, "tensor " + quoted(spec.name) + " has no weight tensor");
      weights.layers[prefix] = engine::FoldedLinear{*weight->second, *tensors.at(spec.name)};
    }
  }
  return weights;
}

IassdWeights load_weights(const IassdConfig& config, const std::string& path) {
  return load_weights(config, engine::read_safetensors(path), path);
}

}  // namespace pointrt::models::iassd
