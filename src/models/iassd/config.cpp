// IA-SSD model config: parsing, validation, derived widths and the expected weight list (see config.h and
// docs/model-config.md).
#include "models/iassd/config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "pointrt/error.h"

namespace pointrt::models::iassd {
namespace {

using Json = nlohmann::ordered_json;

// Limits that keep every derived size small and every later allocation sane; far above any real model.
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{16} << 20;  // 16 MiB
constexpr int kMaxDepth = 32;                                       // JSON nesting
constexpr std::int64_t kMaxPoints = std::int64_t{1} << 24;          // input.num_points
constexpr std::int64_t kMaxWidth = 65536;                           // any MLP / FC / aggregation width
constexpr std::int64_t kMaxNsample = 1024;                          // neighbours per ball
constexpr std::int64_t kMaxLayers = 16;                             // SA layers, groupers per layer
constexpr std::int64_t kMaxClasses = 1024;
constexpr std::int64_t kMaxHeadingBins = 1024;
constexpr std::int64_t kMaxIter = 1000;  // havs bisection passes
constexpr std::int64_t kMaxNameLength = 64;

std::string in_quotes(const std::string& s) {
  constexpr std::size_t kShown = 60;
  if (s.size() <= kShown) return "\"" + s + "\"";
  return "\"" + s.substr(0, kShown) + "...\"";
}

std::string format_number(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  return Json(d).dump();  // shortest round-trip form: -0.8, 1e-05
}

// "a string (\"16\")", "an array", ... — never dumps a container (which could be deeply nested or huge).
std::string describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return std::string("a boolean (") + (v.get<bool>() ? "true" : "false") + ")";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer (" + v.dump() + ")";
    case Json::value_t::number_float:
      return "a number (" + format_number(v.get<double>()) + ")";
    case Json::value_t::string:
      return "a string (" + in_quotes(v.get<std::string>()) + ")";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

// The value itself for range messages ("-0.8", "0", "\"fps\"").
std::string shown(const Json& v) {
  if (v.is_number_float()) return format_number(v.get<double>());
  if (v.is_number() || v.is_boolean() || v.is_null()) return v.dump();
  if (v.is_string()) return in_quotes(v.get<std::string>());
  return describe(v);
}

std::string member(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}
std::string element(const std::string& parent, std::size_t i) { return parent + "[" + std::to_string(i) + "]"; }

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// Reads typed values out of the parsed document; every failure names the file and the JSON path.
class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}

  [[noreturn]] void fail(const std::string& path, const std::string& reason) const {
    pointrt::fail(file_, (path.empty() ? std::string("top level") : path) + ": " + reason);
  }

  // `v` must be an object whose keys are all in `allowed` (typo protection); `context` qualifies the message.
  void object(const Json& v, const std::string& path, const std::vector<std::string>& allowed,
              const std::string& context = "") const {
    if (!v.is_object()) fail(path, "must be an object, got " + describe(v));
    for (const auto& item : v.items()) {
      bool known = false;
      for (const std::string& key : allowed) known = known || key == item.key();
      if (!known) {
        fail(member(path, item.key()),
             "unknown field" + (context.empty() ? "" : " " + context) + "; allowed keys: " + join(allowed, ", "));
      }
    }
  }

  const Json& require(const Json& obj, const std::string& path, const std::string& key) const {
    const auto it = obj.find(key);
    if (it == obj.end()) fail(member(path, key), "required field is missing");
    return *it;
  }

