// pointrt — per-layer profiles.
//
// A Profile holds every layer's time for each profiled iteration (CUDA events on the GPU, the host clock on the
// CPU). table() groups the layers as users of the TensorRT deployment know them:
//
//   name | layers | average (ms) | median (ms) | percentage (%)
//
// with the groups HAVSampling, FPSampling, BallQuery, Grouping+MLP, TopK, Vote, Head, NMSBEV, Others and a Total
// row. A group's average and median are over iterations of the sum of its layers' times; its percentage is its
// average over the total average.
#pragma once

#include <string>
#include <vector>

namespace pointrt {

struct LayerProfile {
  std::string name;        // e.g. "sa1.grouper1.mlp"
  std::string kind;        // e.g. "sa_mlp"
  std::string group;       // e.g. "Grouping+MLP"
  std::vector<double> ms;  // one time per iteration
};

struct GroupProfile {
  std::string name;
  int layers = 0;
  double average_ms = 0;
  double median_ms = 0;
  double percentage = 0;
};

struct Profile {
  std::string device;  // e.g. "NVIDIA H200 (sm_90, ...)" or "CPU, 2 threads"
  int batch = 1;
  int iterations = 0;
  std::vector<LayerProfile> layers;

  // Groups in the fixed order above (absent groups omitted), then "Total".
  std::vector<GroupProfile> groups() const;
  // The grouped table as Markdown.
  std::string table() const;
  // Per-layer JSON: {"device", "batch", "iterations", "layers": [{"name", "kind", "group", "average_ms",
  // "median_ms", "ms": [...]}], "groups": [...]}.
  std::string json() const;
};

// Median and p-th percentile (nearest rank, p in [0, 100]) of samples; 0 for none.
double median_of(std::vector<double> samples);
double percentile_of(std::vector<double> samples, double p);

}  // namespace pointrt
