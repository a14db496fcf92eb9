#include "pointrt/profiler.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace pointrt {
namespace {
const char* const kGroupOrder[] = {"HAVSampling", "FPSampling", "BallQuery", "Grouping+MLP", "TopK",
                                   "Vote",        "Head",       "NMSBEV",    "Others"};
double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}
}  // namespace

double percentile_of(std::vector<double> samples, double p) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(samples.size()));
  const std::size_t i = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(samples.size()))) - 1;
  return samples[i];
}

double median_of(std::vector<double> samples) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

std::vector<GroupProfile> Profile::groups() const {
  std::map<std::string, std::vector<double>> sums;
  std::map<std::string, int> counts;
  std::vector<double> total(static_cast<std::size_t>(iterations), 0.0);
  for (const auto& l : layers) {
    auto& s = sums[l.group];
    s.resize(static_cast<std::size_t>(iterations), 0.0);
    counts[l.group] += 1;
    for (int i = 0; i < iterations && i < static_cast<int>(l.ms.size()); ++i) {
      s[static_cast<std::size_t>(i)] += l.ms[static_cast<std::size_t>(i)];
      total[static_cast<std::size_t>(i)] += l.ms[static_cast<std::size_t>(i)];
    }
  }
  const double total_avg = mean_of(total);
  std::vector<GroupProfile> out;
  auto add = [&](const std::string& name) {
    const auto& s = sums[name];
    GroupProfile g{name, counts[name], mean_of(s), median_of(s), total_avg > 0 ? 100.0 * mean_of(s) / total_avg : 0.0};
    out.push_back(g);
  };
  for (const char* g : kGroupOrder) {
    if (counts.count(g) != 0) add(g);
  }
  for (const auto& [name, n] : counts) {  // groups outside the fixed list, alphabetically
    if (std::find(std::begin(kGroupOrder), std::end(kGroupOrder), name) == std::end(kGroupOrder)) add(name);
  }
  out.push_back({"Total", static_cast<int>(layers.size()), total_avg, median_of(total), 100.0});
  return out;
}

std::string Profile::table() const {
  std::string s = fmt::format("| name | layers | average (ms) | median (ms) | percentage (%) |\n|---|---:|---:|---:|---:|\n");
  for (const auto& g : groups()) {
    s += fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.1f} |\n", g.name, g.layers, g.average_ms, g.median_ms, g.percentage);
  }
  return s;
}

std::string Profile::json() const {
  nlohmann::json j;
  j["device"] = device;
  j["batch"] = batch;
  j["iterations"] = iterations;
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& l : layers) {
    ls.push_back({{"name", l.name}, {"kind", l.kind}, {"group", l.group}, {"average_ms", mean_of(l.ms)},
                  {"median_ms", median_of(l.ms)}, {"ms", l.ms}});
  }
  j["layers"] = ls;
  nlohmann::json gs = nlohmann::json::array();
  for (const auto& g : groups()) {
    gs.push_back({{"name", g.name}, {"layers", g.layers}, {"average_ms", g.average_ms}, {"median_ms", g.median_ms},
                  {"percentage", g.percentage}});
  }
  j["groups"] = gs;
  return j.dump(1);
}

}  // namespace pointrt
