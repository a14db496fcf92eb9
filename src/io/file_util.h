// Internal helpers shared by the readers: whole-file reads with the same checks and messages everywhere, and
// whitespace tokenising.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pointrt::io {

// Reads a whole file; throws Error naming the file when it is missing, a directory, unreadable, larger than
// 2 GiB, or (unless allow_empty) empty.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, bool allow_empty = false);
// The same for text files, which may be empty (a KITTI label file of a frame without objects).
std::string read_text_file(const std::string& path);

// Space, tab, CR, LF, VT, FF.
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
// The whitespace-separated tokens of `text` (views into it: keep `text` alive while they are used).
std::vector<std::string_view> split_whitespace(std::string_view text);

}  // namespace pointrt::io
