#include "pointrt/error.h"

namespace pointrt {

void fail(const std::string& subject, const std::string& reason) { throw Error(subject + ": " + reason); }

}  // namespace pointrt