  const Json& array(const Json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "must be an array, got " + describe(v));
    return v;
  }

  std::int64_t integer(const Json& v, const std::string& path, std::int64_t lo, std::int64_t hi,
                       const std::string& note = "") const {
    if (!v.is_number_integer()) fail(path, "must be an integer, got " + describe(v));
    bool in_range = false;
    std::int64_t value = 0;
    if (v.is_number_unsigned()) {
      const std::uint64_t u = v.get<std::uint64_t>();
      in_range = u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      if (in_range) value = static_cast<std::int64_t>(u);
    } else {
      value = v.get<std::int64_t>();
      in_range = true;
    }
    if (!in_range || value < lo || value > hi) {
      std::string rule = hi == std::numeric_limits<std::int64_t>::max()
                             ? "must be an integer >= " + std::to_string(lo)
                             : "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
      fail(path, rule + (note.empty() ? "" : " " + note) + ", got " + v.dump());
    }
    return value;
  }

  int integer32(const Json& v, const std::string& path, std::int64_t lo, std::int64_t hi,
                const std::string& note = "") const {
    return static_cast<int>(integer(v, path, lo, hi, note));
  }

  double number(const Json& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "must be a number, got " + describe(v));
    return v.get<double>();
  }

  // A float32 value; `finite` is checked after the conversion (1e39 is finite as a double, not as a float).
  float finite_float(const Json& v, const std::string& path, const std::string& rule) const {
    const double d = number(v, path);
    const float f = static_cast<float>(d);
    if (!std::isfinite(d) || !std::isfinite(f)) fail(path, rule + ", got " + shown(v) + " (beyond float32 range)");
    return f;
  }

  float positive(const Json& v, const std::string& path) const {
    const std::string rule = "must be a finite number > 0";
    const float f = finite_float(v, path, rule);
    if (!(f > 0.0f)) fail(path, rule + ", got " + shown(v));
    return f;
  }

  float in_unit_interval(const Json& v, const std::string& path) const {
    const std::string rule = "must be a number in [0, 1]";
    const float f = finite_float(v, path, rule);
    if (!(f >= 0.0f && f <= 1.0f)) fail(path, rule + ", got " + shown(v));
    return f;
  }

  std::string string(const Json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "must be a string, got " + describe(v));
    std::string s = v.get<std::string>();
    if (s.empty()) fail(path, "must be a non-empty string");
    return s;
  }

  bool boolean(const Json& v, const std::string& path) const {
    if (!v.is_boolean()) fail(path, "must be true or false, got " + describe(v));
    return v.get<bool>();
  }

  template <typename E>
  E enumeration(const Json& v, const std::string& path, const std::vector<std::pair<std::string, E>>& values) const {
    std::vector<std::string> names;
    for (const auto& entry : values) names.push_back("\"" + entry.first + "\"");
    const std::string rule = "must be one of " + join(names, ", ");
    if (!v.is_string()) fail(path, rule + ", got " + describe(v));
    const std::string s = v.get<std::string>();
    for (const auto& entry : values) {
      if (entry.first == s) return entry.second;
    }
    fail(path, rule + ", got " + in_quotes(s));
  }

  // A non-empty list of layer widths, each in [1, kMaxWidth].
  std::vector<int> widths(const Json& v, const std::string& path) const {
    array(v, path);
    if (v.empty()) fail(path, "must be a non-empty array of layer widths");
    if (static_cast<std::int64_t>(v.size()) > kMaxLayers) {
      fail(path, "has " + std::to_string(v.size()) + " layers; at most " + std::to_string(kMaxLayers) + " are allowed");
    }
    std::vector<int> out;
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(integer32(v[i], element(path, i), 1, kMaxWidth));
    return out;
  }

  // Exactly 3 finite positive numbers.
  std::array<float, 3> positive3(const Json& v, const std::string& path, const std::string& what) const {
    array(v, path);
    if (v.size() != 3)
      fail(path, "must be an array of 3 numbers " + what + ", got " + std::to_string(v.size()) + " values");
    std::array<float, 3> out{};
    for (std::size_t i = 0; i < 3; ++i) out[i] = positive(v[i], element(path, i));
    return out;
  }

 private:
  const std::string& file_;
};

// Layer names become weight-name prefixes: an identifier, unique, not "head".
std::string layer_name(const Reader& r, const Json& obj, const std::string& path, std::set<std::string>& used) {
  const std::string p = member(path, "name");
  const std::string name = r.string(r.require(obj, path, "name"), p);
  bool ok = static_cast<std::int64_t>(name.size()) <= kMaxNameLength && !(name[0] >= '0' && name[0] <= '9');
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!ok) {
    r.fail(p, "must be an identifier (letters, digits and '_', not starting with a digit, at most " +
                  std::to_string(kMaxNameLength) + " characters), got " + in_quotes(name));
  }
  if (name == "head") r.fail(p, "\"head\" is reserved for the detection head's weights");
  if (!used.insert(name).second) r.fail(p, "duplicate layer name " + in_quotes(name));
  return name;
}

