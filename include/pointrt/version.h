// pointrt — version information.
#pragma once

#include <string>

namespace pointrt {

// "MAJOR.MINOR.PATCH" of this build of pointrt.
const char* version();

// One line describing the build: version, build type, whether CUDA was compiled in and for which architectures.
std::string build_info();

}  // namespace pointrt
