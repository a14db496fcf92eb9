// CUDA executor: the operators' kernels over one device arena, enqueued on a stream without host synchronisation
// or allocation. Outside profiling mode each batch size is captured once into a CUDA graph and replayed.
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/cuda_utils.h"
#include "core/gpu.h"
#include "engine/executor.h"
#include "ops/group/group.h"
#include "ops/mlp/mlp.h"
#include "ops/split/split.h"

namespace pointrt::engine {
namespace {

std::string current_arch(std::string* name) {
  int dev = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  POINTRT_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  if (name != nullptr) *name = prop.name;
  return "sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
}

class CudaExecutor final : public Executor {
 public:
  CudaExecutor(const PlanData& plan, const ExecutorOptions& options)
      : plan_(plan), options_(options), layers_(bind_layers(plan.net)) {
    // POINTRT_CUDA_SYNC=1 synchronises after every launch, which is illegal inside a graph capture.
    if (const char* sync = std::getenv("POINTRT_CUDA_SYNC"); sync != nullptr && std::string(sync) == "1") {
      options_.use_graph = false;
    }
    arena_ = core::DeviceBuffer(static_cast<std::size_t>(std::max<std::int64_t>(plan.memory.arena_bytes, 256)));
    // weights: one block, 256-byte aligned each, uploaded once
    std::size_t total = 0;
    for (const auto& w : plan.net.weights) total += ops::align_up(w.value.nbytes());
    weight_buffer_ = core::DeviceBuffer(std::max<std::size_t>(total, 256));
    std::size_t at = 0;
    for (const auto& w : plan.net.weights) {
      char* dst = weight_buffer_.as<char>() + at;
      POINTRT_CUDA_CHECK(cudaMemcpy(dst, w.value.data(), w.value.nbytes(), cudaMemcpyHostToDevice));
      weights_.push_back(Tensor::view(dst, w.value.shape(), w.value.dtype(), Device::CUDA));
      at += ops::align_up(w.value.nbytes());
    }
    weight_bytes_ = static_cast<std::int64_t>(total);
    for (auto& bl : layers_) bl.dense = dense_layers(*bl.layer, weights_);  // device views, built once
    // one workspace per lane (layers of different lanes may run at the same time)
    spans_ = parallel_spans(plan.net);
    std::size_t lane_bytes[kMaxLanes] = {};
    for (int b = 1; b <= plan.max_batch; ++b) {
      for (const auto& bl : layers_) {
        const int lane = bl.layer->lane;
        lane_bytes[lane] = std::max(lane_bytes[lane], workspace_for(bl, b));
      }
    }
    for (int lane = 0; lane < kMaxLanes; ++lane) {
      lane_offset_[lane] = workspace_bytes_;
      lane_size_[lane] = lane_bytes[lane];
      workspace_bytes_ += ops::align_up(lane_bytes[lane]);
    }
    if (workspace_bytes_ > 0) workspace_ = core::DeviceBuffer(workspace_bytes_);
    for (int lane = 1; lane < kMaxLanes; ++lane) {
      lane_streams_.emplace_back();
      cudaEvent_t e = nullptr;
      POINTRT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      join_events_.push_back(e);
    }
    POINTRT_CUDA_CHECK(cudaEventCreateWithFlags(&fork_event_, cudaEventDisableTiming));
    errors_ = core::DeviceBuffer(layers_.size() * 4 * sizeof(std::int32_t) + 256);
    POINTRT_CUDA_CHECK(cudaMemset(errors_.get(), 0, errors_.size()));
    for (std::size_t l = 0; l <= layers_.size(); ++l) events_.emplace_back();
    override_plan_ = &plan;
    POINTRT_CUDA_CHECK(cudaDeviceSynchronize());
  }

  ~CudaExecutor() override {
    for (auto& [b, exec] : graphs_) cudaGraphExecDestroy(exec);
    for (cudaEvent_t e : join_events_) cudaEventDestroy(e);
    if (fork_event_ != nullptr) cudaEventDestroy(fork_event_);
  }

