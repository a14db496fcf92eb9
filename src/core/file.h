// Whole-file reads with the same checks and messages everywhere (point clouds, labels, weights, plans).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pointrt::core {

// Reads a whole file; throws Error naming the file when it is missing, a directory, unreadable, larger than
// 2 GiB, or (unless allow_empty) empty.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, bool allow_empty = false);

}  // namespace pointrt::core
