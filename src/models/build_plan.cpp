// Plan::build: the model front ends (only IA-SSD so far) turn a config and its weights into a plan.
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/gpu.h"
#include "engine/executor.h"
#include "engine/plan_impl.h"
#include "models/iassd/network.h"

namespace pointrt {

Plan Plan::build(const std::string& config_path, const std::string& weights_path, const BuildOptions& options) {
  // Which front end: the config's "format".
  const auto bytes = core::read_file_bytes(config_path);
  std::string format;
  try {
    const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    if (j.is_object() && j.contains("format") && j["format"].is_string()) format = j["format"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(config_path, std::string("not valid JSON: ") + e.what());
  }
  if (format != models::iassd::kConfigFormat) {
    fail(config_path, "unknown model format '" + format + "' (this pointrt builds: " + models::iassd::kConfigFormat + ")");
  }
  const models::iassd::IassdConfig config =
      models::iassd::parse_config(std::string(bytes.begin(), bytes.end()), config_path);
  const models::iassd::IassdWeights weights = models::iassd::load_weights(config, weights_path);

  engine::PlanData data;
  data.net = models::iassd::build_network(config, weights, precision_name(options.precision));
  data.max_batch = options.max_batch;
  data.keep_intermediates = options.keep_intermediates;
  Target target = options.target;
  if (target == Target::Auto) target = core::cuda_available() ? Target::CUDA : Target::CPU;
  if (target == Target::CUDA) {
    const std::string why = core::cuda_unavailable_reason();
    if (!why.empty()) fail("build", "cannot build a CUDA plan: " + why + " (use --device cpu)");
    data.target = engine::PlanTarget::CUDA;
    data.arch = engine::cuda_device_arch(&data.device_name);
  } else {
    data.target = engine::PlanTarget::CPU;
  }
  engine::finalize_plan(data);
  return engine::make_plan(std::move(data));
}

}  // namespace pointrt