SamplerConfig parse_sampler(const Reader& r, const Json& v, const std::string& path, std::int64_t input_points,
                            const std::string& input_note) {
  if (!v.is_object()) r.fail(path, "must be an object, got " + describe(v));
  SamplerConfig s;
  const std::string type_path = member(path, "type");
  s.type = r.enumeration<SamplerType>(
      r.require(v, path, "type"), type_path,
      {{"havs", SamplerType::Havs}, {"dfps", SamplerType::Dfps}, {"ctr_topk", SamplerType::CtrTopk}});
  std::vector<std::string> allowed = {"type", "num_samples"};
  if (s.type == SamplerType::Havs) allowed.insert(allowed.end(), {"voxel", "tolerance", "max_iter"});
  if (s.type == SamplerType::CtrTopk) allowed.insert(allowed.end(), {"mlp", "num_scores"});
  r.object(v, path, allowed, std::string("for a \"") + to_string(s.type) + "\" sampler");

  s.num_samples =
      r.integer32(r.require(v, path, "num_samples"), member(path, "num_samples"), 1, input_points, input_note);
  if (s.type == SamplerType::Havs) {
    s.voxel = r.positive3(r.require(v, path, "voxel"), member(path, "voxel"), "(x, y, z) [m]");
    const std::string tp = member(path, "tolerance");
    s.tolerance = r.finite_float(r.require(v, path, "tolerance"), tp, "must be a number in [0, 1]");
    if (!(s.tolerance >= 0.0f && s.tolerance <= 1.0f)) {
      r.fail(tp, "must be a number in [0, 1], got " + shown(v.at("tolerance")));
    }
    s.max_iter = r.integer32(r.require(v, path, "max_iter"), member(path, "max_iter"), 1, kMaxIter);
  }
  if (s.type == SamplerType::CtrTopk) {
    s.mlp = r.widths(r.require(v, path, "mlp"), member(path, "mlp"));
    s.num_scores = r.integer32(r.require(v, path, "num_scores"), member(path, "num_scores"), 1, kMaxWidth);
  }
  return s;
}

std::vector<GrouperConfig> parse_groupers(const Reader& r, const Json& obj, const std::string& path) {
  const std::string gp = member(path, "groupers");
  const Json& list = r.array(r.require(obj, path, "groupers"), gp);
  if (list.empty()) r.fail(gp, "must be a non-empty array of groupers");
  if (static_cast<std::int64_t>(list.size()) > kMaxLayers) {
    r.fail(gp,
           "has " + std::to_string(list.size()) + " groupers; at most " + std::to_string(kMaxLayers) + " are allowed");
  }
  std::vector<GrouperConfig> out;
  for (std::size_t g = 0; g < list.size(); ++g) {
    const std::string p = element(gp, g);
    const Json& v = list[g];
    r.object(v, p, {"radius", "nsample", "mlp"});
    GrouperConfig grouper;
    grouper.radius = r.positive(r.require(v, p, "radius"), member(p, "radius"));
    grouper.nsample = r.integer32(r.require(v, p, "nsample"), member(p, "nsample"), 1, kMaxNsample);
    grouper.mlp = r.widths(r.require(v, p, "mlp"), member(p, "mlp"));
    out.push_back(std::move(grouper));
  }
  return out;
}

QueryType parse_query(const Reader& r, const Json& obj, const std::string& path) {
  return r.enumeration<QueryType>(r.require(obj, path, "query"), member(path, "query"),
                                  {{"ball", QueryType::Ball}, {"grid", QueryType::Grid}});
}

// Tracks the JSON path while parsing so that a repeated key (which nlohmann would silently overwrite) is refused,
// and bounds the nesting depth.
class DuplicateKeyGuard {
 public:
  explicit DuplicateKeyGuard(const Reader& reader) : reader_(reader) {}

  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        if (static_cast<int>(stack_.size()) >= kMaxDepth) {
          reader_.fail(path(), "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        stack_.push_back(Frame{event == E::object_start, {}, {}, 0});
        break;
      case E::key: {
        Frame& top = stack_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second) reader_.fail(path(), "duplicate key");
        break;
      }
      case E::object_end:
      case E::array_end:
        if (!stack_.empty()) stack_.pop_back();
        advance();
        break;
      case E::value:
        advance();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;
    std::size_t index;
  };

