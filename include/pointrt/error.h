// pointrt — errors.
//
// Every failure pointrt reports is a pointrt::Error. Its message names the input it is about (a file, a layer, a
// tensor) and the reason, e.g. "data/000003.bin: size 1000 bytes is not a multiple of the 16-byte KITTI record".
#pragma once

#include <stdexcept>
#include <string>

namespace pointrt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error("<subject>: <reason>").
[[noreturn]] void fail(const std::string& subject, const std::string& reason);

}  // namespace pointrt
