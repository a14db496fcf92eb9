// Host parallelism for the CPU executor and the CPU operator references.
//
// parallel_for(n, fn) calls fn(begin, end) on disjoint, contiguous chunks covering [0, n), on up to
// cpu_threads() threads (the calling thread takes part). Chunks are fixed by n and the thread count alone, and each
// index is handled by exactly one call, so code whose per-index work is independent gives identical results
// whatever the thread count. The first exception thrown by any chunk is rethrown in the caller after all finish.
#pragma once

#include <cstdint>
#include <functional>

namespace pointrt::core {

// Threads the CPU code uses: set_cpu_threads(n) if called with n > 0, else $POINTRT_THREADS if set, else
// std::thread::hardware_concurrency() (at least 1).
int cpu_threads();
// Sets the thread count (0 restores the default above). Not meant to be called while work is running.
void set_cpu_threads(int threads);

// Runs fn over [0, n) as described above; chunks are at least `grain` indices long (except the last).
void parallel_for(std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& fn,
                  std::int64_t grain = 1);

}  // namespace pointrt::core