  void run(int batch, const Tensor& points, Tensor& boxes, Tensor& scores, Tensor& nums, void* stream) override {
    check_io(plan_, batch, points, boxes, scores, nums, Device::CUDA);
    cudaStream_t s = stream != nullptr ? static_cast<cudaStream_t>(stream) : own_stream_.get();
    last_stream_ = s;
    Tensor in = view(plan_.net.input, batch);
    POINTRT_CUDA_CHECK(cudaMemcpyAsync(in.data(), points.data(), points.nbytes(), cudaMemcpyDeviceToDevice, s));
    if (options_.profile) {
      for (std::size_t l = 0; l < layers_.size(); ++l) {
        events_[l].record(s);
        nvtxRangePushA(layers_[l].layer->name.c_str());
        run_layer(layers_[l], batch, s);
        nvtxRangePop();
      }
      events_.back().record(s);
      profiled_ = true;
    } else if (options_.use_graph && overrides_.empty()) {
      auto it = graphs_.find(batch);
      if (it == graphs_.end()) {
        cudaGraph_t graph = nullptr;
        POINTRT_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        try {
          run_all(batch, s);
        } catch (...) {
          cudaStreamEndCapture(s, &graph);
          if (graph != nullptr) cudaGraphDestroy(graph);
          throw;
        }
        POINTRT_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
        cudaGraphExec_t exec = nullptr;
        const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        POINTRT_CUDA_CHECK(err);
        it = graphs_.emplace(batch, exec).first;
      }
      POINTRT_CUDA_CHECK(cudaGraphLaunch(it->second, s));
    } else {
      run_all(batch, s);
    }
    copy_out(view(plan_.net.outputs[0], batch), boxes, s);
    copy_out(view(plan_.net.outputs[1], batch), scores, s);
    copy_out(view(plan_.net.outputs[2], batch), nums, s);
  }

  std::vector<double> finish() override {
    cudaStream_t s = last_stream_ != nullptr ? last_stream_ : own_stream_.get();
    POINTRT_CUDA_CHECK(cudaStreamSynchronize(s));
    check_errors();
    if (!options_.profile || !profiled_) return {};
    std::vector<double> times(layers_.size());
    for (std::size_t l = 0; l < layers_.size(); ++l) times[l] = events_[l + 1].elapsed_ms_since(events_[l]);
    return times;
  }

  Tensor read_tensor(const std::string& name, int batch) override {
    const int id = plan_.net.tensor_id(name);
    if (id < 0) fail(plan_.net.name, "no tensor named '" + name + "'");
    finish();
    return view(id, batch).to(Device::Host);
  }

  MemoryStats memory() const override {
    MemoryStats m;
    m.arena_bytes = plan_.memory.arena_bytes;
    m.workspace_bytes = static_cast<std::int64_t>(workspace_bytes_);
    m.weight_bytes = weight_bytes_;
    m.io_bytes = static_cast<std::int64_t>(errors_.size());
    return m;
  }
  Device device() const override { return Device::CUDA; }

 private:
  Tensor view(int id, int batch) { return arena_view(plan_, arena_.get(), Device::CUDA, id, batch); }
  Tensor in(const BoundLayer& b, std::size_t i, int batch) { return view(b.layer->inputs[i], batch); }
  Tensor out(const BoundLayer& b, std::size_t i, int batch) { return view(b.layer->outputs[i], batch); }
  Tensor error_slot(std::size_t layer) {
    return Tensor::view(errors_.as<std::int32_t>() + layer * 4, {4}, DType::I32, Device::CUDA);
  }
  static void copy_out(const Tensor& src, Tensor& dst, cudaStream_t s) {
    POINTRT_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.nbytes(), cudaMemcpyDeviceToDevice, s));
  }

  std::size_t workspace_for(const BoundLayer& b, int batch) const {
    const Layer& L = *b.layer;
    auto dim0 = [&](int id) { return plan_.net.tensors.at(static_cast<std::size_t>(id)).shape.at(0); };
    switch (L.kind) {
      case LayerKind::Havs: return ops::havs_workspace_bytes(batch, dim0(L.inputs[0]), b.havs.sample_num);
      case LayerKind::Fps: return ops::fps_workspace_bytes(batch, dim0(L.inputs[0]), b.fps);
      case LayerKind::TopK: return ops::topk_sample_workspace_bytes(batch, dim0(L.inputs[0]), b.topk);
      case LayerKind::Gather: return ops::gather_points_workspace_bytes();
      case LayerKind::BallQuery: return ops::ball_query_workspace_bytes(batch, dim0(L.inputs[0]), dim0(L.inputs[1]), b.ball);
      case LayerKind::GridBallQuery:
        return ops::grid_ball_query_workspace_bytes(batch, dim0(L.inputs[0]), dim0(L.inputs[1]), b.grid);
      case LayerKind::SaMlp: {
        const auto& idx = plan_.net.tensors.at(static_cast<std::size_t>(L.inputs[3]));
        return ops::sa_mlp_workspace_bytes(batch, idx.shape[0], idx.shape[1], b.dense);
      }
      case LayerKind::Mlp: return ops::mlp_workspace_bytes(batch * dim0(L.inputs[0]), b.dense);
      case LayerKind::Nms: return ops::nms_bev_workspace_bytes(batch, dim0(L.inputs[0]), b.nms);
      default: return 0;
    }
  }

