#include "core/file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "pointrt/error.h"

namespace pointrt::core {

namespace {
// Files larger than this are refused before they are read (a 64-beam scan is about 2 MB).
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{2} << 30;
}  // namespace

std::vector<std::uint8_t> read_file_bytes(const std::string& path, bool allow_empty) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) fail(path, "no such file");
  if (fs::is_directory(status)) fail(path, "is a directory, not a file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read the file size: " + ec.message());
  if (size == 0 && !allow_empty) fail(path, "empty file (0 bytes)");
  if (size > kMaxFileBytes) fail(path, "file is " + std::to_string(size) + " bytes; files larger than 2 GiB are refused");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open the file: ") + std::strerror(errno));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) fail(path, "could not read the whole file");
  return bytes;
}

}  // namespace pointrt::core
