// IA-SSD config + weights -> engine::Network (the layer list of spec/model-iassd.md §7).
//
// Tensor names follow the PyTorch reference's intermediate names (python/pointrt_ref/model.py): input.points,
// sa1.indices, sa1.xyz, sa1.grouper0.cnt, sa1.grouper0.idx, sa1.concat, sa1.features, sa3.sampler.logits,
// vote.indices, vote.ctr_xyz, vote.ctr_features, vote.offsets, vote.centers, vote_sa.features, head.shared, head.cls,
// head.reg, decode.boxes, decode.scores, out.boxes, out.scores, out.nums. Each grouper's fused gather+MLP+max layer
// writes its slice of the layer's concat tensor, so the concatenation costs nothing.
#pragma once

#include "engine/network.h"
#include "models/iassd/config.h"
#include "models/iassd/weights.h"

namespace pointrt::models::iassd {

// `grouper_math` is the "math" attribute of the fused grouper layers: "fp32" or "tf32x3".
engine::Network build_network(const IassdConfig& config, const IassdWeights& weights,
                              const std::string& grouper_math = "fp32");

}  // namespace pointrt::models::iassd
