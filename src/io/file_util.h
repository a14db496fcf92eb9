// Internal helpers shared by the readers: text-file reads and whitespace tokenising.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pointrt::io {

// Reads a whole text file (core::read_file_bytes's checks), which may be empty (a KITTI label file of a frame
// without objects).
std::string read_text_file(const std::string& path);

// Space, tab, CR, LF, VT, FF.
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
// The whitespace-separated tokens of `text` (views into it: keep `text` alive while they are used).
std::vector<std::string_view> split_whitespace(std::string_view text);

}  // namespace pointrt::io
