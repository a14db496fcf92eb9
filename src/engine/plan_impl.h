// The inside of pointrt::Plan (shared by the engine and the model front ends that build plans).
#pragma once

#include "engine/plan.h"
#include "pointrt/engine.h"

namespace pointrt {

struct Plan::Impl {
  engine::PlanData data;
  ModelInfo model;
};

namespace engine {
// Wraps finished plan data (finalize_plan already applied) into a public Plan; reads ModelInfo from net.model.
Plan make_plan(PlanData data);
}  // namespace engine

}  // namespace pointrt