  void advance() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
  }

  std::string path() const {
    std::string p;
    for (const Frame& f : stack_) p = f.object ? member(p, f.key) : element(p, f.index);
    return p;
  }

  const Reader& reader_;
  std::vector<Frame> stack_;
};

void check_layer(const IassdConfig& config, int layer) {
  if (layer < 0 || layer >= static_cast<int>(config.sa_layers.size())) {
    pointrt::fail("config " + in_quotes(config.name), "SA layer index " + std::to_string(layer) + " out of range (" +
                                                          std::to_string(config.sa_layers.size()) + " layers)");
  }
}

std::int64_t last_width(const std::vector<GrouperConfig>& groupers) {
  std::int64_t sum = 0;
  for (const GrouperConfig& g : groupers) sum += g.mlp.back();
  return sum;
}

void add_conv(std::vector<WeightSpec>& out, const std::string& prefix, std::int64_t in, std::int64_t width) {
  out.push_back({prefix + ".weight", {width, in}});
  for (const char* part : {".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"}) {
    out.push_back({prefix + part, {width}});
  }
}

void add_linear(std::vector<WeightSpec>& out, const std::string& prefix, std::int64_t in, std::int64_t width) {
  out.push_back({prefix + ".weight", {width, in}});
  out.push_back({prefix + ".bias", {width}});
}

// Conv blocks "<prefix><j>", one per width, chained from `in`; returns the last width.
std::int64_t add_mlp(std::vector<WeightSpec>& out, const std::string& prefix, std::int64_t in,
                     const std::vector<int>& widths) {
  for (std::size_t j = 0; j < widths.size(); ++j) {
    add_conv(out, prefix + std::to_string(j), in, widths[j]);
    in = widths[j];
  }
  return in;
}

void add_sampler(std::vector<WeightSpec>& out, const std::string& layer, const SamplerConfig& s, std::int64_t in) {
  if (s.type != SamplerType::CtrTopk) return;
  const std::int64_t hidden = add_mlp(out, layer + ".sampler.mlp", in, s.mlp);
  add_linear(out, layer + ".sampler.out", hidden, s.num_scores);
}

}  // namespace

const char* to_string(SamplerType type) {
  switch (type) {
    case SamplerType::Havs:
      return "havs";
    case SamplerType::Dfps:
      return "dfps";
    case SamplerType::CtrTopk:
      return "ctr_topk";
  }
  return "?";
}

const char* to_string(QueryType type) { return type == QueryType::Grid ? "grid" : "ball"; }
const char* to_string(EmptyBall mode) { return mode == EmptyBall::FirstPoint ? "first_point" : "zero"; }
const char* to_string(BoxCoder coder) { return coder == BoxCoder::BinOri ? "bin_ori" : "bin_residual"; }

