#include "ops/bench_util.h"

#include <cstdlib>
#include <cstring>

namespace pointrt::bench {

std::string shared_data_dir() {
  const char* env = std::getenv("POINTRT_SHARED_DATA");
  return env != nullptr ? env : POINTRT_SHARED_DATA_DIR;
}

Tensor kitti_points(int batch, std::size_t n) {
  const std::string dir = shared_data_dir();
  Tensor out = Tensor::empty({batch, static_cast<std::int64_t>(n), 4}, DType::F32);
  for (int b = 0; b < batch; ++b) {
    const std::string path = dir + "/kitti/training/velodyne_reduced/00000" + std::to_string(b % 6) + ".bin";
    PreprocessOptions o;
    o.num_points = n;
    o.seed = 0x5eed + static_cast<std::uint64_t>(b / 6);
    const PreparedPoints p = preprocess(read_point_cloud(path), o);
    std::memcpy(out.data_as<float>() + static_cast<std::size_t>(b) * n * 4, p.values.data(), n * 4 * sizeof(float));
  }
  return out;
}

}  // namespace pointrt::bench