  // Every layer in order; a parallel block forks its lanes > 0 onto the lane streams and joins them at its end.
  void run_all(int batch, cudaStream_t s) {
    const int n = static_cast<int>(layers_.size());
    for (int l = 0; l < n;) {
      const auto [b0, b1] = spans_[static_cast<std::size_t>(l)];
      if (b0 == b1) {
        run_layer(layers_[static_cast<std::size_t>(l)], batch, s);
        l = b1 + 1;
        continue;
      }
      bool used[kMaxLanes] = {};
      for (int k = b0; k <= b1; ++k) used[layers_[static_cast<std::size_t>(k)].layer->lane] = true;
      POINTRT_CUDA_CHECK(cudaEventRecord(fork_event_, s));
      for (int lane = 1; lane < kMaxLanes; ++lane) {
        if (used[lane]) POINTRT_CUDA_CHECK(cudaStreamWaitEvent(lane_streams_[static_cast<std::size_t>(lane - 1)].get(), fork_event_, 0));
      }
      for (int k = b0; k <= b1; ++k) {
        const BoundLayer& bl = layers_[static_cast<std::size_t>(k)];
        const int lane = bl.layer->lane;
        run_layer(bl, batch, lane == 0 ? s : lane_streams_[static_cast<std::size_t>(lane - 1)].get());
      }
      for (int lane = 1; lane < kMaxLanes; ++lane) {
        if (!used[lane]) continue;
        cudaEvent_t e = join_events_[static_cast<std::size_t>(lane - 1)];
        POINTRT_CUDA_CHECK(cudaEventRecord(e, lane_streams_[static_cast<std::size_t>(lane - 1)].get()));
        POINTRT_CUDA_CHECK(cudaStreamWaitEvent(s, e, 0));
      }
      l = b1 + 1;
    }
  }

  void run_layer(const BoundLayer& b, int batch, cudaStream_t s) {
    run_layer_only(b, batch, s);
    for (const auto& [id, values] : overrides_) {
      for (int out : b.layer->outputs) {
        if (out != id || values.dim(0) != batch) continue;
        Tensor dst = view(id, batch);
        // ordered on the layer's stream; `values` outlives the run (held by overrides_)
        POINTRT_CUDA_CHECK(cudaMemcpyAsync(dst.data(), values.data(), values.nbytes(), cudaMemcpyHostToDevice, s));
      }
    }
  }