IassdConfig parse_config(const std::string& json_text, const std::string& name) {
  const Reader r(name);
  Json root;
  try {
    DuplicateKeyGuard guard(r);
    root = Json::parse(json_text, std::ref(guard));
  } catch (const Json::exception& e) {
    pointrt::fail(name, std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object()) r.fail("", "must be a JSON object, got " + describe(root));

  IassdConfig c;
  // format and version first: a newer file may have fields this build does not know.
  {
    const Json& format = r.require(root, "", "format");
    if (!format.is_string() || format.get<std::string>() != kConfigFormat) {
      r.fail("format",
             std::string("must be \"") + kConfigFormat + "\" (an IA-SSD model config), got " + describe(format));
    }
    const Json& version = r.require(root, "", "version");
    if (!version.is_number_integer()) r.fail("version", "must be an integer, got " + describe(version));
    const bool newer = version.is_number_unsigned()
                           ? version.get<std::uint64_t>() > static_cast<std::uint64_t>(kConfigVersion)
                           : version.get<std::int64_t>() > kConfigVersion;
    if (newer) {
      r.fail("version", "written by a newer pointrt (config version " + version.dump() + "; this build reads version " +
                            std::to_string(kConfigVersion) + ")");
    }
    if (version.get<std::int64_t>() < 1) {
      r.fail("version", "must be " + std::to_string(kConfigVersion) + ", got " + version.dump());
    }
    c.version = static_cast<int>(version.get<std::int64_t>());
  }
  r.object(root, "",
           {"format", "version", "name", "classes", "input", "sa_layers", "vote", "vote_sa", "head", "empty_ball",
            "post", "batchnorm_eps"});
  c.name = r.string(r.require(root, "", "name"), "name");

  // classes
  {
    const Json& list = r.array(r.require(root, "", "classes"), "classes");
    if (list.empty()) r.fail("classes", "must be a non-empty array of class names");
    if (static_cast<std::int64_t>(list.size()) > kMaxClasses) {
      r.fail("classes", "has " + std::to_string(list.size()) + " classes; at most " + std::to_string(kMaxClasses) +
                            " are allowed");
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string p = element("classes", i);
      std::string cls = r.string(list[i], p);
      for (const std::string& seen : c.classes) {
        if (seen == cls) r.fail(p, "duplicate class name " + in_quotes(cls));
      }
      c.classes.push_back(std::move(cls));
    }
  }

  // input
  {
    const std::string p = "input";
    const Json& v = r.require(root, "", p);
    r.object(v, p, {"num_points", "features", "point_cloud_range", "crop_z"});
    c.input.num_points = r.integer32(r.require(v, p, "num_points"), "input.num_points", 1, kMaxPoints);
    const Json& features = r.array(r.require(v, p, "features"), "input.features");
    if (static_cast<std::int64_t>(features.size()) > kMaxWidth) r.fail("input.features", "has too many features");
    for (std::size_t i = 0; i < features.size(); ++i) {
      const std::string fp = element("input.features", i);
      std::string f = r.string(features[i], fp);
      for (const std::string& seen : c.input.features) {
        if (seen == f) r.fail(fp, "duplicate feature " + in_quotes(f));
      }
      c.input.features.push_back(std::move(f));
    }
    const Json& range = r.array(r.require(v, p, "point_cloud_range"), "input.point_cloud_range");
    if (range.size() != 6) {
      r.fail("input.point_cloud_range",
             "must be an array of 6 numbers [x_min, y_min, z_min, x_max, y_max, z_max], got " +
                 std::to_string(range.size()) + " values");
    }
    for (std::size_t i = 0; i < 6; ++i) {
      c.input.point_cloud_range[i] =
          r.finite_float(range[i], element("input.point_cloud_range", i), "must be a finite number");
    }
    static const char* const kAxis[3] = {"x", "y", "z"};
    for (std::size_t a = 0; a < 3; ++a) {
      const float lo = c.input.point_cloud_range[a];
      const float hi = c.input.point_cloud_range[a + 3];
      if (lo > hi) {
        r.fail("input.point_cloud_range", std::string(kAxis[a]) + "_min " + shown(range[a]) + " is greater than " +
                                              kAxis[a] + "_max " + shown(range[a + 3]));
      }
    }
    c.input.crop_z = r.boolean(r.require(v, p, "crop_z"), "input.crop_z");
  }

  std::set<std::string> layer_names;
  // sa_layers
  {
    const Json& list = r.array(r.require(root, "", "sa_layers"), "sa_layers");
    if (list.empty()) r.fail("sa_layers", "must be a non-empty array of set-abstraction layers");
    if (static_cast<std::int64_t>(list.size()) > kMaxLayers) {
      r.fail("sa_layers",
             "has " + std::to_string(list.size()) + " layers; at most " + std::to_string(kMaxLayers) + " are allowed");
    }
    std::int64_t points = c.input.num_points;
    std::string note = "(the points entering the first SA layer, input.num_points)";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string p = element("sa_layers", i);
      const Json& v = list[i];
      r.object(v, p, {"name", "sampler", "groupers", "query", "aggregation"});
      SaLayerConfig layer;
      layer.name = layer_name(r, v, p, layer_names);
      layer.sampler = parse_sampler(r, r.require(v, p, "sampler"), member(p, "sampler"), points, note);
      layer.groupers = parse_groupers(r, v, p);
      layer.query = parse_query(r, v, p);
      if (layer.query == QueryType::Grid && layer.sampler.type != SamplerType::Havs) {
        r.fail(member(p, "query"),
               std::string("\"grid\" needs a \"havs\" sampler in the same layer (sampler.type is \"") +
                   to_string(layer.sampler.type) + "\")");
      }
      layer.aggregation = r.integer32(r.require(v, p, "aggregation"), member(p, "aggregation"), 0, kMaxWidth,
                                      "(0 = no aggregation layer)");
      points = layer.sampler.num_samples;
      note = "(the points " + layer.name + " produces)";
      c.sa_layers.push_back(std::move(layer));
    }
  }

  // vote
  {
    const std::string p = "vote";
    const Json& v = r.require(root, "", p);
    r.object(v, p, {"name", "sampler", "offset_mlp", "max_translation"});
    c.vote.name = layer_name(r, v, p, layer_names);
    const SaLayerConfig& last = c.sa_layers.back();
    c.vote.sampler = parse_sampler(r, r.require(v, p, "sampler"), "vote.sampler", last.sampler.num_samples,
                                   "(the points " + last.name + " produces)");
    c.vote.offset_mlp = r.widths(r.require(v, p, "offset_mlp"), "vote.offset_mlp");
    c.vote.max_translation = r.positive3(r.require(v, p, "max_translation"), "vote.max_translation", "(x, y, z) [m]");
  }

  // vote_sa
  {
    const std::string p = "vote_sa";
    const Json& v = r.require(root, "", p);
    r.object(v, p, {"name", "groupers", "query"});
    c.vote_sa.name = layer_name(r, v, p, layer_names);
    c.vote_sa.groupers = parse_groupers(r, v, p);
    c.vote_sa.query = parse_query(r, v, p);
    if (c.vote_sa.query == QueryType::Grid) {
      r.fail("vote_sa.query", "\"grid\" needs a \"havs\" sampler in the same layer, and vote_sa has no sampler");
    }
  }

  // head
  {
    const std::string p = "head";
    const Json& v = r.require(root, "", p);
    r.object(v, p, {"shared_fc", "cls_fc", "reg_fc", "num_heading_bins", "box_coder", "mean_size"});
    c.head.shared_fc = r.widths(r.require(v, p, "shared_fc"), "head.shared_fc");
    c.head.cls_fc = r.widths(r.require(v, p, "cls_fc"), "head.cls_fc");
    c.head.reg_fc = r.widths(r.require(v, p, "reg_fc"), "head.reg_fc");
    c.head.num_heading_bins =
        r.integer32(r.require(v, p, "num_heading_bins"), "head.num_heading_bins", 1, kMaxHeadingBins);
    c.head.box_coder =
        r.enumeration<BoxCoder>(r.require(v, p, "box_coder"), "head.box_coder",
                                {{"bin_residual", BoxCoder::BinResidual}, {"bin_ori", BoxCoder::BinOri}});
    const Json& sizes = r.array(r.require(v, p, "mean_size"), "head.mean_size");
    if (sizes.size() != c.classes.size()) {
      r.fail("head.mean_size", "must have one row per class (" + std::to_string(c.classes.size()) + " classes), got " +
                                   std::to_string(sizes.size()) + " rows");
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      c.head.mean_size.push_back(r.positive3(sizes[i], element("head.mean_size", i), "(dx, dy, dz) [m]"));
    }
  }

  c.empty_ball = r.enumeration<EmptyBall>(r.require(root, "", "empty_ball"), "empty_ball",
                                          {{"zero", EmptyBall::Zero}, {"first_point", EmptyBall::FirstPoint}});

  // post
  {
    const std::string p = "post";
    const Json& v = r.require(root, "", p);
    r.object(v, p, {"score_threshold", "iou_threshold", "max_out", "pre_max"});
    c.post.score_threshold = r.in_unit_interval(r.require(v, p, "score_threshold"), "post.score_threshold");
    c.post.iou_threshold = r.in_unit_interval(r.require(v, p, "iou_threshold"), "post.iou_threshold");
    c.post.max_out = r.integer32(r.require(v, p, "max_out"), "post.max_out", 1, kMaxPoints);
    c.post.pre_max = r.integer32(r.require(v, p, "pre_max"), "post.pre_max", 0, kMaxPoints);
  }

  c.batchnorm_eps = r.positive(r.require(root, "", "batchnorm_eps"), "batchnorm_eps");
  return c;
}

