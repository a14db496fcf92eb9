#include "io/file_util.h"

#include "core/file.h"


#include "pointrt/error.h"

namespace pointrt::io {

std::string read_text_file(const std::string& path) {
  const std::vector<std::uint8_t> bytes = core::read_file_bytes(path, /*allow_empty=*/true);
  return std::string(bytes.begin(), bytes.end());
}

std::vector<std::string_view> split_whitespace(std::string_view text) {
  std::vector<std::string_view> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) tokens.push_back(text.substr(start, i - start));
  }
  return tokens;
}

}  // namespace pointrt::io