  void run_layer_only(const BoundLayer& b, int batch, cudaStream_t s) {
    const Layer& L = *b.layer;
    const std::size_t li = static_cast<std::size_t>(&b - layers_.data());
    void* ws = workspace_.get() == nullptr ? nullptr : workspace_.as<char>() + lane_offset_[L.lane];
    const std::size_t wsb = lane_size_[L.lane];
    auto stream = reinterpret_cast<ops::StreamHandle>(s);
    switch (L.kind) {
      case LayerKind::Split: {
        Tensor xyz = out(b, 0, batch), features;
        if (L.outputs.size() > 1) features = out(b, 1, batch);
        ops::split_cuda(in(b, 0, batch), xyz, L.outputs.size() > 1 ? &features : nullptr, stream);
        break;
      }
      case LayerKind::Havs: {
        Tensor i = out(b, 0, batch), v = out(b, 1, batch), n = out(b, 2, batch);
        ops::havs_cuda(in(b, 0, batch), b.havs, i, v, n, ws, wsb, stream);
        break;
      }
      case LayerKind::Fps: {
        Tensor i = out(b, 0, batch);
        ops::fps_cuda(in(b, 0, batch), i, b.fps, ws, wsb, stream);
        break;
      }
      case LayerKind::TopK: {
        Tensor i = out(b, 0, batch);
        ops::topk_sample_cuda(in(b, 0, batch), i, b.topk, ws, wsb, stream);
        break;
      }
      case LayerKind::Gather: {
        Tensor o = out(b, 0, batch), e = error_slot(li);
        ops::gather_points_cuda(in(b, 0, batch), in(b, 1, batch), o, e, ws, wsb, stream);
        break;
      }
      case LayerKind::BallQuery: {
        Tensor cnt = out(b, 0, batch), idx = out(b, 1, batch);
        ops::ball_query_cuda(in(b, 0, batch), in(b, 1, batch), b.ball, cnt, idx, ws, wsb, stream);
        break;
      }
      case LayerKind::GridBallQuery: {
        Tensor cnt = out(b, 0, batch), idx = out(b, 1, batch);
        ops::grid_ball_query_cuda(in(b, 0, batch), in(b, 1, batch), in(b, 2, batch), b.grid, cnt, idx, ws, wsb, stream);
        break;
      }
      case LayerKind::SaMlp: {
        Tensor features;
        const bool has_features = L.inputs[1] >= 0;
        if (has_features) features = in(b, 1, batch);
        Tensor o = out(b, 0, batch), e = error_slot(li);
        ops::sa_mlp_cuda(in(b, 0, batch), has_features ? &features : nullptr, in(b, 2, batch), in(b, 3, batch),
                         in(b, 4, batch), b.dense, o, b.sa, e, ws, wsb, stream);
        break;
      }
      case LayerKind::Mlp: {
        Tensor x = in(b, 0, batch), o = out(b, 0, batch);
        Tensor x2 = x.reshape({x.dim(0) * x.dim(1), x.dim(2)});
        Tensor o2 = o.reshape({o.dim(0) * o.dim(1), o.dim(2)});
        ops::mlp_cuda(x2, b.dense, o2, ws, wsb, stream);
        break;
      }
      case LayerKind::Vote: {
        Tensor o = out(b, 0, batch);
        ops::vote_cuda(in(b, 0, batch), in(b, 1, batch), o, b.vote, stream);
        break;
      }
      case LayerKind::BoxDecode: {
        Tensor bx = out(b, 0, batch), sc = out(b, 1, batch);
        ops::box_decode_cuda(in(b, 0, batch), in(b, 1, batch), in(b, 2, batch), bx, sc, b.decode, stream);
        break;
      }
      case LayerKind::Nms: {
        Tensor bx = out(b, 0, batch), sc = out(b, 1, batch), n = out(b, 2, batch);
        ops::nms_bev_cuda(in(b, 0, batch), in(b, 1, batch), bx, sc, n, b.nms, ws, wsb, stream);
        break;
      }
    }
  }

  void check_errors() {
    std::vector<std::int32_t> host(layers_.size() * 4);
    POINTRT_CUDA_CHECK(cudaMemcpy(host.data(), errors_.get(), host.size() * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      if (host[l * 4] != 0) {
        fail(plan_.net.name + ": layer '" + layers_[l].layer->name + "'",
             "out-of-range neighbour index at (b, m, k) = (" + std::to_string(host[l * 4 + 1]) + ", " +
                 std::to_string(host[l * 4 + 2]) + ", " + std::to_string(host[l * 4 + 3]) + ")");
      }
    }
  }

  const PlanData& plan_;
  ExecutorOptions options_;
  std::vector<BoundLayer> layers_;
  core::DeviceBuffer arena_, weight_buffer_, workspace_, errors_;
  std::vector<Tensor> weights_;
  std::int64_t weight_bytes_ = 0;
  std::size_t workspace_bytes_ = 0;
  core::Stream own_stream_;
  cudaStream_t last_stream_ = nullptr;
  std::vector<core::Event> events_;
  bool profiled_ = false;
  std::map<int, cudaGraphExec_t> graphs_;
  std::vector<std::pair<int, int>> spans_;
  std::size_t lane_offset_[kMaxLanes] = {};
  std::size_t lane_size_[kMaxLanes] = {};
  std::vector<core::Stream> lane_streams_;
  std::vector<cudaEvent_t> join_events_;
  cudaEvent_t fork_event_ = nullptr;
};

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(const PlanData& plan, const ExecutorOptions& options) {
  if (plan.target != PlanTarget::CUDA) {
    fail(plan.net.name, std::string("this plan was built for ") + plan_target_name(plan.target) +
                            ", not CUDA; build one with `pointrt build --device cuda`");
  }
  const std::string why = core::cuda_unavailable_reason();
  if (!why.empty()) fail(plan.net.name, "cannot run a CUDA plan: " + why);
  core::cuda_check_kernel_image();
  std::string name;
  const std::string arch = current_arch(&name);
  if (arch != plan.arch) {
    fail(plan.net.name, "plan was built for " + plan.arch + " (" + plan.device_name + "), this GPU is " + name + " (" +
                            arch + "); rebuild the plan on this GPU");
  }
  return std::make_unique<CudaExecutor>(plan, options);
}

std::string cuda_device_arch(std::string* name) { return current_arch(name); }

}  // namespace pointrt::engine