IassdConfig load_config(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) pointrt::fail(path, "no such file");
  if (fs::is_directory(status)) pointrt::fail(path, "is a directory, not a file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) pointrt::fail(path, "cannot read the file size: " + ec.message());
  if (size > kMaxFileBytes) {
    pointrt::fail(path, "file is " + std::to_string(size) + " bytes; a model config is at most 16 MiB");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) pointrt::fail(path, std::string("cannot open the file: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) pointrt::fail(path, "could not read the file");
  return parse_config(text.str(), path);
}

std::int64_t num_classes(const IassdConfig& config) { return static_cast<std::int64_t>(config.classes.size()); }

std::int64_t input_feature_channels(const IassdConfig& config) {
  return static_cast<std::int64_t>(config.input.features.size());
}

std::int64_t sa_input_points(const IassdConfig& config, int layer) {
  check_layer(config, layer);
  return layer == 0 ? config.input.num_points
                    : config.sa_layers[static_cast<std::size_t>(layer) - 1].sampler.num_samples;
}

std::int64_t sa_input_channels(const IassdConfig& config, int layer) {
  check_layer(config, layer);
  return layer == 0 ? input_feature_channels(config) : sa_output_channels(config, layer - 1);
}

std::int64_t sa_grouper_input_channels(const IassdConfig& config, int layer) {
  return 3 + sa_input_channels(config, layer);
}

std::int64_t sa_concat_channels(const IassdConfig& config, int layer) {
  check_layer(config, layer);
  return last_width(config.sa_layers[static_cast<std::size_t>(layer)].groupers);
}

std::int64_t sa_output_channels(const IassdConfig& config, int layer) {
  check_layer(config, layer);
  const SaLayerConfig& l = config.sa_layers[static_cast<std::size_t>(layer)];
  return l.aggregation > 0 ? l.aggregation : sa_concat_channels(config, layer);
}

std::int64_t vote_input_channels(const IassdConfig& config) {
  return sa_output_channels(config, static_cast<int>(config.sa_layers.size()) - 1);
}

std::int64_t vote_sa_grouper_input_channels(const IassdConfig& config) { return 3 + vote_input_channels(config); }

std::int64_t head_input_channels(const IassdConfig& config) { return last_width(config.vote_sa.groupers); }

std::int64_t reg_code_size(const IassdConfig& config) { return 6 + 2 * std::int64_t{config.head.num_heading_bins}; }

std::vector<WeightSpec> expected_weights(const IassdConfig& config) {
  std::vector<WeightSpec> out;
  for (std::size_t i = 0; i < config.sa_layers.size(); ++i) {
    const SaLayerConfig& layer = config.sa_layers[i];
    const int index = static_cast<int>(i);
    add_sampler(out, layer.name, layer.sampler, sa_input_channels(config, index));
    const std::int64_t in = sa_grouper_input_channels(config, index);
    for (std::size_t g = 0; g < layer.groupers.size(); ++g) {
      add_mlp(out, layer.name + ".grouper" + std::to_string(g) + ".mlp", in, layer.groupers[g].mlp);
    }
    if (layer.aggregation > 0)
      add_conv(out, layer.name + ".aggregation", sa_concat_channels(config, index), layer.aggregation);
  }

  const std::int64_t vote_in = vote_input_channels(config);
  add_sampler(out, config.vote.name, config.vote.sampler, vote_in);
  const std::int64_t offset_hidden = add_mlp(out, config.vote.name + ".offset.mlp", vote_in, config.vote.offset_mlp);
  add_linear(out, config.vote.name + ".offset.out", offset_hidden, 3);

  const std::int64_t vote_sa_in = vote_sa_grouper_input_channels(config);
  for (std::size_t g = 0; g < config.vote_sa.groupers.size(); ++g) {
    add_mlp(out, config.vote_sa.name + ".grouper" + std::to_string(g) + ".mlp", vote_sa_in,
            config.vote_sa.groupers[g].mlp);
  }

  const std::int64_t shared = add_mlp(out, "head.shared_fc", head_input_channels(config), config.head.shared_fc);
  const std::int64_t cls_hidden = add_mlp(out, "head.cls.mlp", shared, config.head.cls_fc);
  add_linear(out, "head.cls.out", cls_hidden, num_classes(config));
  const std::int64_t reg_hidden = add_mlp(out, "head.reg.mlp", shared, config.head.reg_fc);
  add_linear(out, "head.reg.out", reg_hidden, reg_code_size(config));
  return out;
}

}  // namespace pointrt::models::iassd
